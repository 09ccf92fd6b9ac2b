"""A parse that reads ``ok`` from the tags alone gives the same results as a full parse.

``try_parse`` leaves a result's structure (output, error, deviations) to be built on
first read when the text's tags decide ``ok`` by themselves: the grammar lets boxes
stand anywhere (``Grammar.boxes_anywhere``, proved on its LALR tables) and no box in
the text could hide a tag (``Scanner.tags_alone``). These tests force that path and
compare every part of the result with the full parse, on random text built to break
it (tags inside JSON labels, tags spelt like the tagged boxes' delimiters, unclosed
braces), on the benchmark corpus and with renamed tags; they check that the proof
rejects a grammar where a box does change ``ok``; and that the parser's choice
between the two paths (it parses in full when nearly every structure gets read)
never changes a result.
"""

from __future__ import annotations

import copy
import os
import pickle
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gritkit
from gritkit import parsing
from gritkit.grammar import (BOX_SYNTAX, Grammar, _build_lark, _derive, _read, box_transparent,
                             load_grammar)
from gritkit.lexer import Scanner
from gritkit.models import PENDING

HERE = os.path.dirname(os.path.abspath(__file__))
GRAMMARS = ["grit", "r1", "grit[think=thinking]", "grit[think=box]", "r1[answer=ref]"]

FRAGMENTS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>", "<thinking>",
             "</thinking>", "<box>", "</box>", "<ref>", "</ref>", "<|box_start|>", "<|box_end|>",
             "<|det|>", "<|/det|>", "{", "}", "[", "]", "(", ")", ",", " ", "\n", "1", "23", "-4", "5.5",
             "1, 2, 3, 4", "(1, 2, 3, 4)", "[5, 6, 7, 8]", "[[1, 2, 3, 4]]", '"bbox_2d": [1, 2, 3, 4]',
             '"label": "', '"', "'", "<", ">", "cat", '{"bbox_2d": [1, 2, 3, 4], "label": "</think>"}',
             '{"bbox_2d": [9, 9, 20, 20], "label": "cup"}', "<ref>cup</ref><box>[[1, 2, 3, 4]]</box>"]
texts = st.one_of(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join), st.text(max_size=120))


@pytest.fixture(autouse=True)
def _always_lazy(monkeypatch):
    """Take the tags-alone path whenever it applies, however the structure gets read."""
    monkeypatch.setattr(parsing, "LAZY_BUILT_SHARE", float("inf"))
    parsing.clear_cache()
    yield
    parsing.clear_cache()


def _full(text: str, g: Grammar):
    return parsing._parse(text, g)


def _fields(r) -> tuple:
    """Every field, read in an order that builds the pending parts one by one."""
    return (r.ok, r.grammar, r.text, r.error, r.deviations, r.output, r.boxes, r.sections, r.answer,
            r.model_dump())


def _assert_same(lazy, full):
    assert lazy.ok == full.ok
    assert _fields(lazy) == _fields(full)
    assert lazy == full and hash(lazy) == hash(full)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from(GRAMMARS), st.sampled_from(["output", "error", "deviations", "boxes", "dump"]))
def test_the_tags_alone_give_the_full_parse(text, spec, first):
    g = load_grammar(spec)
    lazy = parsing._parse_lazy(text, g)
    full = _full(text, g)
    assert lazy.ok == full.ok  # before anything else is read
    assert lazy.text == text
    getattr(lazy, first) if first != "dump" else lazy.model_dump()  # whichever part is read first
    _assert_same(lazy, full)


def test_the_benchmark_corpus_takes_the_short_path_with_the_same_results():
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
    try:
        from corpus import make_corpus
    finally:
        sys.path.pop(0)
    g = load_grammar("grit")
    pending = 0
    for record in make_corpus(2000, seed=3):
        text = record["output"]
        lazy = gritkit.try_parse(text)
        pending += lazy._output is PENDING
        _assert_same(lazy, _full(text, g))
    assert pending == 2000  # the corpus's JSON objects hold no tag: none needs the full parse


@pytest.mark.parametrize("text, lazy", [
    ('<think>a {"bbox_2d": [1, 2, 3, 4], "label": "</think>"}</think><rethink>r</rethink><answer>1', False),
    ('<think>{"bbox_2d": [1, 2, 3, 4], "label": "cup"} and {unclosed <rethink></think>', False),
    ('<think>{"bbox_2d": [1, 2, 3, 4], "label": "cup"}</think><rethink>r</rethink><answer>1', True),
    ("<think>a < b and {x} <ref>cup</ref><box>[[1, 2, 3, 4]]</box></think><rethink>r</rethink><answer>1", True),
])
def test_a_json_object_that_could_hold_a_tag_is_parsed_in_full(text, lazy):
    g = load_grammar("grit")
    r = parsing._parse_lazy(text, g)
    assert (r._output is PENDING) is lazy
    _assert_same(r, _full(text, g))


def test_the_label_of_a_json_box_hides_a_tag_from_the_full_parse():
    """The case the short path must never take: the tags alone would see a </think>."""
    text = '<think>a {"bbox_2d": [1, 2, 3, 4], "label": "</think>"}</think><rethink>r</rethink><answer>1'
    r = gritkit.try_parse(text)
    assert r.ok and r.boxes[0].label == "</think>"
    assert load_grammar("grit").boxes_anywhere  # not because the grammar was refused


def test_tags_spelt_like_box_delimiters_never_take_the_short_path():
    g = load_grammar("grit[think=box]")
    sc = Scanner(g)
    assert sc.tag_regex is None
    text = "<ref>cup</ref><box>[[1, 2, 3, 4]]</box><rethink>r</rethink><answer>1"
    r = gritkit.try_parse(text, g)
    assert r._output is not PENDING
    assert r.ok is False and r.error.label == "missing <box>"  # the group is a box, not a section


@pytest.mark.parametrize("spec", ["grit", "r1", "grit[think=thinking,answer=final]"])
def test_the_shipped_grammars_let_boxes_stand_anywhere(spec):
    assert load_grammar(spec).boxes_anywhere


def _grammar_from(source: str) -> Grammar:
    lark = _build_lark(source, "grit")
    kinds = ["think", "rethink", "answer"]
    data = _derive(lark, source, kinds)
    return Grammar(name="test", base="grit", source=source, tags={k: k for k in kinds},
                   sections=data["sections"], terminals=data["terminals"], display=data["display"],
                   states=data["states"], start_state=data["start_state"], end_state=data["end_state"])


def test_the_proof_rejects_a_grammar_where_a_box_decides_ok():
    source = _read("grit.lark").replace("rethink: RETHINK_OPEN _free RETHINK_CLOSE",
                                        "rethink: RETHINK_OPEN RETHINK_CLOSE")
    g = _grammar_from(source)
    tags = [n for n, _ in g.terminals if n not in BOX_SYNTAX]
    assert not box_transparent(g, tags, g.box_terminal)
    assert not g.boxes_anywhere
    assert Scanner(g).tag_regex is None  # so ok always comes from the full scan
    # the check is right to refuse: one box in <rethink> turns ok from True to False
    seq = ["THINK_OPEN", "THINK_CLOSE", "RETHINK_OPEN", "RETHINK_CLOSE", "ANSWER_OPEN"]
    assert g.accepts(seq)[0]
    assert not g.accepts(seq[:3] + [g.box_terminal] + seq[3:])[0]
    # and the unchanged source passes the same check
    assert _grammar_from(_read("grit.lark")).boxes_anywhere


def test_a_grammar_with_a_box_required_somewhere_is_refused_too():
    source = _read("grit.lark").replace("rethink: RETHINK_OPEN _free RETHINK_CLOSE",
                                        "rethink: RETHINK_OPEN box _free RETHINK_CLOSE")
    assert not _grammar_from(source).boxes_anywhere


def test_a_pending_result_behaves_as_a_built_one():
    text = "<think>cat (1, 2, 3, 4)</think><rethink>r</rethink>"  # no <answer>: malformed
    g = load_grammar("grit")
    for use in (pickle.dumps, copy.deepcopy, repr, lambda r: r.model_dump_json(), lambda r: dict(r),
                lambda r: r.model_copy(update={"ok": True}).ok):
        r = gritkit.try_parse(text)
        parsing.clear_cache()
        assert r._output is PENDING
        use(r)
        _assert_same(r, _full(text, g))
    r = gritkit.try_parse(text)
    assert pickle.loads(pickle.dumps(r)) == _full(text, g)
    with pytest.raises(AttributeError, match="immutable"):
        r.output = None
    with pytest.raises(gritkit.GritSyntaxError) as info:
        gritkit.parse(text)
    assert info.value.label == "missing <answer>"


def test_threads_reading_one_pending_result_see_one_result():
    text = "<think>a (1, 2, 3, 4) and [5, 6, 7, 8]</think><rethink>r</rethink><answer> 2"
    full = _full(text, load_grammar("grit"))
    for _ in range(20):
        r = gritkit.try_parse(text)
        parsing.clear_cache()
        seen = []
        threads = [threading.Thread(target=lambda: seen.append(_fields(r))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == [_fields(full)] * 8


def test_the_choice_of_path_follows_what_is_read_and_never_the_result(monkeypatch):
    monkeypatch.setattr(parsing, "LAZY_BUILT_SHARE", 0.8)
    g = load_grammar("grit")
    monkeypatch.setattr(g, "reads", None)
    texts = [f"<think>box ({i}, 2, 30, 40)</think><rethink>r</rethink><answer> {i}" for i in range(3000)]
    full = [_full(t, g) for t in texts]

    def run(read_structure: bool) -> int:
        pending = 0
        for t, f in zip(texts, full):
            parsing.clear_cache()
            r = gritkit.try_parse(t)
            pending += r._output is PENDING
            assert r.ok == f.ok and r.text == f.text
            if read_structure:
                assert r.boxes == f.boxes and r.sections == f.sections
        return pending

    assert run(False) == 3000             # nothing read: every structure left pending
    run(True)                             # then the structure read every time: in a few
    read = run(True)                      # hundred parses it is parsed in full,
    assert read < 3000 * 0.1              # save a probe now and then
    assert read >= 3000 // parsing.LAZY_PROBE_EVERY
    run(False)                            # and nothing read again: back to pending
    assert run(False) > 3000 * 0.9

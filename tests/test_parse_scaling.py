"""Every part of the parse is linear in the text, degenerate texts included (issue 9, defect 7).

Each text is parsed at two sizes, 8x apart; the cost must grow about 8x (the test
allows 20x; a quadratic part gives 64x). CPU time, best of a few runs, so that other
work on a shared machine does not count. How long a 4 MB text takes on the project's
machine is in docs/performance.md (benchmarks/bench_parse.py prints it).
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gritkit.lexer import _json_values
from gritkit.grammar import load_grammar
from gritkit.parsing import MAX_DEVIATIONS, _scanner, clear_cache, try_parse

SMALL = 40_000  # characters
FACTOR = 8

UNITS = {
    # the two texts of the issue: one deviation per tag, all on one line
    "nested tags": "<think><rethink><answer></answer></rethink></think>",
    "repeated sections": "<think></think><rethink></rethink>",
    "open tags": "<think>",
    "stray close tags": "</answer>",
    "boxes on one line": "(1, 2, 3, 4) ",
    "three-number lists": "[1, 2, 3] ",
    "cut-off brackets": "[9, ",
    "thousands runs": "1,000,000,000 ",
    "labelled nested lists": "cup[[1, 2, 3, 4]]",
    "braces before tags": "{<think>",
    "braces never closed": "{ (1, 2, 3, 4) ",
}
# (before, unit, after): texts inside one JSON object, closed or never closed
FRAMED = {
    "unclosed nested bbox values": ("{", '"bbox_2d": [[1, ', "}"),
    "bbox keys and labels": ("{", '"bbox_2d": [1, 2, 3, 4], "label": "a", ', "}"),
    "unclosed labels": ("{", '"bbox": [1, 2, 3, 4], "label": "a', "}"),
    "a brace never closed, many keys": ("{", '"bbox": [1, ', ""),
    "a brace never closed, many boxes": ("{", '"bbox": [1, 2, 3, 4], ', ""),
    "a brace never closed, then a tag": ("{", "a (1, 2, 3, 4) ", "<think>"),
}


_TAGS = _scanner(load_grammar("grit"))


def _cpu(text: str) -> float:
    """CPU seconds of a parse with every part of the result read, plus the tags-alone scan
    (which try_parse may or may not run first: docs/grammar.md, step 5)."""
    best = float("inf")
    for _ in range(3):
        clear_cache()
        t0 = time.process_time()
        r = try_parse(text)
        r.output, r.error, r.deviations
        _TAGS.tags_alone(text)
        best = min(best, time.process_time() - t0)
    return best


def _text(name: str, size: int) -> str:
    if name in FRAMED:
        before, unit, after = FRAMED[name]
        return before + unit * (size // len(unit)) + after
    unit = UNITS[name]
    return unit * (size // len(unit))


@pytest.mark.parametrize("name", list(UNITS) + list(FRAMED))
def test_cost_grows_linearly(name):
    small, big = _text(name, SMALL), _text(name, SMALL * FACTOR)
    _cpu(small)  # warm up: grammar, plans, memory
    t_small, t_big = _cpu(small), _cpu(big)
    assert t_big < 20 * max(t_small, 2e-3), f"{name}: {t_small:.4f} s -> {t_big:.4f} s for {FACTOR}x the text"


# The JSON value regex the scanner used to run once per key (quadratic when "[[" is never
# closed); _json_values must find exactly what its finditer found.
OLD_JSON_KEY = re.compile(r"""["']?\b(?:bbox_2d|bbox)\b["']?\s*:\s*(\[\s*\[[^{}]*?\]\s*\]|\[[^\[\]{}]*\])""")
JSON_PIECES = ['"bbox_2d"', "'bbox'", "bbox", "bbox_2d_x", ": ", ":", " ", "[", "]", "[[", "]]", "] ]", ",",
               "1", "2.5", '"label": "a"', "x", '"', "'"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(JSON_PIECES), max_size=40).map("".join))
def test_json_values_are_what_the_old_regex_found(body):
    old = [(m.start(), m.start(1), m.group(1)) for m in OLD_JSON_KEY.finditer(body)]
    assert _json_values(body) == old


def test_json_object_with_many_keys_and_labels_is_linear():
    def text(n):  # one object, n boxes, n + 1 labels: every box looks for its nearest label
        return "{" + ", ".join(f'"bbox_2d": [1, 2, 3, {i}], "label": "l{i}"' for i in range(n)) + ', "label": "x"}'

    small, big = text(2_000), text(2_000 * FACTOR)
    _cpu(small)
    t_small, t_big = _cpu(small), _cpu(big)
    assert t_big < 20 * max(t_small, 2e-3)
    # each box takes the label nearest its key (the earlier one on a tie), as a scan of all would
    t = text(50) + '{"label": "a", "bbox": [1, 2, 3, 4], "bbox": [5, 6, 7, 8], "label": "b", "label": "c"}'
    for obj in t.split("}{"):
        keys = [i for i in range(len(obj)) if obj.startswith(("bbox_2d", "bbox\""), i)]
        labels = [(i, obj[i + 9:obj.index('"', i + 9)]) for i in range(len(obj)) if obj.startswith('label": "', i)]
        nearest = [min(labels, key=lambda lp: abs(lp[0] - k))[1] for k in keys]
        got = [b.label for b in try_parse("{" + obj.strip("{}") + "}").boxes]
        assert got == nearest


def test_many_deviations_keep_the_first_in_full_and_count_the_rest():
    n = 5_000
    r = try_parse("<think></think><rethink></rethink>" * n)
    devs = r.deviations
    assert len(devs) == MAX_DEVIATIONS + 1
    *kept, last = devs
    assert {d.code for d in kept} == {"repeated_section"}
    assert [d.offset for d in kept] == sorted(d.offset for d in kept)
    assert last.code == "too_many_deviations"
    total = 2 * (n - 1) + 1  # a repeated <think> and <rethink> per unit after the first, no <answer>
    assert f"{total - MAX_DEVIATIONS:,} more deviations" in last.message
    assert last.offset > kept[-1].offset and last.line == 1 and last.column == last.offset + 1
    assert len(r.sections) == 2 * n  # sections are all kept


def test_columns_on_one_long_line_are_exact():
    unit = "<think></think><rethink></rethink>"
    r = try_parse(unit * 50)
    for d in r.deviations:
        assert (d.line, d.column) == (1, d.offset + 1)
    r = try_parse(("x\n" + unit) * 50)
    text = r.text
    for d in r.deviations:
        assert d.line == text.count("\n", 0, d.offset) + 1
        assert d.column == d.offset - text.rfind("\n", 0, d.offset)


OLD_JSON_BOX = re.compile(r"""\{[^{}]*?["']?\b(?:bbox_2d|bbox)\b["']?\s*:\s*\[[^{}]*\}""")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(JSON_PIECES + ["{", "}", "{ ", "} "]), max_size=40).map("".join))
def test_the_json_box_terminal_matches_what_it_matched_before(text):
    """box_syntax.lark's JSON_BOX finds its key by a lookahead now (linear); same matches."""
    from gritkit.grammar import load_grammar

    new = re.compile(dict(load_grammar("grit").terminals)["JSON_BOX"])
    assert [m.span() for m in new.finditer(text)] == [m.span() for m in OLD_JSON_BOX.finditer(text)]

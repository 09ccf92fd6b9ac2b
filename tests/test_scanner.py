"""One scanner: the fast regex and the reference regex built from the .lark terminals agree.

Production parsing (``try_parse``) runs ``gritkit.parsing._parse`` with the fast
scanner; these tests run the same ``_parse`` with the reference scanner and compare
whole results, on random text (Unicode digits included) and on the benchmark corpus.
"""

from __future__ import annotations

import os
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gritkit import try_parse
from gritkit.grammar import BOX_SYNTAX, load_grammar
from gritkit.lexer import Scanner
from gritkit.parsing import _parse

HERE = os.path.dirname(os.path.abspath(__file__))
GRAMMARS = [load_grammar("grit"), load_grammar("r1"), load_grammar("grit[think=thinking]")]
FAST = {g.name: Scanner(g) for g in GRAMMARS}
REFERENCE = {g.name: Scanner(g, reference=True) for g in GRAMMARS}

# Digits of other scripts: Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali,
# Thai, fullwidth, mathematical bold; and a superscript (not \d, but isdigit()).
UNICODE_DIGITS = "١٢٣٤۵۶०१২৩๑๒１２𝟏𝟐²"
FRAGMENTS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>", "<thinking>",
             "</thinking>", "(", ")", "[", "]", "{", "}", ",", ", ", " ", "\n", "\t", "\u00a0", "1", "23",
             "-4", "5.5", ".", "-", '"bbox_2d": ', '"bbox": ', '"label": "x"', "'label': 'y'", "<ref>",
             "</ref>", "<box>", "</box>", "<|box_start|>", "<|box_end|>", "<|object_ref_start|>",
             "<|object_ref_end|>", "<|det|>", "<|/det|>", "<|ref|>", "<|/ref|>", "cat", "v", "_", "'",
             "\x00", "\ufffd", "é", "猫", "\u202e", *UNICODE_DIGITS]

texts = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join),
    st.text(alphabet=st.sampled_from("0123456789, ()[]{}<>-." + UNICODE_DIGITS), max_size=80),
    st.text(max_size=200),
)


def _both(text: str, g):
    fast = _parse(text, g, FAST[g.name])
    reference = _parse(text, g, REFERENCE[g.name])
    return fast, reference


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from(GRAMMARS))
def test_fast_and_reference_scanners_give_the_same_parse(text, g):
    fast, reference = _both(text, g)
    assert fast == reference
    assert fast.model_dump() == reference.model_dump()
    assert FAST[g.name].scan(text) == REFERENCE[g.name].scan(text)


def test_fast_and_reference_scanners_agree_on_the_benchmark_corpus():
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
    from corpus import make_corpus

    g = GRAMMARS[0]
    for rec in make_corpus(1500, seed=3):
        fast, reference = _both(rec["output"], g)
        assert fast == reference, rec["output"][:200]


def test_production_parsing_is_the_fast_scanner():
    text = "<think>the cup (1, 2, 3, 4) and [5, 6, 7, 8]</think><rethink>r</rethink><answer>1"
    assert try_parse(text) == _parse(text, GRAMMARS[0], FAST["grit"])


@pytest.mark.parametrize("text", [
    "<think>١, ٢, ٣, ٤</think>",          # the case the issue found: bare run of Arabic-Indic digits
    "<think>(١, ٢, ٣, ٤)</think>",
    "<think>[१, २, ३, ४]</think>",
    '<think>{"bbox_2d": [１, ２, ３, ４]}</think>',
    "<think>[[๑, ๒, ๓, ๔]]</think>",
    "<think>(𝟏,𝟐),(𝟑,𝟒)</think>",
    "<think>1, 2, 3, ٤</think>",           # three ASCII numbers and one Arabic-Indic: no box
])
def test_numbers_in_other_scripts_are_not_box_numbers(text):
    for g in GRAMMARS[:2]:
        fast, reference = _both(text, g)
        assert fast == reference
        assert fast.boxes == ()


def test_ascii_digits_next_to_unicode_digits():
    # an ASCII box is read; the other script's digits are text around it
    r = try_parse("<think>١ (1, 2, 3, 4) ٢ and [5, 6, 7, 8]٣</think>")
    assert [b.coords for b in r.boxes] == [(1, 2, 3, 4), (5, 6, 7, 8)]
    # a run may not start right after a digit of any script (\w), in both scanners
    fast, reference = _both("x ١1, 2, 3, 4", GRAMMARS[0])
    assert fast == reference and fast.boxes == ()


def test_box_terminals_say_ascii_digits():
    """The single source: the .lark box terminals use [0-9], never \\d."""
    for name, rx in load_grammar("grit").terminals:
        if name in BOX_SYNTAX:
            assert not re.search(r"(?<!\\)\\d", rx), f"{name} uses \\d: {rx}"
    assert "[0-9]" in dict(load_grammar("grit").terminals)["BARE_BOX"]

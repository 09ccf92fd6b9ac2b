"""The bug-compatible official GRIT terms: answer_format, think_format, grounded_format
(and, for the whole table, the official modes of bleu and repetition)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import gritkit
from gritkit.builtin.official import (GroundedFormatOptions, answer_format_reward, grounded_format_reward,
                                      think_format_reward)
from gritkit.models import Sample
from gritkit.testing import score

GRIT = yaml.safe_load((Path(__file__).parent / "cases" / "grit_outputs.yaml").read_text(encoding="utf-8"))
TERMS = ["answer_format", "think_format", "grounded_format", "bleu"]
OFFICIAL_OPTIONS = {"bleu": {"official_quirk": True, "scale": 0.1}}


@pytest.mark.parametrize("name, term", [(n, t) for n in GRIT for t in TERMS])
def test_grit_table_through_the_registry(name, term):
    # GRIT's published example outputs: each output's official per-term value, scored by name as the grit-official preset does.
    row = GRIT[name]
    got = score(term, row["completion"], options=OFFICIAL_OPTIONS.get(term), **row["sample"])
    assert got == pytest.approx(row["official"][term], abs=1e-12)


def _r(text):
    return gritkit.try_parse(text)


@pytest.mark.parametrize("text, expected", [
    ("no tag", 0.0),
    ("<answer>1", 0.5),                       # once: (1 + 1) / 2 * 0.5
    ("<answer>1</answer>", 0.5),
    ("<answer>1</answer><answer>2</answer>", 0.25),
    ("<answer><answer><answer>", 0.25),
    ("</answer>", 0.0),
])
def test_answer_format(text, expected):
    assert answer_format_reward(_r(text), Sample()) == expected


@pytest.mark.parametrize("text, expected", [
    # all four tags + body "a b" (2 chars, 2 pieces): 5 hits -> 0.5
    ("<think>a b</think><rethink>r</rethink>", 0.5),
    # body "a": 1 char -> 4 hits -> 0.4
    ("<think>a</think><rethink>r</rethink>", 0.4),
    # body "5." passes: 2 chars, "5 " split(' ') -> ['5', ''] (quirk 7)
    ("<think>5.</think><rethink>r</rethink>", 0.5),
    # body "ab": 2 chars but one piece -> 0.4
    ("<think>ab</think><rethink>r</rethink>", 0.4),
    # order is loose: every tag occurs after the previous one's last occurrence
    ("<rethink> <think>a b</think><rethink>r</rethink>", 0.5),
    # rethink before think: <think> and </think> hit; nothing is left after </think>, so <rethink>
    # and </rethink> miss -> 2 hits -> 0.2
    ("<rethink>r</rethink><think>a b</think>", 0.2),
    # a missing key does not cut: <think> hit, </think> missing, <rethink>, </rethink> hit -> 0.3
    ("<think>a b<rethink>r</rethink>", 0.3),
    # last occurrences: text after the last <think> is "x</think>" -> body "x" (1 char) -> 0.4
    ("<think>long body here</think><think>x</think><rethink>r</rethink>", 0.4),
    ("", 0.0),
])
def test_think_format(text, expected):
    assert think_format_reward(_r(text), Sample()) == pytest.approx(expected)


@pytest.mark.parametrize("text, sample, expected", [
    # no <rethink>: 0 whatever the boxes
    ("<think>(1, 2, 3, 4)</think><answer>1", {"answer": "1", "dataset": "tallyqa"}, 0.0),
    # regex box before <rethink>: 0.5; count 1 == int("1") on tallyqa: +1.0
    ("<think>(1, 2, 3, 4)</think><rethink>r", {"answer": "1", "dataset": "tallyqa"}, 1.5),
    ("<think>(1, 2, 3, 4)</think><rethink>r", {"answer": "2", "dataset": "tallyqa"}, 0.5),
    ("<think>(1, 2, 3, 4)</think><rethink>r", {"answer": "1", "dataset": "vsr"}, 0.5),
    # text before <think> counts; boxes after the first <rethink> do not
    ("(1, 2, 3, 4) <think>t</think><rethink>(5, 6, 7, 8)</rethink>", {"answer": "1", "dataset": "tallyqa"}, 1.5),
    ("<think>t</think><rethink>(5, 6, 7, 8)</rethink>", {"answer": "1", "dataset": "tallyqa"}, 0.0),
    # quirk 5: answer "0", no box: the count bonus alone
    ("<think>none</think><rethink>r", {"answer": "0", "dataset": "tallyqa"}, 1.0),
    # a repeated box counts twice; eight ints are two boxes; "1,000,000,000" is a box; floats are not
    ("<think>(1, 2, 3, 4) (1, 2, 3, 4)</think><rethink>", {"answer": "2", "dataset": "tallyqa"}, 1.5),
    ("<think>[1, 2, 3, 4, 5, 6, 7, 8]</think><rethink>", {"answer": "2", "dataset": "tallyqa"}, 1.5),
    ("<think>1,000,000,000</think><rethink>", {"answer": "1", "dataset": "tallyqa"}, 1.5),
    ("<think>[1.5, 2.5, 3.5, 4.5]</think><rethink>", {"answer": "0", "dataset": "tallyqa"}, 1.0),
    # negative numbers: the minus is ignored by \b
    ("<think>(-1, 2, 3, 4)</think><rethink>", {"answer": "1", "dataset": "tallyqa"}, 1.5),
    # int(answer) as Python reads it: " 2 " and "+2" are 2
    ("<think>(1,2,3,4) (5,6,7,8)</think><rethink>", {"answer": " 2 ", "dataset": "tallyqa"}, 1.5),
    # the dataset comparison is exact, as in the official code
    ("<think>(1, 2, 3, 4)</think><rethink>r", {"answer": "1", "dataset": "TallyQA"}, 0.5),
])
def test_grounded_format(text, sample, expected):
    assert grounded_format_reward(_r(text), Sample(**sample)) == expected


def test_grounded_format_deliberate_deviations():
    text = "<think>(1, 2, 3, 4)</think><rethink>r"
    # official: int("Yes") raises inside the trainer (a VSR sample behind a TallyQA one); here: no bonus
    assert grounded_format_reward(_r(text), Sample(answer="Yes", dataset="tallyqa")) == 0.5
    assert grounded_format_reward(_r(text), Sample(answer=None, dataset="tallyqa")) == 0.5
    assert grounded_format_reward(_r(text), Sample(answer="1.0", dataset="tallyqa")) == 0.5
    # official: keyed on dataset[0] of the batch; here each sample's own dataset decides
    batch = [Sample(answer="1", dataset="vsr"), Sample(answer="1", dataset="tallyqa")]
    assert [grounded_format_reward(_r(text), s) for s in batch] == [0.5, 1.5]


def test_grounded_format_options():
    text = "<think>(1, 2, 3, 4)</think><rethink>r"
    opts = GroundedFormatOptions(box_value=0.5, count_bonus=0.5, count_datasets=("tallyqa", "mme_count"))
    assert grounded_format_reward(_r(text), Sample(answer="1", dataset="mme_count"), opts) == 1.0


def test_official_repetition_on_the_table_is_full_without_token_ids():
    # None of the table's outputs repeats an 8-gram back to back: w = 1, and t = 1 without ids.
    for row in GRIT.values():
        assert score("repetition", row["completion"], options={"mode": "official"}, **row["sample"]) == 0.5


def test_official_terms_never_crash_on_odd_text():
    odd = ["", "<rethink>", "<think></think><rethink></rethink>", "\x00<answer>\ud800", "9" * 5000 + ",1,2,3<rethink>"]
    for text in odd:
        for fn in (answer_format_reward, think_format_reward, grounded_format_reward):
            value = fn(_r(text), Sample(answer="x", dataset="tallyqa"))
            assert isinstance(value, float)


# The official terms use faster regexes than GRIT's code; they must agree exactly.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(["1", "23", "456", ",", ", ", " ", "\n", "\t", "a", "é", "٣", "_", ".", "-", "x1",
                           "(", ")", "[", "]", "\u00a0", "<think>", "</think>"])
_SOUP = st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=40).map("".join))


@settings(max_examples=500, deadline=None)
@given(_SOUP)
def test_fast_box_regex_finds_what_grits_regex_finds(text):
    from gritkit.builtin.official import _OFFICIAL_BOX_FAST, OFFICIAL_BOX

    assert _OFFICIAL_BOX_FAST.findall(text) == OFFICIAL_BOX.findall(text)
    cut = len(text) // 2
    assert _OFFICIAL_BOX_FAST.findall(text, 0, cut) == OFFICIAL_BOX.findall(text[:cut])


@settings(max_examples=500, deadline=None)
@given(_SOUP)
def test_think_body_check_matches_grits_split(body):
    from gritkit.builtin.official import _NON_ALNUM, _SPLITS_IN_TWO

    assert (_SPLITS_IN_TWO.search(body) is not None) == (len(_NON_ALNUM.sub(" ", body).split(" ")) > 1)

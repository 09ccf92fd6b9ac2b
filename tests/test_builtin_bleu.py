"""The ``bleu`` reward: GRIT's 0.1 * BLEU-1 (nltk arithmetic), with and without the official quirk."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

import gritkit
from gritkit.builtin._text import bleu1, bleu_tokens, reference_unigrams
from gritkit.builtin.bleu import BleuOptions, bleu_reward
from gritkit.models import Sample

GRIT = yaml.safe_load((Path(__file__).parent / "cases" / "grit_outputs.yaml").read_text(encoding="utf-8"))

QUIRK = BleuOptions(official_quirk=True)


def bleu(text: str, reference, options: BleuOptions | None = None) -> float | None:
    return bleu_reward(gritkit.try_parse(text), Sample(answer=reference), options)


def test_matches_nltk_bit_for_bit():
    # 300 random cases scored by nltk 3.10.4 itself (see the file's "generated_by"); exact equality.
    data = json.loads((Path(__file__).parent / "cases" / "bleu_nltk.json").read_text())
    for case in data["cases"]:
        got = bleu1(reference_unigrams(case["reference"]), bleu_tokens(case["hypothesis"]))
        assert got == case["bleu1"], case


def test_matches_nltk_when_installed():
    nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
    for ref, hyp in [("hot dog", "dog"), ("7", "7 answer"), ("a b c", "a a a b"), ("x", "")]:
        expected = nltk_bleu.sentence_bleu([bleu_tokens(ref)], bleu_tokens(hyp), weights=(1, 0, 0, 0))
        assert bleu1(reference_unigrams(ref), bleu_tokens(hyp)) == expected


@pytest.mark.parametrize("ref, hyp, expected", [
    # exact: p1 = 1, c = r: BP = exp(0) = 1
    ("hot dog", "hot dog", 1.0),
    # GRIT's quirk: "7 answer" vs "7": p1 = 1/2, c = 2 > r = 1 so BP = 1
    ("7", "7 answer", 0.5),
    # short hypothesis: p1 = 1, BP = exp(1 - 2/1) = e^-1
    ("hot dog", "dog", math.exp(-1)),
    # clipping: "the the the" vs "the cat": clipped count 1 of 3, c = 3 > r = 2
    ("the cat", "the the the", 1 / 3),
    # no overlap, empty hypothesis
    ("cat", "dog", 0.0), ("cat", "", 0.0),
])
def test_bleu1_hand_computed(ref, hyp, expected):
    assert bleu1(reference_unigrams(ref), bleu_tokens(hyp)) == pytest.approx(expected)


def test_official_quirk_penalises_the_closing_tag():
    closed = "<think>t</think><rethink>r</rethink><answer>\n7\n</answer>"
    truncated = "<think>t</think><rethink>r</rethink><answer>\n7"
    # official: tokens after the first <answer>: ["7", "answer"] -> 0.1 * 0.5; truncated ["7"] -> 0.1
    assert bleu(closed, "7", QUIRK) == pytest.approx(0.05)
    assert bleu(truncated, "7", QUIRK) == pytest.approx(0.1)
    # fixed (default): the answer section only -> both 0.1
    assert bleu(closed, "7") == pytest.approx(0.1)
    assert bleu(truncated, "7") == pytest.approx(0.1)


def test_official_quirk_keeps_everything_after_the_first_answer():
    # "1</answer> <answer>1</answer>" -> 1 answer answer 1 answer: clipped 1 of 5 -> 0.1 * 0.2
    text = "<think>a</think><rethink> x </rethink><answer>1</answer> <answer>1</answer>"
    assert bleu(text, "1", QUIRK) == pytest.approx(0.02)
    assert bleu(text, "1") == pytest.approx(0.1)


@pytest.mark.parametrize("name", list(GRIT))
def test_grit_table_values(name):
    row = GRIT[name]
    assert bleu(row["completion"], row["sample"]["answer"], QUIRK) == pytest.approx(row["official"]["bleu"], abs=1e-12)


def test_scale_and_none_cases():
    text = "<think>t</think><rethink>r</rethink><answer>hot dog</answer>"
    assert bleu(text, "hot dog", BleuOptions(scale=1.0)) == 1.0
    assert bleu(text, None) is None
    assert bleu(text, "") is None
    assert bleu(text, "?!") is None            # no token in the reference
    assert bleu("<think>t</think>", "7") == 0.0                 # no answer
    assert bleu("<think>t</think>", "7", QUIRK) == 0.0


def test_case_and_punctuation_are_ignored_non_ascii_letters_split():
    text = "<think>t</think><rethink>r</rethink><answer>Hot-Dog!</answer>"
    assert bleu(text, "hot dog", BleuOptions(scale=1.0)) == 1.0
    # GRIT keeps only [A-Za-z0-9]: "café" becomes "caf"
    assert bleu_tokens("Café crème") == ["caf", "cr", "me"]

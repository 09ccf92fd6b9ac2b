"""The ``count`` reward: number of boxes vs an integer answer, per sample."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import gritkit
from gritkit.builtin.count import CountOptions, count_reward
from gritkit.models import Sample

GRIT = yaml.safe_load((Path(__file__).parent / "cases" / "grit_outputs.yaml").read_text(encoding="utf-8"))

TWO = "<think>(1, 1, 9, 9) and (20, 1, 29, 9)</think><rethink>two</rethink><answer>2</answer>"


def count(text: str, options: CountOptions | None = None, **sample) -> float | None:
    return count_reward(gritkit.try_parse(text), Sample(**sample), options)


@pytest.mark.parametrize("answer, expected", [
    ("2", 0.5), ("two", 0.5), ("Two.", 0.5), (" 2 ", 0.5), ("2.0", 0.5),
    ("3", 0.0), ("1", 0.0),
    # not an integer: not applicable
    ("Yes", None), ("hot dog", None), ("2.5", None), ("-2", None), ("", None), (None, None),
])
def test_reference_answers(answer, expected):
    assert count(TWO, answer=answer) == expected


def test_grit_zebra_example_seven_boxes_answer_seven():
    # GRIT's published example outputs example 1: seven tuples in think (the text says "six"), GT 7, TallyQA: the paper's 0.5
    assert count(GRIT["example_1_zebras"]["completion"], answer="7", dataset="tallyqa") == 0.5
    assert count(GRIT["example_1_zebras"]["completion"], answer="6", dataset="tallyqa") == 0.0


def test_official_bonus_value():
    assert count(TWO, CountOptions(bonus=1.0), answer="2") == 1.0


def test_datasets_option_restricts_by_the_samples_own_dataset():
    opts = CountOptions(datasets=("tallyqa",))
    assert count(TWO, opts, answer="2", dataset="tallyqa") == 0.5
    assert count(TWO, opts, answer="2", dataset="TallyQA") == 0.5   # case-insensitive
    assert count(TWO, opts, answer="2", dataset="vsr") is None
    assert count(TWO, opts, answer="2") is None
    # default: any sample with an integer answer
    assert count(TWO, answer="2", dataset="vsr") == 0.5


def test_sections_option():
    text = "<think>(1, 1, 9, 9)</think><rethink>r</rethink><answer>(20, 1, 29, 9)</answer>"
    assert count(text, answer="1") == 0.5          # think + rethink by default: 1 box
    assert count(text, CountOptions(sections=("think", "rethink", "answer")), answer="2") == 0.5


def test_the_box_count_is_not_gated_on_rethink():
    # GRIT's official code counts nothing without <rethink>; the count reward counts the think box.
    assert count(GRIT["no_rethink"]["completion"], answer="1", dataset="tallyqa") == 0.5


def test_repeated_box_counts_once_by_default():
    text = "<think>(1, 1, 9, 9) (1, 1, 9, 9)</think><rethink>r</rethink><answer>1"
    assert count(text, answer="1") == 0.5
    # GRIT counts a repeated box twice
    assert count(text, CountOptions(distinct=False), answer="2") == 0.5


def test_zero_needs_the_model_to_answer_zero():
    # quirk 5 of the official reward code (docs/rewards.md): an answer "0" paid any output without a box, even an empty one.
    assert count("", answer="0") == 0.0
    assert count("<think>nothing</think><rethink>r</rethink>", answer="0") == 0.0
    assert count("<think>no cat</think><rethink>r</rethink><answer>0</answer>", answer="0") == 0.5
    assert count("<think>no cat</think><rethink>r</rethink><answer>zero</answer>", answer="0") == 0.5
    assert count("<think>(1, 1, 9, 9)</think><rethink>r</rethink><answer>0</answer>", answer="0") == 0.0
    assert count("", CountOptions(zero_needs_answer=False), answer="0") == 0.5


def test_no_box_for_a_nonzero_count_is_zero():
    # GRIT's example 3 (knife) asked as a count would get nothing: no box
    assert count(GRIT["example_3_knife"]["completion"], answer="1") == 0.0


def test_malformed_and_odd_inputs_never_crash():
    assert count("<think>[" + "9" * 400 + ", 0, 1, 1]</think>", answer="1") == 0.0
    assert count("<think>((((", answer="3") == 0.0
    assert count(TWO, answer="9" * 50) == 0.0

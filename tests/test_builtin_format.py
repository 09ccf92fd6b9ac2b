"""The ``format`` reward: GRIT paper's r_format (paper mode) and the graded variant."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import gritkit
from gritkit.builtin.format import FormatOptions, format_reward
from gritkit.errors import ConfigError
from gritkit.models import Sample

GRIT = yaml.safe_load((Path(__file__).parent / "cases" / "grit_outputs.yaml").read_text(encoding="utf-8"))

S = Sample()
GRADED = FormatOptions(mode="graded")


def fmt(text: str, options: FormatOptions | None = None) -> float:
    return format_reward(gritkit.try_parse(text), S, options)


@pytest.mark.parametrize("text, expected", [
    # think pair 0.5 + rethink pair 0.5 + a box in think 0.5
    ("<think>cat (1, 2, 30, 40)</think><rethink>ok</rethink><answer>1</answer>", 1.5),
    # no box: 0.5 + 0.5
    ("<think>cat</think><rethink>ok</rethink><answer>1</answer>", 1.0),
    # a box only in the answer does not count by default: 0.5 + 0.5
    ("<think>cat</think><rethink>ok</rethink><answer>(1, 2, 30, 40)</answer>", 1.0),
    # a box in rethink counts: 1.5
    ("<think>cat</think><rethink>(1, 2, 30, 40)</rethink><answer>1", 1.5),
    # no rethink: think pair 0.5 + box 0.5
    ("<think>(1, 2, 30, 40)</think><answer>1</answer>", 1.0),
    # unclosed think (truncated): only the rethink pair and the box: 0.5 + 0.5
    ("<think> dog at [120, 45, 300, 260] <rethink> below </rethink> <answer> yes", 1.0),
    # rethink before think: neither pair is in order; box in think 0.5
    ("<rethink>r</rethink><think>(1, 2, 3, 4)</think><answer>1", 0.5),
    # a second think section: the think pair is not correct; rethink 0.5 + box 0.5
    ("<think>a (1, 2, 3, 4)</think><think>b</think><rethink>r</rethink><answer>1", 1.0),
    # a stray </think>: the think pair is not correct; 0.5 + 0.5
    ("<think>a (1, 2, 3, 4)</think></think><rethink>r</rethink><answer>1", 1.0),
    # </think> without <think>: recovered, but the pair was not written: 0.5 (rethink) + 0.5 (box)
    ("a (1, 2, 3, 4)</think><rethink>r</rethink><answer>1", 1.0),
    # nothing: 0
    ("", 0.0),
    ("just text with 1, 2, 3, 4 numbers", 0.0),
])
def test_paper_mode(text, expected):
    assert fmt(text) == expected


def test_paper_mode_counts_only_finite_boxes():
    # a 400-digit number does not fit a float: not a valid box -> 1.0 (pairs only)
    text = "<think>[" + "9" * 400 + ", 0, 1, 1]</think><rethink>r</rethink><answer>1"
    assert len(gritkit.try_parse(text).boxes) == 1
    assert fmt(text) == 1.0


def test_grit_readme_examples_paper_mode():
    # Examples 1 and 2 ground their answer (1.5); example 3 correctly refuses to ground the absent
    # knife and, as in the paper, gets no box term (1.0).
    assert fmt(GRIT["example_1_zebras"]["completion"]) == 1.5
    assert fmt(GRIT["example_2_truck"]["completion"]) == 1.5
    assert fmt(GRIT["example_3_knife"]["completion"]) == 1.0


def test_box_sections_option():
    text = "(1, 2, 3, 4) <think>t</think><rethink>r</rethink><answer>1"
    assert fmt(text) == 1.0
    assert fmt(text, FormatOptions(box_sections=("outside",))) == 1.5


def test_values_and_normalize():
    text = "<think>cat (1, 2, 30, 40)</think><rethink>ok</rethink><answer>1"
    assert fmt(text, FormatOptions(pair_value=1.0, box_value=0.25)) == 2.25
    assert fmt(text, FormatOptions(normalize=True)) == 1.0
    # 1.0 / 1.5
    assert fmt("<think>c</think><rethink>ok</rethink><answer>1", FormatOptions(normalize=True)) == pytest.approx(2 / 3)


@pytest.mark.parametrize("text, expected", [
    # valid: structure 1.0 + box 0.5
    ("<think>cat (1, 2, 30, 40)</think><rethink>ok</rethink><answer>1", 1.5),
    # unclosed think (0.25 of the structure): 1.0 * 0.75 + box 0.5
    ("<think> dog at [120, 45, 300, 260] <rethink> below </rethink> <answer> yes", 1.25),
    # missing rethink section (0.5): 1.0 * 0.5, no box
    ("<think>cat</think><answer>1</answer>", 0.5),
    # repeated answer section (0.5): 0.5 + box 0.5
    ("<think>(1, 2, 3, 4)</think><rethink>x</rethink><answer>1</answer> <answer>1</answer>", 1.0),
    # three missing sections: 1 - 1.5 floors at 0
    ("no tags at all", 0.0),
    # a list of three numbers is a malformed box (0.1): 0.9, no box
    ("<think>[1, 2, 3]</think><rethink>x</rethink><answer>1", 0.9),
])
def test_graded_mode(text, expected):
    assert fmt(text, GRADED) == pytest.approx(expected)


def test_graded_costs_are_options():
    opts = FormatOptions(mode="graded", deviation_costs={"missing_section": 0.1}, default_cost=0.0)
    # missing rethink costs 0.1 -> 0.9
    assert fmt("<think>cat</think><answer>1</answer>", opts) == pytest.approx(0.9)


def test_graded_mode_is_relative_to_the_grammar():
    # The r1 grammar has no rethink: a complete R1 output is valid (structure 1.0, no box).
    r = gritkit.try_parse("<think>cat</think><answer>1</answer>", "r1")
    assert r.ok
    assert format_reward(r, S, GRADED) == 1.0


def test_options_are_validated():
    with pytest.raises(ConfigError):
        gritkit.get_plugin_manager().rewards.get("format").make_options({"mode": "strict"})
    with pytest.raises(ConfigError):
        gritkit.get_plugin_manager().rewards.get("format").make_options({"box_sections": ["everywhere"]})
    with pytest.raises(ConfigError):
        gritkit.get_plugin_manager().rewards.get("format").make_options({"pair_valu": 1})


def test_registered_through_the_plugin_manager():
    from gritkit.testing import score

    assert score("format", "<think>(1, 2, 3, 4)</think><rethink>r</rethink><answer>1") == 1.5
    assert score("format", "<think>c</think>", options={"mode": "graded"}) == pytest.approx(0.0)

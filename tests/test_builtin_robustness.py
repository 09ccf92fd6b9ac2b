"""No built-in reward crashes: random malformed completions and odd samples give a value in
the documented range, or None. Plus the data-driven YAML cases under cases/rewards/."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gritkit
from gritkit.builtin.answer_match import answer_match_reward
from gritkit.builtin.bleu import BleuOptions, bleu_reward
from gritkit.builtin.box_in_image import box_in_image_reward
from gritkit.builtin.count import count_reward
from gritkit.builtin.format import FormatOptions, format_reward
from gritkit.builtin.iou import IoUOptions, iou_reward
from gritkit.builtin.length import length_reward
from gritkit.builtin.official import answer_format_reward, grounded_format_reward, think_format_reward
from gritkit.builtin.repetition import RepetitionOptions, repetition_reward
from gritkit.models import ImageSize, Sample
from gritkit.testing import load_reward_cases

FRAGMENTS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>", " ", "\n", "yes", "No",
             "7", "seven", "(", ")", "[", "]", "{", "}", ",", ", ", '"bbox_2d": ', "-", ".", "1e999", "9" * 30,
             "0", "12.5", "(10, 20, 30, 40)", "[1, 2, 3]", "<box>[[1, 2, 3, 4]]</box>", "A", "(B)", " or ", "\x00",
             "é", "<|box_start|>(1,2),(3,4)<|box_end|>"]

SAMPLES = [
    Sample(),
    Sample(answer="7", dataset="tallyqa", gt_boxes=[(10, 20, 30, 40)], image_size=ImageSize(width=64, height=48)),
    Sample(answer="Yes", dataset="vsr", gt_boxes=[(0, 0, math.nan, 5)], image_size=ImageSize(width=1, height=1),
           box_format="norm_1000"),
    Sample(answer="", gt_boxes=[], box_format="qwen2_5_vl", completion_ids=()),
    Sample(answer="B", question="(A) cat (B) dog", image_size=ImageSize(width=5000, height=10),
           box_format="qwen2_5_vl_grit", completion_ids=tuple(range(40)) * 3, min_pixels=1, max_pixels=10**9),
    Sample(answer="0", dataset="tallyqa", box_format="cxcywh", gt_boxes=[(0, 0, 1e308, 1e308)]),
]

# (function, options, low, high)
REWARDS = [
    (format_reward, None, 0.0, 1.5),
    (format_reward, FormatOptions(mode="graded"), 0.0, 1.5),
    (count_reward, None, 0.0, 0.5),
    (answer_match_reward, None, 0.0, 1.0),
    (bleu_reward, None, 0.0, 0.1),
    (bleu_reward, BleuOptions(official_quirk=True), 0.0, 0.1),
    (iou_reward, None, 0.0, 1.0),
    (iou_reward, IoUOptions(method="union"), 0.0, 1.0),
    (iou_reward, IoUOptions(method="giou", giou_rescale=False), -1.0, 1.0),
    (iou_reward, IoUOptions(method="f1"), 0.0, 1.0),
    (box_in_image_reward, None, 0.0, 1.0),
    (repetition_reward, None, -0.5, 0.5),
    (repetition_reward, RepetitionOptions(mode="fixed"), 0.0, 0.5),
    (length_reward, None, -1.0, 0.0),
    (answer_format_reward, None, 0.0, 0.5),
    (think_format_reward, None, 0.0, 0.5),
    (grounded_format_reward, None, 0.0, 1.5),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=25), sample_index=st.integers(0, len(SAMPLES) - 1))
def test_random_completions_never_crash(parts, sample_index):
    result = gritkit.try_parse("".join(parts))
    sample = SAMPLES[sample_index]
    for fn, options, low, high in REWARDS:
        value = fn(result, sample, options)
        if value is not None:
            assert isinstance(value, float) and low - 1e-12 <= value <= high + 1e-12, (fn.__name__, options, value)


@pytest.mark.parametrize("case", load_reward_cases("cases/rewards/*.yaml"), ids=str)
def test_yaml_cases(case):
    case.check()

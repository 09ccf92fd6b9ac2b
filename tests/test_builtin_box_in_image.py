"""The ``box_in_image`` reward: valid boxes inside the image; duplicates and whole-image boxes fail."""

from __future__ import annotations

import pytest

import gritkit
from gritkit.builtin.box_in_image import BoxInImageOptions, box_in_image_reward, check_boxes
from gritkit.models import ImageSize, Sample

SIZE = ImageSize(width=100, height=50)


def reward(boxes_text: str, options: BoxInImageOptions | None = None, **sample) -> float | None:
    sample.setdefault("image_size", SIZE)
    text = f"<think>{boxes_text}</think><rethink>r</rethink><answer>x</answer>"
    return box_in_image_reward(gritkit.try_parse(text), Sample(**sample), options)


def reasons(boxes_text: str, options: BoxInImageOptions | None = None, **sample) -> list:
    sample.setdefault("image_size", SIZE)
    r = gritkit.try_parse(f"<think>{boxes_text}</think>")
    return [c.reason for c in check_boxes(r, Sample(**sample), options)]


def test_each_kind_of_failure():
    got = reasons("(0, 0, 10, 10) (0, 0, 10, 10) (10, 10, 5, 20) (90, 40, 101, 50) (0, 0, 100, 49) (1, 1, 1, 1)")
    assert got[0] is None
    assert got[1].startswith("duplicate of box 0")
    assert got[2].startswith("x1 >= x2")
    assert got[3] == "outside the 100x50 image"
    assert got[4] == "covers 98% of the image"          # 100*49 / 5000
    assert got[5].startswith("x1 >= x2")


def test_fraction_that_pass():
    # 1 of 4 pass: the duplicate, the reversed box and the out-of-range box fail
    assert reward("(0, 0, 10, 10) (0, 0, 10, 10) (10, 10, 5, 20) (90, 40, 101, 50)") == 0.25
    assert reward("(0, 0, 10, 10) (20, 20, 30, 30)") == 1.0


def test_none_cases():
    assert reward("no box") is None                           # nothing to check
    assert reward("(0, 0, 10, 10)", image_size=None) is None  # inside cannot be decided


def test_tolerance():
    assert reward("(90, 40, 101, 50)") == 0.0
    assert reward("(90, 40, 101, 50)", BoxInImageOptions(tolerance=1.0)) == 1.0
    assert reward("(-2, 0, 10, 10)", BoxInImageOptions(tolerance=1.0)) == 0.0


def test_duplicate_threshold_and_switch():
    # IoU of (0,0,10,10) and (0,0,10,9) = 90/100 = 0.9: below the default 0.95, a duplicate at 0.9
    assert reward("(0, 0, 10, 10) (0, 0, 10, 9)") == 1.0
    assert reward("(0, 0, 10, 10) (0, 0, 10, 9)", BoxInImageOptions(duplicate_iou=0.9)) == 0.5
    assert reward("(0, 0, 10, 10) (0, 0, 10, 10)", BoxInImageOptions(duplicate_iou=None)) == 1.0


def test_whole_image_threshold_and_switch():
    assert reward("(0, 0, 100, 50)") == 0.0
    assert reward("(0, 0, 100, 50)", BoxInImageOptions(whole_image_fraction=None)) == 1.0
    # 90x45 = 81% < 95%
    assert reward("(0, 0, 90, 45)") == 1.0
    assert reward("(0, 0, 90, 45)", BoxInImageOptions(whole_image_fraction=0.8)) == 0.0


def test_checks_happen_in_the_original_frame():
    # 0..1000 of a 100x50 image: (500, 500, 1000, 1000) -> (50, 25, 100, 50), inside
    assert reward("(500, 500, 1000, 1000)", box_format="norm_1000") == 1.0
    # read as pixels it would be outside
    assert reward("(500, 500, 1000, 1000)") == 0.0
    # Qwen2.5-VL frame of a 640x480 image at GRIT's budget is 504x364: (0, 209, 488, 364) is inside
    assert reward("(0, 209, 488, 364)", image_size=ImageSize(width=640, height=480),
                  box_format="qwen2_5_vl_grit") == 1.0
    # but y2 = 365 in that frame is 481.3 px: outside
    assert reward("(0, 209, 488, 365)", image_size=ImageSize(width=640, height=480),
                  box_format="qwen2_5_vl_grit") == 0.0


def test_sections_option():
    text = "<think>(0, 0, 10, 10)</think><rethink>r</rethink><answer>(0, 0, 500, 500)</answer>"
    s = Sample(image_size=SIZE)
    assert box_in_image_reward(gritkit.try_parse(text), s) == 0.5
    assert box_in_image_reward(gritkit.try_parse(text), s, BoxInImageOptions(sections=("think",))) == 1.0


def test_huge_numbers_fail_without_crashing():
    assert reward("(0, 0, " + "9" * 400 + ", 10)") == 0.0
    assert reasons("(0, 0, " + "9" * 400 + ", 10)")[0].startswith("cannot convert")


@pytest.mark.parametrize("text", ["", "<think>", "(((", "<answer>[1, 2, 3]</answer>"])
def test_malformed_completions(text):
    value = box_in_image_reward(gritkit.try_parse(text), Sample(image_size=SIZE))
    assert value is None or 0.0 <= value <= 1.0

"""Coordinate conventions: smart_resize, every built-in box format, and the converters."""

from __future__ import annotations

import ast
import importlib.util
import math
import random
from pathlib import Path

import pytest

import gritkit
from gritkit.coords import (DEFAULT_BOX_FORMAT, boxes_to_pixels, box_problem, convert_boxes, get_converter,
                            smart_resize, to_pixels)
from gritkit.errors import ConfigError
from gritkit.models import ImageSize, Sample

VGA = ImageSize(width=640, height=480)


# ---------------------------------------------------------------- smart_resize

def test_smart_resize_grit_training_frame():
    # 480x640, max 200,704: round(480/28)*28 = 476, round(640/28)*28 = 644; 476*644 = 306,544 > 200,704
    # beta = sqrt(480*640 / 200,704) = 1.23718; floor(480/1.23718/28) = floor(13.857) = 13 -> 364;
    # floor(640/1.23718/28) = floor(18.475) = 18 -> 504
    assert smart_resize(480, 640, max_pixels=200_704) == (364, 504)


def test_smart_resize_only_rounds_when_within_budget():
    # 375x500 (a VG image): round(13.39)*28 = 364, round(17.86)*28 = 504; 364*504 = 183,456 <= 200,704
    assert smart_resize(375, 500, max_pixels=200_704) == (364, 504)


def test_smart_resize_defaults_are_transformers_defaults():
    # 56*56 .. 14*14*4*1280 = 1,003,520 px: 1000x1000 rounds to 1008x1008 = 1,016,064 > max, so shrink:
    # beta = sqrt(1e6 / 1,003,520) = 0.998245; floor(1000/0.998245/28) = floor(35.777) = 35 -> 980
    assert smart_resize(1000, 1000) == (980, 980)


def test_smart_resize_grows_tiny_images():
    # 20x30: rounds to 28x28 = 784 < 3136, so beta = sqrt(3136/600) = 2.28619;
    # ceil(20*2.28619/28) = ceil(1.633) = 2 -> 56; ceil(30*2.28619/28) = ceil(2.449) = 3 -> 84
    assert smart_resize(20, 30) == (56, 84)


def test_smart_resize_rejects_extreme_aspect_ratios():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2010)


def _transformers_smart_resize():
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("transformers is not installed")
    path = Path(spec.submodule_search_locations[0]) / "models" / "qwen2_vl" / "image_processing_qwen2_vl.py"
    if not path.exists():
        pytest.skip(f"{path} not found")
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "smart_resize")
    namespace = {"math": math}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(path), "exec"), namespace)
    return namespace["smart_resize"]


def test_smart_resize_matches_the_transformers_source_on_random_sizes():
    # The function's own source, taken from the installed transformers file (importing the module
    # needs torchvision), run side by side with ours.
    reference = _transformers_smart_resize()
    rng = random.Random(0)
    budgets = [(3136, 200_704), (3136, 12_845_056), (128 * 28 * 28, 512 * 28 * 28), (56 * 56, 14 * 14 * 4 * 1280)]
    for _ in range(2000):
        h, w = rng.randint(1, 5000), rng.randint(1, 5000)
        if max(h, w) / min(h, w) > 200:
            continue
        lo, hi = rng.choice(budgets)
        assert smart_resize(h, w, 28, lo, hi) == reference(h, w, 28, lo, hi), (h, w, lo, hi)


# ---------------------------------------------------------------- conventions

def test_xyxy_is_the_default_and_the_identity():
    assert DEFAULT_BOX_FORMAT == "xyxy"
    assert to_pixels((1, 2, 3, 4), Sample()) == (1.0, 2.0, 3.0, 4.0)


@pytest.mark.parametrize("name, coords, expected", [
    # x*W/1000, y*H/1000 with W=640, H=480: 250 -> 160, 500 -> 240, 750 -> 480, 1000 -> 480
    ("norm_1000", (250, 500, 750, 1000), (160.0, 240.0, 480.0, 480.0)),
    ("qwen2_vl", (250, 500, 750, 1000), (160.0, 240.0, 480.0, 480.0)),
    ("qwen3_vl", (250, 500, 750, 1000), (160.0, 240.0, 480.0, 480.0)),
    ("internvl", (250, 500, 750, 1000), (160.0, 240.0, 480.0, 480.0)),
    # x*W/999: 999 -> 640, 0 -> 0
    ("norm_999", (0, 0, 999, 999), (0.0, 0.0, 640.0, 480.0)),
    ("deepseek_vl2", (0, 0, 999, 999), (0.0, 0.0, 640.0, 480.0)),
    # 0.5*640 = 320, 0.25*480 = 120
    ("norm_1", (0.5, 0.25, 1, 1), (320.0, 120.0, 640.0, 480.0)),
    # x, y, w, h -> x, y, x+w, y+h
    ("xywh", (10, 20, 30, 40), (10.0, 20.0, 40.0, 60.0)),
    # cx, cy, w, h -> cx-w/2, cy-h/2, cx+w/2, cy+h/2
    ("cxcywh", (100, 50, 20, 10), (90.0, 45.0, 110.0, 55.0)),
])
def test_conventions(name, coords, expected):
    assert to_pixels(coords, Sample(image_size=VGA), name) == pytest.approx(expected)


def test_qwen2_5_vl_maps_the_resized_frame_back():
    # 640x480 with max 200,704 px is seen as 504x364: x*640/504, y*480/364
    s = Sample(image_size=VGA, max_pixels=200_704, box_format="qwen2_5_vl")
    assert to_pixels((0, 0, 504, 364), s) == pytest.approx((0.0, 0.0, 640.0, 480.0))
    assert to_pixels((252, 182, 126, 91), s) == pytest.approx((320.0, 240.0, 160.0, 120.0))


def test_qwen2_5_vl_default_budget_and_the_grit_variant():
    # No budget on the sample: the released processor's 3136..12,845,056 -> only rounding: 476x644
    # (h: round(480/28)=17 -> 476; w: round(640/28)=23 -> 644), so 644 -> 640 and 476 -> 480.
    s = Sample(image_size=VGA)
    assert to_pixels((0, 0, 644, 476), s, "qwen2_5_vl") == pytest.approx((0.0, 0.0, 640.0, 480.0))
    # qwen2_5_vl_grit falls back to GRIT's 200,704 budget: 504x364
    assert to_pixels((0, 0, 504, 364), s, "qwen2_5_vl_grit") == pytest.approx((0.0, 0.0, 640.0, 480.0))
    # a budget on the sample wins over the convention's default
    s2 = Sample(image_size=VGA, max_pixels=12_845_056)
    assert to_pixels((0, 0, 644, 476), s2, "qwen2_5_vl_grit") == pytest.approx((0.0, 0.0, 640.0, 480.0))


def test_qwen2_5_vl_uses_the_trainers_resized_size_when_given():
    s = Sample(image_size=VGA, extra={"resized_width": 320, "resized_height": 240})
    assert to_pixels((160, 120, 320, 240), s, "qwen2_5_vl") == (320.0, 240.0, 640.0, 480.0)


def test_grit_readme_truck_box_in_the_training_frame():
    # GRIT's published example outputs example 2: "(0, 209, 488, 364)" from GRIT-Qwen: y2 = 364 is the bottom edge of the
    # 504x364 frame GRIT trains in. For a 640x480 COCO image it maps to x*640/504, y*480/364:
    # 209*480/364 = 275.60, 488*640/504 = 619.68, 364*480/364 = 480
    s = Sample(image_size=VGA, box_format="qwen2_5_vl_grit")
    x1, y1, x2, y2 = to_pixels((0, 209, 488, 364), s)
    assert (x1, y2) == (0.0, 480.0)
    assert y1 == pytest.approx(275.604, abs=1e-3) and x2 == pytest.approx(619.683, abs=1e-3)


@pytest.mark.parametrize("name", ["norm_1000", "norm_999", "norm_1", "qwen2_5_vl", "qwen2_5_vl_grit"])
def test_conventions_that_need_the_image_size_say_so(name):
    with pytest.raises(ValueError, match="image size"):
        to_pixels((1, 2, 3, 4), Sample(), name)


def test_unknown_convention_is_a_config_error_with_suggestions():
    with pytest.raises(ConfigError, match="Did you mean 'norm_1000'"):
        get_converter("norm_100")


def test_every_builtin_convention_is_registered():
    pm = gritkit.get_plugin_manager()
    for name in ["xyxy", "xywh", "cxcywh", "norm_1000", "norm_999", "norm_1", "qwen2_5_vl", "qwen2_5_vl_grit",
                 "qwen2_vl", "qwen3_vl", "internvl", "deepseek_vl2"]:
        info = pm.box_formats.get(name)
        assert info.plugin and info.description


def test_a_plugin_convention_is_used(grit_pm, registered):
    from gritkit.hookspecs import hookimpl

    class YXYX:
        @hookimpl
        def register_box_formats(self, register):
            register("yxyx", lambda c, s: (float(c[1]), float(c[0]), float(c[3]), float(c[2])))

    registered(YXYX())
    assert to_pixels((1, 2, 3, 4), Sample(box_format="yxyx")) == (2.0, 1.0, 4.0, 3.0)


# ---------------------------------------------------------------- validity and whole results

@pytest.mark.parametrize("box, problem", [
    ((0, 0, 1, 1), None),
    ((5, 0, 5, 1), "x1 >= x2"),
    ((0, 3, 1, 2), "y1 >= y2"),
    ((0, 0, math.inf, 1), "not finite"),
    ((math.nan, 0, 1, 1), "not finite"),
    ((0, 0, 1e200, 1e200), "area is not finite"),
])
def test_box_problem(box, problem):
    got = box_problem(*box)
    assert (got is None) if problem is None else (problem in got)


def test_boxes_to_pixels_splits_valid_and_invalid_with_reasons():
    r = gritkit.try_parse("<think>(0, 0, 500, 500) (10, 10, 5, 20)</think><rethink>(0, 0, 1000, 1000)</rethink>"
                          "<answer>(100, 100, 200, 200)</answer>")
    s = Sample(image_size=ImageSize(width=100, height=50), box_format="norm_1000")
    px = boxes_to_pixels(r, s)
    # 500/1000*100 = 50, 500/1000*50 = 25; the second box has x1 = 1 > x2 = 0.5
    assert [p for _, p in px.valid] == [(0.0, 0.0, 50.0, 25.0), (0.0, 0.0, 100.0, 50.0), (10.0, 5.0, 20.0, 10.0)]
    assert [(b.coords, why) for b, why in px.invalid] == [((10, 10, 5, 20), "x1 >= x2 (1 >= 0.5)")]
    think_only = boxes_to_pixels(r, s, sections=["think"])
    assert len(think_only.valid) == 1 and len(think_only.invalid) == 1
    assert [p for _, p in boxes_to_pixels(r, s, sections=["answer", "rethink"]).valid] == [
        (0.0, 0.0, 100.0, 50.0), (10.0, 5.0, 20.0, 10.0)]


def test_conversion_failure_is_a_reason_not_a_crash():
    r = gritkit.try_parse("<think>(1, 2, 3, 4)</think>")
    px = convert_boxes(r.boxes, Sample(), "norm_1000")
    assert px.valid == [] and "image size" in px.invalid[0][1]


def test_outside_boxes_and_section_filter():
    r = gritkit.try_parse("(1, 1, 2, 2) <think>(3, 3, 4, 4)</think>")
    assert [p for _, p in boxes_to_pixels(r, Sample(), sections=["outside"]).valid] == [(1.0, 1.0, 2.0, 2.0)]

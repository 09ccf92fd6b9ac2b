"""The ``iou`` reward and its geometry: IoU, GIoU, unions, Hungarian and greedy matching."""

from __future__ import annotations

import itertools
import random

import pytest

import gritkit
from gritkit.builtin._geometry import giou, greedy_matching, iou, max_weight_matching, union_iou
from gritkit.builtin.iou import IoUOptions, iou_reward
from gritkit.errors import ConfigError
from gritkit.models import ImageSize, Sample


def reward(boxes_text: str, gt, options: IoUOptions | None = None, **sample) -> float | None:
    text = f"<think>{boxes_text}</think><rethink>r</rethink><answer>x</answer>"
    return iou_reward(gritkit.try_parse(text), Sample(gt_boxes=gt, **sample), options)


# ---------------------------------------------------------------- geometry, by hand

def test_iou_by_hand():
    # overlap 5x10 = 50; union 100 + 100 - 50 = 150
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    # inside: 25 / 100
    assert iou((0, 0, 10, 10), (0, 0, 5, 5)) == 0.25
    # touching edges: 0
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_giou_by_hand():
    assert giou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    # disjoint: IoU 0, hull 30x10 = 300, union 200 -> -(100/300)
    assert giou((0, 0, 10, 10), (20, 0, 30, 10)) == pytest.approx(-1 / 3)
    # overlapping: IoU 1/3, hull 15x10 = 150 = union -> 1/3
    assert giou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_union_iou_by_hand():
    # two halves vs the whole: unions are equal
    assert union_iou([(0, 0, 10, 10), (10, 0, 20, 10)], [(0, 0, 20, 10)]) == pytest.approx(1.0)
    # overlapping predictions are not double counted: union 0..15 x 0..10 = 150; GT 0..10 -> 100 / 150
    assert union_iou([(0, 0, 10, 10), (5, 0, 15, 10)], [(0, 0, 10, 10)]) == pytest.approx(2 / 3)
    # one whole-image box against two small GT boxes: 2*25 / 10000
    assert union_iou([(0, 0, 100, 100)], [(0, 0, 5, 5), (50, 50, 55, 55)]) == pytest.approx(0.005)


def _brute_force(w):
    n, m = len(w), len(w[0])
    best = -1e18
    if n <= m:
        for cols in itertools.permutations(range(m), n):
            best = max(best, sum(w[i][c] for i, c in enumerate(cols)))
    else:
        for rows in itertools.permutations(range(n), m):
            best = max(best, sum(w[r][j] for j, r in enumerate(rows)))
    return best


def test_hungarian_is_optimal_on_random_matrices():
    rng = random.Random(1234)
    for _ in range(400):
        n, m = rng.randint(1, 6), rng.randint(1, 6)
        w = [[rng.choice([0.0, rng.random(), 1.0, rng.uniform(-1, 1)]) for _ in range(m)] for _ in range(n)]
        pairs = max_weight_matching(w)
        assert len(pairs) == min(n, m)
        assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
        assert sum(w[i][j] for i, j in pairs) == pytest.approx(_brute_force(w), abs=1e-9)


def test_hungarian_on_random_boxes_beats_or_ties_greedy():
    rng = random.Random(99)

    def rand_box():
        x, y = rng.uniform(0, 80), rng.uniform(0, 80)
        return (x, y, x + rng.uniform(1, 30), y + rng.uniform(1, 30))

    for _ in range(300):
        pred = [rand_box() for _ in range(rng.randint(1, 5))]
        gt = [rand_box() for _ in range(rng.randint(1, 5))]
        w = [[iou(p, g) for g in gt] for p in pred]
        exact = sum(w[i][j] for i, j in max_weight_matching(w))
        assert exact == pytest.approx(_brute_force(w), abs=1e-9)
        assert exact >= sum(w[i][j] for i, j in greedy_matching(w)) - 1e-12


def test_greedy_can_be_suboptimal():
    w = [[0.9, 0.8], [0.85, 0.0]]
    assert greedy_matching(w) == [(0, 0)]               # 0.9
    assert max_weight_matching(w) == [(0, 1), (1, 0)]   # 0.8 + 0.85 = 1.65


# ---------------------------------------------------------------- the reward

def test_none_without_ground_truth_and_floor_without_boxes():
    assert reward("(0, 0, 10, 10)", []) is None
    assert reward("(0, 0, 10, 10)", [(5, 5, 5, 9)]) is None          # no valid GT box
    assert reward("no box here", [(0, 0, 10, 10)]) == 0.0
    assert reward("(10, 10, 0, 0)", [(0, 0, 10, 10)]) == 0.0          # only an invalid box
    assert reward("no box", [(0, 0, 10, 10)], IoUOptions(method="giou", giou_rescale=False)) == -1.0


@pytest.mark.parametrize("method, expected", [
    # pred A = (0,0,10,10) matches GT1 exactly; pred B = (20,0,30,10) overlaps GT2 = (25,0,35,10):
    # 50 / (100 + 100 - 50) = 1/3
    ("hungarian", (1 + 1 / 3) / 2),
    ("greedy", (1 + 1 / 3) / 2),
    # at threshold 0.5 one pair matches: precision 1/2, recall 1/2, F1 2*1/(2+2)
    ("f1", 0.5), ("precision", 0.5), ("recall", 0.5),
    # unions: pred area 200, GT area 200, intersection 100 + 50 = 150, union 250
    ("union", 150 / 250),
    # GIoU: pair 1 = 1; pair 2 = 1/3 - (150 - 150)/150 = 1/3; mean 2/3, rescaled (2/3 + 1) / 2
    ("giou", (2 / 3 + 1) / 2),
])
def test_methods_by_hand(method, expected):
    got = reward("(0, 0, 10, 10) (20, 0, 30, 10)", [(0, 0, 10, 10), (25, 0, 35, 10)], IoUOptions(method=method))
    assert got == pytest.approx(expected)


def test_duplicates_do_not_pay_under_one_to_one_matching():
    # a peer project's issue (Visual-RFT #32): ten copies of one correct box. Hungarian: 1 / max(10, 1); union: 1.0 (hackable)
    ten = " ".join(["(0, 0, 10, 10)"] * 10)
    assert reward(ten, [(0, 0, 10, 10)]) == pytest.approx(0.1)
    assert reward(ten, [(0, 0, 10, 10)], IoUOptions(method="f1")) == pytest.approx(2 / 11)
    assert reward(ten, [(0, 0, 10, 10)], IoUOptions(method="union")) == 1.0


def test_whole_image_box_against_small_targets():
    # a peer project's issue / docs/rewards.md: one whole-image box vs two small GT boxes
    gt = [(0, 0, 5, 5), (50, 50, 55, 55)]
    assert reward("(0, 0, 100, 100)", gt, IoUOptions(method="union")) == pytest.approx(0.005)
    # hungarian: 25/10000 for one GT, the other unmatched: 0.0025 / 2
    assert reward("(0, 0, 100, 100)", gt) == pytest.approx(0.00125)


def test_invalid_boxes_count_as_unmatched_predictions():
    # the reversed box is a prediction that matched nothing: (1 + 0) / 2
    assert reward("(0, 0, 10, 10) (10, 10, 0, 0)", [(0, 0, 10, 10)]) == pytest.approx(0.5)
    assert reward("(0, 0, 10, 10) (10, 10, 0, 0)", [(0, 0, 10, 10)], IoUOptions(count_invalid=False)) == 1.0


def test_boxes_are_compared_in_the_original_frame():
    # GT in 640x480 pixels; the model writes 0..1000 (InternVL) or Qwen2.5-VL's 504x364 frame
    gt = [(320.0, 240.0, 640.0, 480.0)]
    size = ImageSize(width=640, height=480)
    assert reward("(500, 500, 1000, 1000)", gt, box_format="norm_1000", image_size=size) == pytest.approx(1.0)
    assert reward("(252, 182, 504, 364)", gt, box_format="qwen2_5_vl", image_size=size,
                  max_pixels=200_704) == pytest.approx(1.0)
    # the same numbers read as pixels: (252,182)-(504,364) vs (320,240)-(640,480):
    # overlap 184*124 = 22,816; union 45,864 + 76,800 - 22,816 = 99,848
    assert reward("(252, 182, 504, 364)", gt, image_size=size) == pytest.approx(22816 / 99848)
    # the option overrides the sample
    assert reward("(500, 500, 1000, 1000)", gt, IoUOptions(box_format="internvl"), image_size=size) == 1.0


def test_a_conversion_that_needs_the_size_without_it_gives_the_floor():
    assert reward("(500, 500, 1000, 1000)", [(0, 0, 10, 10)], box_format="norm_1000") == 0.0


def test_unknown_box_format_is_an_error_not_a_zero():
    with pytest.raises(ConfigError):
        reward("(0, 0, 10, 10)", [(0, 0, 10, 10)], box_format="norm_100")


def test_sections_option():
    text = "<think>(0, 0, 10, 10)</think><rethink>r</rethink><answer>(50, 50, 60, 60)</answer>"
    s = Sample(gt_boxes=[(50, 50, 60, 60)])
    assert iou_reward(gritkit.try_parse(text), s, IoUOptions(sections=("answer",))) == 1.0
    assert iou_reward(gritkit.try_parse(text), s, IoUOptions(sections=("think",))) == 0.0
    assert iou_reward(gritkit.try_parse(text), s) == 0.5


def test_large_inputs_fall_back_to_greedy():
    boxes = " ".join(f"({i}, 0, {i + 1}, 1)" for i in range(30))
    gt = [(i, 0, i + 1, 1) for i in range(30)]
    opts = IoUOptions(max_pairs=100)   # 30 x 30 = 900 pairs > 100: greedy, which is exact here
    assert reward(boxes, gt, opts) == pytest.approx(1.0)
    assert reward(boxes, gt) == pytest.approx(1.0)


def test_nan_and_huge_coordinates_never_crash():
    assert reward("(0, 0, " + "9" * 400 + ", 10)", [(0, 0, 10, 10)]) == 0.0
    assert reward("(0, 0, 10, 10)", [(0, 0, float("nan"), 10)]) is None


def test_absurd_coordinates_terminate():
    # areas that overflow a float once made the Hungarian potentials NaN (an endless loop):
    # such a GT box is invalid now, and the matcher refuses non-finite weights
    assert reward("(0, 0, 10, 10)", [(0, 0, 1e308, 1e308)]) is None
    # the 1e200 GT box is dropped; (0,0,10,10) matches (0,0,5,5) with 25/100, over max(2 preds, 1 GT)
    assert reward("(0, 0, 10, 10) (1, 1, 2, 2)", [(0, 0, 1e200, 1e200), (0, 0, 5, 5)]) == pytest.approx(0.125)
    with pytest.raises(ValueError):
        max_weight_matching([[float("nan"), 1.0]])
    assert giou((0, 0, 1, 1), (1e300, 1e300, 1e300 + 1e290, 1e300 + 1e290)) == -1.0


def test_union_fast_path_agrees_with_shapely():
    # disjoint sets take exact sums; compare with Shapely's polygon union on random disjoint layouts
    import shapely

    rng = random.Random(3)

    def grid_boxes(k, offset):
        cells = rng.sample(range(25), k)
        return [(c % 5 * 20 + offset, c // 5 * 20 + offset, c % 5 * 20 + offset + rng.uniform(5, 19),
                 c // 5 * 20 + offset + rng.uniform(5, 19)) for c in cells]

    for _ in range(200):
        pred, gt = grid_boxes(rng.randint(1, 6), rng.uniform(0, 10)), grid_boxes(rng.randint(1, 6), 0.0)
        p = shapely.union_all([shapely.box(*b) for b in pred])
        g = shapely.union_all([shapely.box(*b) for b in gt])
        expected = p.intersection(g).area / p.union(g).area
        assert union_iou(pred, gt) == pytest.approx(expected, abs=1e-9)

"""Union IoU (GRIT's grounding metric) is near-linear in the number of boxes and gives,
box for box, the same values as the quadratic algorithm it replaced (kept below as the
reference)."""

from __future__ import annotations

import math
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gritkit.builtin import _geometry
from gritkit.builtin._geometry import union_iou

shapely = pytest.importorskip("shapely")


# ---------------------------------------------------------------- the old algorithm, verbatim

def _reference_intersection(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    return iw * ih if iw > 0 and ih > 0 else 0.0


def _reference_disjoint(boxes):
    n = len(boxes)
    return all(_reference_intersection(boxes[i], boxes[j]) == 0.0 for i in range(n) for j in range(i + 1, n))


def reference_union_iou(pred, gt):
    """``union_iou`` as it was before the STRtree: every pair compared (O(n^2))."""
    import numpy as np

    if not pred or not gt:
        return 0.0
    if len(pred) == 1 and len(gt) == 1:
        return _geometry.iou(pred[0], gt[0])
    if _reference_disjoint(pred) and _reference_disjoint(gt):
        inter = sum(_reference_intersection(p, g) for p in pred for g in gt)
        union = sum(map(_geometry.area, pred)) + sum(map(_geometry.area, gt)) - inter
        value = inter / union if union > 0 else 0.0
        return value if math.isfinite(value) else 0.0
    with np.errstate(all="ignore"):
        p = shapely.union_all(shapely.box(*zip(*pred)))
        g = shapely.union_all(shapely.box(*zip(*gt)))
        union = float(shapely.area(shapely.union(p, g)))
        inter = float(shapely.area(shapely.intersection(p, g)))
    value = inter / union if union > 0 else 0.0
    return value if math.isfinite(value) else 0.0


# ---------------------------------------------------------------- identical values

@st.composite
def boxes(draw, max_size=25):
    """Boxes on a coarse grid (many touch, share edges or coincide) or anywhere."""
    coarse = draw(st.booleans())
    n = draw(st.integers(0, max_size))
    out = []
    for _ in range(n):
        if coarse:
            x, y = draw(st.integers(0, 6)), draw(st.integers(0, 6))
            w, h = draw(st.integers(1, 4)), draw(st.integers(1, 4))
            out.append((float(x), float(y), float(x + w), float(y + h)))
        else:
            x = draw(st.floats(-1e3, 1e3))
            y = draw(st.floats(-1e3, 1e3))
            w = draw(st.floats(1e-3, 300))
            h = draw(st.floats(1e-3, 300))
            if x + w > x and y + h > y:
                out.append((x, y, x + w, y + h))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(boxes(), boxes())
def test_same_values_as_the_quadratic_reference(pred, gt):
    assert union_iou(pred, gt) == reference_union_iou(pred, gt)
    # one list passed as both sides
    assert union_iou(pred, pred) == reference_union_iou(pred, pred)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(1, 3), st.integers(1, 3)),
                min_size=2, max_size=60))
def test_disjointness_matches_the_pairwise_test(cells):
    boxes_ = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in cells]
    assert _geometry._disjoint(boxes_) == _reference_disjoint(boxes_)


def test_same_values_on_larger_random_layouts():
    rng = random.Random(9)
    for _ in range(40):
        n, m = rng.randint(50, 300), rng.randint(1, 60)
        spread = rng.choice([50.0, 500.0, 5000.0])

        def layout(k):
            out = []
            for _ in range(k):
                x, y = rng.uniform(0, spread), rng.uniform(0, spread)
                out.append((x, y, x + rng.uniform(1, 40), y + rng.uniform(1, 40)))
            return out

        pred, gt = layout(n), layout(m)
        assert union_iou(pred, gt) == reference_union_iou(pred, gt)
        # disjoint layouts take the exact-sum path: a grid of cells
        cells = rng.sample(range(400), n if n < 400 else 399)
        pred = [(c % 20 * 10.0, c // 20 * 10.0, c % 20 * 10.0 + rng.uniform(1, 10), c // 20 * 10.0 + 9.5)
                for c in cells]
        assert union_iou(pred, gt[:1] + [(500.0, 500.0, 501.0, 501.0)]) == reference_union_iou(
            pred, gt[:1] + [(500.0, 500.0, 501.0, 501.0)])


def test_crossing_strips_take_the_polygon_union():
    # two disjoint sets that cross in n * m pairs: past the exact-sum bound, Shapely's union
    # gives the same value up to rounding
    rows = [(0.0, 2.0 * i, 200.0, 2.0 * i + 1) for i in range(100)]
    cols = [(2.0 * j, 0.0, 2.0 * j + 1, 200.0) for j in range(100)]
    assert len(rows) * len(cols) > _geometry._exact_pair_limit(len(rows), len(cols))
    assert union_iou(rows, cols) == pytest.approx(reference_union_iou(rows, cols), rel=1e-12)


# ---------------------------------------------------------------- growth

def _best_time(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _grid(n, offset=0.0):
    k = int(math.isqrt(n)) + 1
    return [((i % k) * 10.0 + offset, (i // k) * 10.0 + offset, (i % k) * 10.0 + 8 + offset,
             (i // k) * 10.0 + 8 + offset) for i in range(n)]


@pytest.mark.parametrize("layout", ["disjoint", "identical"])
def test_cost_grows_near_linearly(layout):
    # 8x the boxes: a linear algorithm costs about 8x (n log n a little more), the old
    # pairwise one 64x. Timed as a ratio of best times, so machine load mostly cancels out.
    def case(n):
        if layout == "disjoint":
            return _grid(n), _grid(n // 2, offset=3.0)
        return [(0.0, 0.0, 10.0, 10.0)] * n, [(0.0, 0.0, 5.0, 5.0)]

    small, large = case(500), case(4000)
    union_iou(*small)   # imports and warm-up
    t_small = _best_time(lambda: union_iou(*small), repeat=9)
    t_large = _best_time(lambda: union_iou(*large), repeat=3)
    # measured about 12x (n log n and cache effects); 32 sits between that and the quadratic 64x
    assert t_large / t_small < 32, (t_small, t_large)

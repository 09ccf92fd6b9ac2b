"""Box geometry for the built-in rewards: IoU, GIoU, unions, one-to-one matching.

Not a plugin (the name starts with ``_``). Boxes are ``(x1, y1, x2, y2)`` tuples
of floats in one pixel frame, already validated (``x1 < x2``, ``y1 < y2``,
finite). Rectangle IoU and GIoU are exact arithmetic; Shapely is used only where
geometry is not a single rectangle (the union of several boxes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

BoxT = tuple  # (x1, y1, x2, y2)


def area(b: BoxT) -> float:
    """Area of a box."""
    return (b[2] - b[0]) * (b[3] - b[1])


def iou(a: BoxT, b: BoxT) -> float:
    """Intersection over union of two axis-aligned boxes (continuous coordinates).

    >>> iou((0, 0, 10, 10), (5, 0, 15, 10))   # 50 / (100 + 100 - 50)
    0.3333333333333333
    """
    iw = min(a[2], b[2]) - max(a[0], b[0])
    if iw <= 0:
        return 0.0
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    value = inter / union if union > 0 else 0.0
    return value if math.isfinite(value) else 0.0


def giou(a: BoxT, b: BoxT) -> float:
    """Generalised IoU (Rezatofighi et al. 2019): ``IoU - (C - U) / C``, in ``[-1, 1]``,
    where ``C`` is the area of the smallest box enclosing both and ``U`` their union.

    >>> giou((0, 0, 10, 10), (20, 0, 30, 10))   # IoU 0, C = 300, U = 200
    -0.3333333333333333
    """
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = area(a) + area(b) - inter
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    if not union > 0:
        return -1.0
    overlap = inter / union
    if not math.isfinite(hull):   # astronomically far apart: the hull term is 1
        return overlap - 1.0 if math.isfinite(overlap) else -1.0
    value = overlap - (hull - union) / hull
    return value if math.isfinite(value) else -1.0


def _intersection(a: BoxT, b: BoxT) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    return iw * ih if iw > 0 and ih > 0 else 0.0


def _as_array(boxes: Sequence[BoxT]):
    import numpy as np

    return np.asarray(boxes, dtype=float).reshape(-1, 4)


def _overlap(a, b):
    """Row-wise: the boxes ``a[k]`` and ``b[k]`` overlap with positive area, computed as
    :func:`_intersection` does (same float operations, so the same verdicts)."""
    import numpy as np

    with np.errstate(all="ignore"):
        iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
        ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
        return (iw > 0) & (ih > 0) & (iw * ih != 0.0)


def _meeting_pairs(a: Sequence[BoxT], b: Optional[Sequence[BoxT]] = None, limit: Optional[int] = None,
                   stop_on_overlap: bool = False):
    """Index pairs ``(i, j)`` of boxes ``a[i]``, ``b[j]`` whose closed rectangles meet, sorted.

    A superset of the pairs that overlap with positive area: an STRtree on ``b`` is
    queried with chunks of ``a`` (envelope tests, inclusive). Chunks start small and
    double, so a query stops early and never holds more than ``chunk * len(b)`` pairs.
    Without ``b``, the pairs within ``a`` (``i < j``). Returns ``None`` when there
    are more than ``limit`` pairs, or, with ``stop_on_overlap``, as soon as a pair
    overlaps with positive area.
    """
    import numpy as np
    import shapely

    same = b is None
    fa = _as_array(a)
    fb = fa if same else _as_array(b)
    with np.errstate(all="ignore"):
        tree = shapely.STRtree(shapely.box(fb[:, 0], fb[:, 1], fb[:, 2], fb[:, 3]))
    found = []
    count = 0
    start, chunk = 0, 16
    while start < len(fa):
        part = fa[start:start + chunk]
        with np.errstate(all="ignore"):
            i, j = tree.query(shapely.box(part[:, 0], part[:, 1], part[:, 2], part[:, 3]))
        i = i + start
        start += chunk
        chunk = min(chunk * 2, 4096)
        if same:
            keep = i < j
            i, j = i[keep], j[keep]
        if stop_on_overlap and _overlap(fa[i], fb[j]).any():
            return None
        count += len(i)
        if limit is not None and count > limit:
            return None
        found.append((i, j))
    if not found:
        return []
    i = np.concatenate([x for x, _ in found])
    j = np.concatenate([y for _, y in found])
    order = np.lexsort((j, i))
    return list(zip(i[order].tolist(), j[order].tolist()))


def _disjoint(boxes: Sequence[BoxT]) -> bool:
    """No two boxes overlap with positive area (touching is allowed); near-linear."""
    if len(boxes) < 2:
        return True
    return _meeting_pairs(boxes, stop_on_overlap=True) is not None


def _exact_pair_limit(n: int, m: int) -> int:
    # two disjoint sets meet in O(n + m) pairs unless arranged as crossing strips; past this
    # bound the Shapely union is cheaper than the exact pairwise sum
    return 16 * (n + m) + 4096


def union_iou(pred: Sequence[BoxT], gt: Sequence[BoxT]) -> float:
    """IoU of the union of ``pred`` with the union of ``gt`` (GRIT's grounding metric):
    ``area(UP & UG) / area(UP | UG)``.

    When the predicted boxes do not overlap each other and neither do the
    ground-truth boxes, the areas are exact sums (each ``P_i & G_j`` is disjoint
    from the others); otherwise Shapely computes the polygon unions. Near-linear in
    the number of boxes: an STRtree finds the pairs that meet, so 10,000 boxes take
    a small fraction of a second. Two disjoint sets that cross in more than
    ``16 (n + m) + 4096`` pairs (a grid of strips) take the Shapely path too.

    >>> union_iou([(0, 0, 10, 10), (10, 0, 20, 10)], [(0, 0, 20, 10)])
    1.0
    """
    if not pred or not gt:
        return 0.0
    if len(pred) == 1 and len(gt) == 1:
        return iou(pred[0], gt[0])
    if _disjoint(pred) and _disjoint(gt):
        pairs = _meeting_pairs(pred, gt, limit=_exact_pair_limit(len(pred), len(gt)))
        if pairs is not None:
            # the same terms in the same order as summing over every pair (the others are 0)
            inter = sum(_intersection(pred[i], gt[j]) for i, j in pairs)
            union = sum(map(area, pred)) + sum(map(area, gt)) - inter
            value = inter / union if union > 0 else 0.0
            return value if math.isfinite(value) else 0.0
    import numpy as np
    import shapely

    with np.errstate(all="ignore"):   # overflow on absurd coordinates gives a non-finite value, handled below
        p = shapely.union_all(shapely.box(*zip(*pred)))
        g = shapely.union_all(shapely.box(*zip(*gt)))
        union = float(shapely.area(shapely.union(p, g)))
        inter = float(shapely.area(shapely.intersection(p, g)))
    value = inter / union if union > 0 else 0.0
    return value if math.isfinite(value) else 0.0


def pair_matrix(pred: Sequence[BoxT], gt: Sequence[BoxT], fn=iou) -> list[list[float]]:
    """``fn(p, g)`` for every predicted box (rows) and ground-truth box (columns)."""
    return [[fn(p, g) for g in gt] for p in pred]


def max_weight_matching(weights: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """One-to-one assignment of rows to columns maximising the total weight.

    The Hungarian (Kuhn-Munkres) algorithm with potentials, O(n^2 m) for an
    ``n x m`` matrix with ``n <= m`` (the matrix is transposed otherwise). Exactly
    ``min(n, m)`` pairs are returned, sorted by row.

    Raises:
        ValueError: a weight is not finite (the potentials would never settle).

    >>> max_weight_matching([[0.9, 0.8], [0.85, 0.0]])   # 0.8 + 0.85 beats 0.9 + 0.0
    [(0, 1), (1, 0)]
    """
    n = len(weights)
    m = len(weights[0]) if n else 0
    if n == 0 or m == 0:
        return []
    if not all(math.isfinite(x) for row in weights for x in row):
        raise ValueError("max_weight_matching needs finite weights")
    transposed = n > m
    w = [list(col) for col in zip(*weights)] if transposed else weights
    if transposed:
        n, m = m, n
    inf = float("inf")
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    owner = [0] * (m + 1)   # owner[j]: row (1-based) assigned to column j, 0 = none
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = owner[j0]
            row = w[i0 - 1]
            ui0 = u[i0]
            delta = inf
            j1 = 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = -row[j - 1] - ui0 - v[j]   # minimise the negated weight
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    pairs = [(owner[j] - 1, j - 1) for j in range(1, m + 1) if owner[j]]
    if transposed:
        pairs = [(r, c) for c, r in pairs]
    return sorted(pairs)


def greedy_matching(weights: Sequence[Sequence[float]], minimum: float = 0.0) -> list[tuple[int, int]]:
    """One-to-one matching that repeatedly takes the heaviest pair of unmatched
    row and column, for weights strictly above ``minimum`` (ties: lower row, then column).

    >>> greedy_matching([[0.9, 0.8], [0.85, 0.0]])   # takes 0.9 first, then nothing is left above 0
    [(0, 0)]
    """
    pairs = sorted(((w, i, j) for i, row in enumerate(weights) for j, w in enumerate(row) if w > minimum),
                   key=lambda t: (-t[0], t[1], t[2]))
    rows: set = set()
    cols: set = set()
    out = []
    for _, i, j in pairs:
        if i not in rows and j not in cols:
            rows.add(i)
            cols.add(j)
            out.append((i, j))
    return sorted(out)

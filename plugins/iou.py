"""``iou``: predicted boxes vs ground-truth boxes, both in original-image pixels.

Predicted boxes are converted through the sample's coordinate convention
(:mod:`gritkit.coords`) before any comparison; ground-truth boxes are already
original-image pixels. Methods: GRIT's ``union`` metric, one-to-one
``hungarian`` or ``greedy`` matching, ``f1``/``precision``/``recall`` at an IoU
threshold, and ``giou``.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from gritkit.coords import box_problem, convert_boxes
from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import SectionName, SectionOptions, select_boxes
from ._geometry import giou, greedy_matching, max_weight_matching, pair_matrix, union_iou

Method = Literal["union", "hungarian", "greedy", "f1", "precision", "recall", "giou"]


class IoUOptions(SectionOptions):
    """Options of the ``iou`` reward."""

    method: Method = Field(
        "hungarian", description="'union': IoU of the union of predicted with the union of GT boxes (GRIT's "
                                 "metric); 'hungarian'/'greedy': one-to-one matching, sum of matched IoU over "
                                 "max(n_pred, n_gt); 'f1'/'precision'/'recall': one-to-one matches with IoU >= "
                                 "threshold; 'giou': matched generalised IoU")
    threshold: float = Field(0.5, ge=0, le=1, description="f1/precision/recall: IoU at which a pair matches")
    sections: Optional[tuple[SectionName, ...]] = Field(
        None, description="sections whose boxes are predictions (None: every box, as GRIT's metric)")
    box_format: Optional[str] = Field(
        None, description="coordinate convention of the predicted boxes; None: Sample.box_format, else xyxy")
    count_invalid: bool = Field(
        True, description="matching methods: boxes that are not valid (x1 >= x2, not finite, not convertible) "
                          "count as unmatched predictions")
    giou_rescale: bool = Field(True, description="giou: map [-1, 1] to [0, 1] as (g + 1) / 2")
    max_pairs: int = Field(
        4096, ge=1, description="above n_pred * n_gt pairs, matching is greedy instead of Hungarian "
                                "(Hungarian is O(n^2 m) in pure Python)")


DEFAULT = IoUOptions()


def _match(weights, exact: bool):
    return max_weight_matching(weights) if exact else greedy_matching(weights)


def iou_reward(result: ParseResult, sample: Sample, options: Optional[IoUOptions] = None) -> Optional[float]:
    """Overlap of the predicted boxes with the ground-truth boxes.

    Range ``[0, 1]`` (``giou`` without rescaling: ``[-1, 1]``). ``None`` when the
    sample has no valid ground-truth box. The floor (0, or -1 for raw GIoU)
    when the completion has no valid box.

    Example:
        >>> import gritkit
        >>> r = gritkit.try_parse("<think>(0, 0, 10, 10) (0, 0, 10, 10)</think><rethink>r</rethink><answer>1")
        >>> s = Sample(gt_boxes=[(0, 0, 10, 10)])
        >>> iou_reward(r, s)   # the duplicate is an unmatched prediction: (1 + 0) / 2
        0.5
        >>> iou_reward(r, s, IoUOptions(method="union"))
        1.0
    """
    o = options or DEFAULT
    gt = [b for b in sample.gt_boxes if box_problem(*b) is None]
    if not gt:
        return None
    method = o.method
    floor = -1.0 if method == "giou" and not o.giou_rescale else 0.0
    boxes = select_boxes(result, o._keys)
    if not boxes:
        return floor
    converted = convert_boxes(boxes, sample, o.box_format)
    pred = [px for _, px in converted.valid]
    if not pred:
        return floor
    if method == "union":
        return union_iou(pred, gt)
    n_pred = len(pred) + (len(converted.invalid) if o.count_invalid else 0)
    n_gt = len(gt)
    exact = len(pred) * n_gt <= o.max_pairs
    if method in ("hungarian", "greedy"):
        w = pair_matrix(pred, gt)
        pairs = _match(w, exact and method == "hungarian")
        return sum(w[i][j] for i, j in pairs) / max(n_pred, n_gt)
    if method == "giou":
        w = pair_matrix(pred, gt, giou)
        # match on g + 1 >= 0 so that greedy keeps every pair; unmatched boxes count as -1
        pairs = _match([[g + 1.0 for g in row] for row in w], exact)
        denominator = max(n_pred, n_gt)
        value = (sum(w[i][j] for i, j in pairs) - (denominator - len(pairs))) / denominator
        return (value + 1.0) / 2.0 if o.giou_rescale else value
    t = o.threshold
    w = [[1.0 if v >= t else 0.0 for v in row] for row in pair_matrix(pred, gt)]
    matched = sum(w[i][j] for i, j in _match(w, exact))
    if method == "precision":
        return matched / n_pred
    if method == "recall":
        return matched / n_gt
    return 2.0 * matched / (n_pred + n_gt)


@hookimpl
def register_rewards(register) -> None:
    register(iou_reward, name="iou", requires=("gt_boxes",), options=IoUOptions,
             description="predicted vs GT boxes in original pixels: union, hungarian, greedy, f1, giou")

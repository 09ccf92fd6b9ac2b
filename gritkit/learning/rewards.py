"""The experiment's anti-hedging reward, ``center_iou``, as a gritkit reward plugin.

Continuous IoU rewards hedge: when the policy is unsure which square is the red
one, one large box over the middle of the image earns more expected IoU than a
tight box on any single square. ``center_iou`` pays a predicted box's IoU with a
ground-truth box only when the predicted box's *centre* lies inside that
ground-truth box: a committed, tight box on the right object keeps its IoU; a
hedge, whose centre sits between the objects, earns nothing; a tight box on the
wrong object earns nothing. Boxes are matched one to one (Hungarian) and the sum
is divided by ``max(n_pred, n_gt)``, as the ``iou`` reward's ``hungarian`` method.

:func:`register` adds the plugin to gritkit's plugin manager (idempotent), after
which ``{"name": "center_iou"}`` works in any reward config, ``to_trl`` included.

Example:
    >>> import gritkit
    >>> from gritkit.models import Sample
    >>> s = Sample(gt_boxes=[(10, 10, 20, 20)])
    >>> center_iou_reward(gritkit.try_parse("<think>(10,10,20,20)</think>"), s)
    1.0
    >>> center_iou_reward(gritkit.try_parse("<think>(0,0,56,56)</think>"), s)   # the hedge
    0.0
"""

from __future__ import annotations

from typing import Optional

from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

PLUGIN_NAME = "gritkit-learning"


def center_iou_reward(result: ParseResult, sample: Sample) -> Optional[float]:
    """Hungarian-matched IoU, a pair counting only when the predicted centre is inside the GT box.

    Range ``[0, 1]``; ``None`` without a valid ground-truth box; 0 without a
    valid predicted box.
    """
    from gritkit.boxes import iou, match
    from gritkit.coords import box_problem, convert_boxes

    gt = [b for b in sample.gt_boxes if box_problem(*b) is None]
    if not gt:
        return None
    converted = convert_boxes(result.boxes, sample)
    pred = [px for _, px in converted.valid]
    if not pred:
        return 0.0

    def weight(p, g):
        cx, cy = (p[0] + p[2]) / 2, (p[1] + p[3]) / 2
        return iou(p, g) if g[0] <= cx <= g[2] and g[1] <= cy <= g[3] else 0.0

    w = [[weight(p, g) for g in gt] for p in pred]
    pairs = match(w)
    return sum(w[i][j] for i, j in pairs) / max(len(pred) + len(converted.invalid), len(gt))


@hookimpl
def register_rewards(register) -> None:
    register(center_iou_reward, name="center_iou",
             description="anti-hedging IoU: matched IoU counted only when the predicted centre is inside the GT box")


def register() -> None:
    """Add this module to gritkit's plugin manager, once."""
    import sys

    from gritkit.plugins import get_plugin_manager

    pm = get_plugin_manager()
    if pm.get_plugin(PLUGIN_NAME) is None:
        pm.add_plugin(sys.modules[__name__], name=PLUGIN_NAME)

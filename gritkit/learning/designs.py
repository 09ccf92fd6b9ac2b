"""The experiment's arms: reward designs as gritkit reward configs.

Every arm trains with GRIT's format reward (paper mode: 0.5 per ordered
think/rethink pair, 0.5 for a box) plus one box or answer term:

==============  =====================================================================
arm             rewards
==============  =====================================================================
``real``        format + ``iou`` (Hungarian matching), the true ground truth
``control``     the same rewards with the ground truth shuffled across prompts
``iou_union``   format + ``iou`` (``union``: GRIT's grounding metric as a reward)
``giou``        format + ``iou`` (``giou``, rescaled to [0, 1])
``f1_50``       format + ``iou`` (``f1`` at IoU 0.5: pass/fail per box)
``grit``        the ``grit`` preset: format, count, answer (answer_match standing in for
                the judge) and 0.1 BLEU; no box labels, as GRIT trains
``center_iou``  format + :mod:`gritkit.learning.rewards`' anti-hedging ``center_iou``
==============  =====================================================================

``real`` and ``control`` differ only in the data; comparing them separates what
the reward's *content* teaches from what any reward of that shape does (format,
box size, a favourite central box).
"""

from __future__ import annotations

from typing import Any

FORMAT = {"name": "format", "options": {"mode": "paper"}}

DESIGNS: dict[str, Any] = {
    "real": {"rewards": [FORMAT, {"name": "iou", "options": {"method": "hungarian"}}]},
    "iou_union": {"rewards": [FORMAT, {"name": "iou", "options": {"method": "union"}}]},
    "giou": {"rewards": [FORMAT, {"name": "iou", "options": {"method": "giou"}}]},
    "f1_50": {"rewards": [FORMAT, {"name": "iou", "options": {"method": "f1", "threshold": 0.5}}]},
    "grit": "grit",
    "center_iou": {"rewards": [FORMAT, {"name": "center_iou"}]},
}
"""Arm name -> reward config (a dict for :func:`gritkit.config.load_config`, or a preset name)."""

CONTROL_OF = {"control": "real"}
"""Control arms: same rewards as the named design, ground truth shuffled across prompts."""

ARMS = ("real", "control", "iou_union", "giou", "f1_50", "grit", "center_iou")
"""Every arm, in table order."""

#: The probe logged (weight 0) in every arm: Hungarian IoU against the *true* boxes.
PROBE = {"rewards": [{"name": "iou", "as": "true_iou", "weight": 0.0, "options": {"method": "hungarian"}}]}


def reward_config(arm: str) -> Any:
    """The reward config of ``arm`` (a control uses its design's)."""
    if arm in CONTROL_OF:
        arm = CONTROL_OF[arm]
    if arm not in DESIGNS:
        from gritkit.errors import ConfigError, unknown_name_message

        raise ConfigError(unknown_name_message("experiment arm", arm, ARMS))
    return DESIGNS[arm]


def is_control(arm: str) -> bool:
    return arm in CONTROL_OF

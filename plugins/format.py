"""``format``: GRIT's grounded-reasoning format reward (paper §3: ``r_format = s_st + s_bf``).

``paper`` mode: ``pair_value`` (0.5) for a correct think pair, ``pair_value`` for a
correct rethink pair, ``box_value`` (0.5) for at least one box in the reasoning.
``graded`` mode: the structure term shrinks with every deviation the parser's
recovery had to make. See docs/rewards.md for the exact rules.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal, Optional

from pydantic import Field

from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample, Section

from ._common import RewardOptions, SectionName, is_finite_box, section_keys

#: Cost of each parser deviation, as a fraction of the structure term (graded mode).
DEFAULT_DEVIATION_COSTS = {
    "missing_section": 0.5,
    "out_of_order": 0.5,
    "repeated_section": 0.5,
    "unclosed_section": 0.25,
    "missing_open_tag": 0.25,
    "stray_tag": 0.25,
    "nested_tag": 0.25,
    "not_a_box": 0.1,
}


class FormatOptions(RewardOptions):
    """Options of the ``format`` reward."""

    mode: Literal["paper", "graded"] = Field(
        "paper", description="'paper': 0.5 per correct think/rethink pair + 0.5 for a box; "
                             "'graded': the structure term shrinks with each parser deviation")
    pair_value: float = Field(0.5, ge=0, description="value of each correct section pair (think, rethink)")
    box_value: float = Field(0.5, ge=0, description="value of having at least one finite box")
    box_sections: tuple[SectionName, ...] = Field(
        ("think", "rethink"), description="sections whose boxes count for the box term")
    deviation_costs: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_DEVIATION_COSTS),
        description="graded mode: fraction of the structure term each deviation code costs")
    default_cost: float = Field(
        0.25, ge=0, description="graded mode: cost of a deviation code missing from deviation_costs, "
                                "and of a failed parse that reports no deviation")
    normalize: bool = Field(False, description="divide by the maximum (2*pair_value + box_value) to get [0, 1]")

    @cached_property
    def _box_keys(self):
        return section_keys(self.box_sections)

    @cached_property
    def _maximum(self) -> float:
        return 2 * self.pair_value + self.box_value


DEFAULT = FormatOptions()


def _pair_ok(result: ParseResult, kind: str, before: tuple, after: tuple) -> bool:
    """One section of ``kind``, both tags written, no stray or nested tag of it,
    after every section of the kinds ``before`` and before those of ``after``."""
    mine: Optional[Section] = None
    for s in result.sections:
        if s.kind == kind:
            if mine is not None:
                return False
            mine = s
    if mine is None or not mine.closed or mine.start == mine.body_start:
        return False
    text = result.text
    open_tag = text[mine.start:mine.body_start]
    close_tag = text[mine.body_end:mine.end]
    for d in result.deviations:
        if d.code in ("stray_tag", "nested_tag") and (
                text.startswith(close_tag, d.offset) or text.startswith(open_tag, d.offset)):
            return False
    for s in result.sections:
        if (s.kind in before and s.start > mine.start) or (s.kind in after and s.start < mine.start):
            return False
    return True


def _has_box(result: ParseResult, keys) -> bool:
    for b in result.boxes:
        if (keys is None or b.section in keys) and is_finite_box(b):
            return True
    return False


def format_reward(result: ParseResult, sample: Sample, options: Optional[FormatOptions] = None) -> float:
    """GRIT's grounded-reasoning format reward.

    Range ``[0, 2*pair_value + box_value]`` (``[0, 1.5]`` by default; ``[0, 1]``
    with ``normalize``). Never ``None``: an unparsable completion scores what
    its recovered sections earn, an empty one 0.

    Example:
        >>> import gritkit
        >>> r = gritkit.try_parse("<think>cat (1, 2, 30, 40)</think><rethink>ok</rethink><answer>1")
        >>> format_reward(r, Sample())
        1.5
        >>> format_reward(gritkit.try_parse("<think>no box</think><answer>1"), Sample())
        0.5
    """
    o = options or DEFAULT
    box = o.box_value if _has_box(result, o._box_keys) else 0.0
    if o.mode == "paper":
        structure = 0.0
        if _pair_ok(result, "think", (), ("rethink", "answer")):
            structure += o.pair_value
        if _pair_ok(result, "rethink", ("think",), ("answer",)):
            structure += o.pair_value
    else:
        costs, default = o.deviation_costs, o.default_cost
        cost = sum(costs.get(d.code, default) for d in result.deviations)
        if not result.ok and not result.deviations:
            cost = default
        structure = 2 * o.pair_value * max(0.0, 1.0 - cost)
    total = structure + box
    if o.normalize:
        return total / o._maximum if o._maximum > 0 else 0.0
    return total


@hookimpl
def register_rewards(register) -> None:
    register(format_reward, name="format", options=FormatOptions,
             description="GRIT grounded-reasoning format: think pair + rethink pair + a box (paper or graded)")

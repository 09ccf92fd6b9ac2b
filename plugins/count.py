"""``count``: GRIT's grounded-target-counting reward (paper: 0.5 when the number of
boxes equals the ground-truth count), per sample, with GRIT's quirks fixed.
"""

from __future__ import annotations

from functools import cached_property
from typing import Optional

from pydantic import Field

from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import SectionName, SectionOptions, dataset_matches, is_finite_box
from ._text import parse_count, parse_reference_count


class CountOptions(SectionOptions):
    """Options of the ``count`` reward."""

    bonus: float = Field(0.5, description="value when the count matches (paper 0.5; official code 1.0)")
    datasets: Optional[tuple[str, ...]] = Field(
        None, description="apply only to samples of these datasets (case-insensitive), e.g. ['tallyqa']; "
                          "None: every sample whose reference answer is an integer")
    sections: tuple[SectionName, ...] = Field(
        ("think", "rethink"), description="sections whose boxes are counted")
    distinct: bool = Field(
        True, description="count identical boxes (same four numbers) once; GRIT counts a repeated box twice")
    zero_needs_answer: bool = Field(
        True, description="for a reference count of 0, pay only when the completion's own answer also "
                          "says 0 (GRIT pays any output with no box, empty ones included)")

    @cached_property
    def _datasets(self):
        return None if self.datasets is None else frozenset(d.lower() for d in self.datasets)


DEFAULT = CountOptions()


def count_boxes(result: ParseResult, keys, distinct: bool) -> int:
    """Number of finite boxes in the sections ``keys`` (identical ones once if ``distinct``)."""
    boxes = [b.coords for b in result.boxes if (keys is None or b.section in keys) and is_finite_box(b)]
    return len(set(boxes)) if distinct else len(boxes)


def count_reward(result: ParseResult, sample: Sample, options: Optional[CountOptions] = None) -> Optional[float]:
    """``bonus`` when the number of boxes equals the integer reference answer, else 0.

    The reference answer may be digits or a number word ("7", "seven"). Range
    ``{0, bonus}``. ``None`` (not applicable) when the reference is not a
    non-negative integer or the sample's dataset is not in ``datasets``.

    Example:
        >>> import gritkit
        >>> r = gritkit.try_parse("<think>(1, 1, 9, 9) (20, 1, 29, 9)</think><rethink>two</rethink><answer>2")
        >>> count_reward(r, Sample(answer="two"))
        0.5
        >>> count_reward(r, Sample(answer="Yes")) is None
        True
    """
    o = options or DEFAULT
    if sample.answer is None or not dataset_matches(sample.dataset, o._datasets):
        return None
    target = parse_reference_count(sample.answer)
    if target is None:
        return None
    n = count_boxes(result, o._keys, o.distinct)
    if n != target:
        return 0.0
    if target == 0 and o.zero_needs_answer and parse_count(result.answer) != 0:
        return 0.0
    return o.bonus


@hookimpl
def register_rewards(register) -> None:
    register(count_reward, name="count", requires=("answer",), options=CountOptions,
             description="number of boxes equals the integer answer (GRIT's counting reward, per sample)")

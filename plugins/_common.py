"""Helpers shared by the built-in reward plugins (not a plugin: the name starts with ``_``).

Everything here runs on the hot path (every completion of every GRPO step), so it
is plain Python over the already-built :class:`~gritkit.models.ParseResult`: no
validation, no parsing, no allocation beyond what the caller keeps.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from functools import cached_property
from typing import Literal, Optional

from gritkit.coords import SECTION_KEYS
from gritkit.models import Box, ParseResult
from gritkit.registry import RewardOptions  # noqa: F401  (the built-ins' options base)

#: Where a box can stand: inside one of the three sections, or outside all of them.
SectionName = Literal["think", "rethink", "answer", "outside"]


class SectionOptions(RewardOptions):
    """Options with a ``sections`` field (declared by the subclass); ``_keys`` is the
    set of ``Box.section`` values it selects, computed once per options object."""

    @cached_property
    def _keys(self) -> Optional[frozenset]:
        return section_keys(self.sections)


def section_keys(sections: Optional[Iterable[str]]) -> Optional[frozenset]:
    """The ``Box.section`` values selected by a ``sections`` option (``None``: all).

    >>> sorted(section_keys(["think", "outside"]), key=str)
    [None, 'think']
    >>> section_keys(None) is None
    True
    """
    if sections is None:
        return None
    return frozenset(SECTION_KEYS[s] for s in sections)


def select_boxes(result: ParseResult, keys: Optional[Collection]) -> tuple[Box, ...]:
    """The boxes of ``result`` whose section is in ``keys`` (from :func:`section_keys`)."""
    boxes = result.boxes
    if keys is None:
        return boxes
    return tuple(b for b in boxes if b.section in keys)


def is_finite_box(box: Box) -> bool:
    """``box.is_finite``, and False for an integer too large for a float (a 400-digit
    number, on which ``math.isfinite`` raises ``OverflowError``)."""
    try:
        return box.is_finite
    except OverflowError:
        return False


def dataset_matches(dataset: Optional[str], allowed: Optional[frozenset]) -> bool:
    """Whether ``dataset`` (case-insensitive) is in ``allowed`` (``None`` allows everything).

    >>> dataset_matches("TallyQA", frozenset({"tallyqa"}))
    True
    >>> dataset_matches(None, frozenset({"tallyqa"}))
    False
    """
    if allowed is None:
        return True
    return dataset is not None and dataset.lower() in allowed

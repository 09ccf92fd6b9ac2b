"""``box_in_image``: the fraction of boxes that are valid boxes inside the image.

A box passes when :func:`gritkit.boxes.check_boxes` finds nothing wrong with it:
it converts to original-image pixels, is finite with ``x1 < x2`` and ``y1 < y2``,
lies inside the image (within a tolerance), and is not one of the usual reward
hacks: a duplicate of an earlier box of the same section, or a box covering
(nearly) the whole image. The rules and thresholds live in :mod:`gritkit.boxes`,
shared with ``gritkit render`` and ``gritkit report``.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from gritkit.boxes import DUPLICATE_IOU, WHOLE_IMAGE_FRACTION, BoxVerdict
from gritkit.boxes import check_boxes as _check
from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import SectionName, SectionOptions, select_boxes


class BoxInImageOptions(SectionOptions):
    """Options of the ``box_in_image`` reward."""

    tolerance: float = Field(0.0, ge=0, description="pixels a box may reach beyond the image border")
    sections: Optional[tuple[SectionName, ...]] = Field(None, description="sections whose boxes are checked (None: all)")
    box_format: Optional[str] = Field(
        None, description="coordinate convention of the boxes; None: Sample.box_format, else xyxy")
    duplicate_iou: Optional[float] = Field(
        DUPLICATE_IOU, gt=0, le=1, description="a box whose IoU with an earlier valid box reaches this fails as a "
                                      "duplicate; None: duplicates pass")
    whole_image_fraction: Optional[float] = Field(
        WHOLE_IMAGE_FRACTION, gt=0, le=1, description="a box covering at least this fraction of the image area fails as a "
                                      "whole-image box; None: such boxes pass")


DEFAULT = BoxInImageOptions()


def check_boxes(result: ParseResult, sample: Sample,
                options: Optional[BoxInImageOptions] = None) -> list[BoxVerdict]:
    """The verdict on every selected box of ``result``: :func:`gritkit.boxes.check_boxes`
    with this reward's options."""
    o = options or DEFAULT
    return _check(select_boxes(result, o._keys), sample, box_format=o.box_format, tolerance=o.tolerance,
                  whole_image_fraction=o.whole_image_fraction, duplicate_iou=o.duplicate_iou)


def box_in_image_reward(result: ParseResult, sample: Sample,
                        options: Optional[BoxInImageOptions] = None) -> Optional[float]:
    """Fraction of the boxes that pass :func:`check_boxes`, in ``[0, 1]``.

    ``None`` when the completion has no box in the selected sections (nothing
    to check: pair it with ``format`` or ``count`` to require boxes) or the
    sample has no image size (inside-the-image cannot be decided).

    Example:
        >>> import gritkit
        >>> from gritkit.models import ImageSize
        >>> r = gritkit.try_parse("<think>(0, 0, 50, 50) (0, 0, 50, 50) (90, 90, 120, 99) (0, 0, 100, 100)</think>")
        >>> box_in_image_reward(r, Sample(image_size=ImageSize(width=100, height=100)))
        0.25
    """
    o = options or DEFAULT
    if sample.image_size is None:
        return None
    checks = check_boxes(result, sample, o)
    if not checks:
        return None
    return sum(1 for c in checks if c.ok) / len(checks)


@hookimpl
def register_rewards(register) -> None:
    register(box_in_image_reward, name="box_in_image", options=BoxInImageOptions,
             description="fraction of boxes valid and inside the image; fails duplicates and whole-image boxes")

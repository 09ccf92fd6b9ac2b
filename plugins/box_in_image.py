"""``box_in_image``: the fraction of boxes that are valid boxes inside the image.

A box passes when it converts to original-image pixels, is finite with
``x1 < x2`` and ``y1 < y2``, lies inside the image (within a tolerance), and is
not one of the usual reward hacks: a duplicate of an earlier box of the same
section, or a box covering (nearly) the whole image. :func:`check_boxes` gives
the reason for every box, for reports.

Duplicates are looked for within one section only: a ``<rethink>`` that cites a
box of its ``<think>`` again is GRIT's design, not a hack. Up to
``NEAR_DUPLICATE_LIMIT`` boxes per section, every pair is compared by IoU;
beyond that (an output padded with thousands of boxes) only exact repeats are
found, so the check stays linear.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from pydantic import Field

from gritkit.coords import convert_box, get_converter
from gritkit.hookspecs import hookimpl
from gritkit.models import Box, ParseResult, Sample

from ._common import SectionName, SectionOptions, select_boxes
from ._geometry import iou


class BoxInImageOptions(SectionOptions):
    """Options of the ``box_in_image`` reward."""

    tolerance: float = Field(0.0, ge=0, description="pixels a box may reach beyond the image border")
    sections: Optional[tuple[SectionName, ...]] = Field(None, description="sections whose boxes are checked (None: all)")
    box_format: Optional[str] = Field(
        None, description="coordinate convention of the boxes; None: Sample.box_format, else xyxy")
    duplicate_iou: Optional[float] = Field(
        0.95, gt=0, le=1, description="a box whose IoU with an earlier valid box reaches this fails as a "
                                      "duplicate; None: duplicates pass")
    whole_image_fraction: Optional[float] = Field(
        0.95, gt=0, le=1, description="a box covering at least this fraction of the image area fails as a "
                                      "whole-image box; None: such boxes pass")


DEFAULT = BoxInImageOptions()
NEAR_DUPLICATE_LIMIT = 256


class BoxCheck(NamedTuple):
    """The verdict on one box: ``reason`` is ``None`` when it passes."""

    box: Box
    pixels: Optional[tuple]
    reason: Optional[str]


def check_boxes(result: ParseResult, sample: Sample,
                options: Optional[BoxInImageOptions] = None) -> list[BoxCheck]:
    """Check every selected box of ``result`` (see the module docstring).

    The image size is needed (``sample.image_size``); without it every box
    fails with that reason.

    Example:
        >>> import gritkit
        >>> from gritkit.models import ImageSize
        >>> r = gritkit.try_parse("<think>(0, 0, 50, 50) (0, 0, 50, 50) (90, 90, 120, 99) (0, 0, 100, 100)</think>")
        >>> s = Sample(image_size=ImageSize(width=100, height=100))
        >>> [c.reason for c in check_boxes(r, s)]
        [None, 'duplicate of box 0 (IoU 1.00)', 'outside the 100x100 image', 'covers 100% of the image']
    """
    o = options or DEFAULT
    boxes = select_boxes(result, o._keys)
    size = sample.image_size
    if size is None:
        return [BoxCheck(b, None, "no image size") for b in boxes]
    width, height = size.width, size.height
    image_area = float(width * height)
    tol = o.tolerance
    convert = get_converter(o.box_format or sample.box_format)
    seen: dict = {}    # section -> [(index, pixels)] of earlier valid boxes
    exact: dict = {}   # (section, pixels) -> index of its first occurrence
    per_section: dict = {}
    for b in boxes:
        per_section[b.section] = per_section.get(b.section, 0) + 1
    out = []
    for k, box in enumerate(boxes):
        px, why = convert_box(convert, box, sample)
        if why is None:
            x1, y1, x2, y2 = px
            if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
                why = f"outside the {width}x{height} image"
            elif (o.whole_image_fraction is not None
                  and (x2 - x1) * (y2 - y1) >= o.whole_image_fraction * image_area):
                why = f"covers {min(1.0, (x2 - x1) * (y2 - y1) / image_area):.0%} of the image"
            elif o.duplicate_iou is not None:
                first = exact.get((box.section, px))
                if first is not None:
                    why = f"duplicate of box {first} (IoU 1.00)"
                elif per_section[box.section] <= NEAR_DUPLICATE_LIMIT:
                    for j, other in seen.get(box.section, ()):
                        overlap = iou(px, other)
                        if overlap >= o.duplicate_iou:
                            why = f"duplicate of box {j} (IoU {overlap:.2f})"
                            break
            seen.setdefault(box.section, []).append((k, px))
            exact.setdefault((box.section, px), k)
        out.append(BoxCheck(box, px, why))
    return out


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
    return sum(1 for c in checks if c.reason is None) / len(checks)


@hookimpl
def register_rewards(register) -> None:
    register(box_in_image_reward, name="box_in_image", options=BoxInImageOptions,
             description="fraction of boxes valid and inside the image; fails duplicates and whole-image boxes")

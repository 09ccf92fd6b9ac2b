"""Box verdicts: the one home of what makes a written box valid, inside the image, a
whole-image box or a duplicate.

The ``box_in_image`` reward, ``gritkit eval``'s ``invalid_box_rate``, ``gritkit
render``'s notes on the picture and ``gritkit report``'s reward-hacking signs all
call :func:`check_boxes`, so the picture, the reward and the report never disagree
about a box. The rules, in the order they are applied to each box:

1. **invalid**: it does not convert to original-image pixels in its coordinate
   convention (e.g. a normalised box with no image size), a number is not
   finite, or ``x1 >= x2`` / ``y1 >= y2``. Needs no image size for pixel
   conventions, so it is always judged.
2. **outside**: it reaches beyond the image by more than ``tolerance`` pixels.
   Needs the image size; without one, rules 2 and 3 are skipped and a box that
   is not a duplicate gets the verdict ``no_image_size``.
3. **whole_image**: the part of it inside the image covers at least
   ``whole_image_fraction`` (:data:`WHOLE_IMAGE_FRACTION`, 95%) of the image.
4. **duplicate**: its IoU with an earlier valid box of the *same section*
   reaches ``duplicate_iou`` (:data:`DUPLICATE_IOU`, 0.95). A ``<rethink>``
   re-citing a ``<think>`` box is GRIT's design, not a duplicate. Up to
   :data:`NEAR_DUPLICATE_LIMIT` boxes per section every earlier box is compared;
   beyond that only exact repeats are found, so the check stays linear.

>>> import gritkit
>>> from gritkit.models import ImageSize, Sample
>>> r = gritkit.try_parse("<think>(0, 0, 50, 50) (0, 0, 50, 50) (90, 90, 120, 99) (0, 0, 100, 100) "
...                       "(9, 0, 3, 4)</think>")
>>> [(v.kind, v.reason) for v in check_boxes(r.boxes, Sample(image_size=ImageSize(width=100, height=100)))]
[(None, None), ('duplicate', 'duplicate of box 0 (IoU 1.00)'), ('outside', 'outside the 100x100 image'), ('whole_image', 'covers 100% of the image'), ('invalid', 'x1 >= x2 (9 >= 3)')]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, Optional

from gritkit.coords import convert_box, get_converter
from gritkit.models import Box, Sample

#: A box covering at least this share of the image is a whole-image box (a reward hack).
WHOLE_IMAGE_FRACTION = 0.95
#: A box whose IoU with an earlier box of its section reaches this is a duplicate.
DUPLICATE_IOU = 0.95
#: Beyond this many boxes in one section only exact repeats count as duplicates.
NEAR_DUPLICATE_LIMIT = 256

VerdictKind = Literal["invalid", "no_image_size", "outside", "whole_image", "duplicate"]


class BoxVerdict(NamedTuple):
    """The verdict on one box.

    Attributes:
        box: the box as written.
        pixels: ``(x1, y1, x2, y2)`` in original-image pixels, or ``None`` when it
            did not convert.
        kind: ``None`` when it passes, else what is wrong (see the module docs).
        reason: the same for people, naming the box it duplicates by ``Box.index``.
    """

    box: Box
    pixels: Optional[tuple]
    kind: Optional[VerdictKind]
    reason: Optional[str]

    @property
    def ok(self) -> bool:
        return self.kind is None

    @property
    def valid(self) -> bool:
        """A valid box in pixels (rule 1), wherever it lies."""
        return self.kind not in ("invalid",)


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two pixel boxes ``(x1, y1, x2, y2)``.

    >>> iou((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333
    """
    from gritkit.builtin._geometry import iou as _iou

    return _iou(a, b)


def match(weights) -> list[tuple[int, int]]:
    """One-to-one matching of predicted boxes (rows) to ground-truth boxes (columns) that
    maximises the total weight, e.g. IoU (the Hungarian algorithm the ``iou`` reward uses).

    >>> match([[0.9, 0.8], [0.85, 0.0]])   # 0.8 + 0.85 beats 0.9 + 0.0
    [(0, 1), (1, 0)]
    """
    from gritkit.builtin._geometry import max_weight_matching

    return max_weight_matching(weights)


def covered_fraction(px: tuple, width: float, height: float) -> float:
    """The share of a ``width`` × ``height`` image that the box covers (clipped to the image)."""
    x1, y1, x2, y2 = px
    w = max(0.0, min(x2, width) - max(x1, 0.0))
    h = max(0.0, min(y2, height) - max(y1, 0.0))
    return (w * h) / float(width * height)


def check_boxes(boxes: Sequence[Box], sample: Sample, *, box_format: Optional[str] = None,
                tolerance: float = 0.0, whole_image_fraction: Optional[float] = WHOLE_IMAGE_FRACTION,
                duplicate_iou: Optional[float] = DUPLICATE_IOU) -> list[BoxVerdict]:
    """The verdict on every box (see the module docs for the rules).

    Args:
        boxes: the boxes, in reading order (e.g. ``result.boxes``, or a selection).
        sample: the sample: image size and coordinate convention.
        box_format: the convention (default ``sample.box_format``, else ``xyxy`` pixels).
        tolerance: pixels a box may reach beyond the image border.
        whole_image_fraction: ``None`` turns rule 3 off.
        duplicate_iou: ``None`` turns rule 4 off.

    Raises:
        ConfigError: the convention is unknown (every other problem is a verdict).
    """
    convert = get_converter(box_format or sample.box_format)
    size = sample.image_size
    per_section: dict = {}
    for b in boxes:
        per_section[b.section] = per_section.get(b.section, 0) + 1
    seen: dict = {}    # section -> [(index, pixels)] of earlier valid boxes
    exact: dict = {}   # (section, pixels) -> index of its first occurrence
    out = []
    for box in boxes:
        px, why = convert_box(convert, box, sample)
        if why is not None:
            out.append(BoxVerdict(box, px if px is not None and why.startswith(("x", "y")) else None,
                                  "invalid", why))
            continue
        kind = reason = None
        if size is not None:
            width, height = size.width, size.height
            x1, y1, x2, y2 = px
            if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
                kind, reason = "outside", f"outside the {width}x{height} image"
            elif whole_image_fraction is not None and covered_fraction(px, width, height) >= whole_image_fraction:
                kind, reason = "whole_image", f"covers {covered_fraction(px, width, height):.0%} of the image"
        if kind is None and duplicate_iou is not None:
            first = exact.get((box.section, px))
            if first is not None:
                kind, reason = "duplicate", f"duplicate of box {first} (IoU 1.00)"
            elif per_section[box.section] <= NEAR_DUPLICATE_LIMIT:
                for j, other in seen.get(box.section, ()):
                    overlap = iou(px, other)
                    if overlap >= duplicate_iou:
                        kind, reason = "duplicate", f"duplicate of box {j} (IoU {overlap:.2f})"
                        break
        if kind is None and size is None:
            kind, reason = "no_image_size", "no image size (inside the image cannot be told)"
        seen.setdefault(box.section, []).append((box.index, px))
        exact.setdefault((box.section, px), box.index)
        out.append(BoxVerdict(box, px, kind, reason))
    return out


__all__ = ["BoxVerdict", "DUPLICATE_IOU", "NEAR_DUPLICATE_LIMIT", "WHOLE_IMAGE_FRACTION", "check_boxes",
           "covered_fraction", "iou", "match"]

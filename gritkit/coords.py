"""Coordinate conventions: from the numbers a model wrote to pixels of the original image.

A box's numbers (``Box.coords``) are kept exactly as written; what they mean
depends on the model family (absolute pixels, pixels of the processor-resized
image, 0..1000 of the image, ...). Every geometric reward converts each box to
absolute ``(x1, y1, x2, y2)`` pixels of the **original** image through the
convention named by ``box_format`` (else ``Sample.box_format``, else ``"xyxy"``)
before it compares anything with the ground truth, which is always in
original-image pixels. Conventions are registered through the
``register_box_formats`` hook (the built-ins live in ``plugins/box_formats.py``);
docs/coordinates.md lists them.

>>> from gritkit.models import Sample, ImageSize
>>> s = Sample(image_size=ImageSize(width=640, height=480), box_format="norm_1000")
>>> to_pixels((500, 500, 1000, 1000), s)
(320.0, 240.0, 640.0, 480.0)
>>> smart_resize(480, 640, max_pixels=200_704)
(364, 504)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Callable, NamedTuple, Optional

from gritkit.models import Box, ParseResult, Sample

#: The convention used when neither the caller nor the sample names one.
DEFAULT_BOX_FORMAT = "xyxy"

#: Qwen2-VL / Qwen2.5-VL patch size (14) times the 2x2 spatial merge: image sides are multiples of 28.
QWEN_FACTOR = 28
#: ``smart_resize``'s own defaults in transformers (56*56 and 14*14*4*1280 pixels).
SMART_RESIZE_MIN_PIXELS = 56 * 56
SMART_RESIZE_MAX_PIXELS = 14 * 14 * 4 * 1280
#: transformers refuses images whose long side is more than this many times the short side.
MAX_ASPECT_RATIO = 200

Converter = Callable[[Sequence[float], Sample], tuple]


def smart_resize(height: int, width: int, factor: int = QWEN_FACTOR,
                 min_pixels: int = SMART_RESIZE_MIN_PIXELS,
                 max_pixels: int = SMART_RESIZE_MAX_PIXELS) -> tuple[int, int]:
    """Qwen2-VL/Qwen2.5-VL's resize rule, exactly as transformers implements it.

    Returns ``(height, width)`` of the image the model sees: both sides multiples
    of ``factor``, the area within ``[min_pixels, max_pixels]``, the aspect ratio
    kept as closely as possible (``transformers/models/qwen2_vl/
    image_processing_qwen2_vl.py``; note the height-first order of its arguments
    and result, and Python's round-half-to-even ``round``).

    Args:
        height: original image height in pixels.
        width: original image width in pixels.
        factor: side multiple (28 for Qwen2-VL and Qwen2.5-VL).
        min_pixels: smallest allowed area of the resized image.
        max_pixels: largest allowed area of the resized image.

    Returns:
        ``(resized_height, resized_width)``.

    Raises:
        ValueError: when the aspect ratio exceeds 200, as in transformers.

    >>> smart_resize(480, 640, max_pixels=200_704)   # a COCO image in GRIT's training frame
    (364, 504)
    >>> smart_resize(375, 500, max_pixels=200_704)   # a VG image: only rounded to multiples of 28
    (364, 504)
    """
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}, "
            f"got {max(height, width) / min(height, width)}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


# (plugin manager, {name: converter}): replaced as a whole when the manager changes.
_resolved: tuple = (None, {})


def get_converter(name: Optional[str] = None) -> Converter:
    """The ``to_pixels(coords, sample)`` function of the convention ``name``.

    Looks the name up in the plugin manager (``register_box_formats``); an
    unknown name raises :class:`~gritkit.errors.ConfigError` listing the known
    ones. ``None`` means :data:`DEFAULT_BOX_FORMAT`.
    """
    global _resolved
    from gritkit.plugins import get_plugin_manager

    name = name or DEFAULT_BOX_FORMAT
    manager = get_plugin_manager()
    owner, cache = _resolved
    if owner is not manager:  # a reset or isolated manager may hold other conventions
        cache = {}
        _resolved = (manager, cache)
    fn = cache.get(name)
    if fn is None:
        fn = cache[name] = manager.box_formats.get(name).to_pixels
    return fn


def to_pixels(coords: Sequence[float], sample: Sample,
              box_format: Optional[str] = None) -> tuple[float, float, float, float]:
    """Convert four written numbers to ``(x1, y1, x2, y2)`` pixels of the original image.

    Args:
        coords: the numbers as written (``Box.coords``).
        sample: the sample (its ``image_size``, ``box_format``, ``min_pixels``/``max_pixels``).
        box_format: the convention; default ``sample.box_format``, else ``"xyxy"``.

    Raises:
        ValueError: the convention needs something the sample lacks (e.g. the image size).
        ConfigError: the convention is unknown.

    >>> from gritkit.models import Sample, ImageSize
    >>> to_pixels((10, 20, 30, 40), Sample(box_format="xywh"))
    (10.0, 20.0, 40.0, 60.0)
    """
    return get_converter(box_format or sample.box_format)(coords, sample)


def box_problem(x1: float, y1: float, x2: float, y2: float) -> Optional[str]:
    """Why a pixel box is not a valid box, or ``None`` when it is.

    >>> box_problem(0, 0, 10, 10) is None
    True
    >>> box_problem(10, 0, 10, 5)
    'x1 >= x2 (10 >= 10)'
    """
    if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)):
        return "a coordinate is not finite"
    if x1 >= x2:
        return f"x1 >= x2 ({x1:g} >= {x2:g})"
    if y1 >= y2:
        return f"y1 >= y2 ({y1:g} >= {y2:g})"
    if not math.isfinite((x2 - x1) * (y2 - y1)):
        return "the area is not finite"
    return None


class PixelBoxes(NamedTuple):
    """The boxes of one completion in original-image pixels.

    Attributes:
        valid: ``(box, (x1, y1, x2, y2))`` for every box that converted to a valid box.
        invalid: ``(box, reason)`` for every other box (conversion failed,
            not finite, zero or negative width or height).
    """

    valid: list
    invalid: list


#: ``Box.section`` value for each section name a ``sections`` option may use.
SECTION_KEYS = {"think": "think", "rethink": "rethink", "answer": "answer", "outside": None}


def boxes_to_pixels(result: ParseResult, sample: Sample,
                    sections: Optional[Collection[str]] = None,
                    box_format: Optional[str] = None) -> PixelBoxes:
    """Convert a completion's boxes to original-image pixels, separating the invalid ones.

    Args:
        result: the parsed completion.
        sample: its sample (image size, convention).
        sections: keep only boxes written in these sections (``"think"``,
            ``"rethink"``, ``"answer"``, ``"outside"``); ``None`` keeps all.
        box_format: the convention; default ``sample.box_format``, else ``"xyxy"``.

    Returns:
        A :class:`PixelBoxes`. An unknown convention raises ``ConfigError``; every
        other problem only makes a box invalid, with the reason.

    >>> import gritkit
    >>> from gritkit.models import Sample, ImageSize
    >>> r = gritkit.try_parse("<think>(10, 10, 5, 20) (0, 0, 500, 500)</think><rethink>x</rethink><answer>1")
    >>> s = Sample(image_size=ImageSize(width=100, height=50), box_format="norm_1000")
    >>> px = boxes_to_pixels(r, s)
    >>> [p for _, p in px.valid], [why for _, why in px.invalid]
    ([(0.0, 0.0, 50.0, 25.0)], ['x1 >= x2 (1 >= 0.5)'])
    """
    boxes = result.boxes
    if sections is not None:
        keys = {SECTION_KEYS[s] for s in sections}
        boxes = tuple(b for b in boxes if b.section in keys)
    return convert_boxes(boxes, sample, box_format)


def convert_box(convert: Converter, box: Box, sample: Sample) -> tuple[Optional[tuple], Optional[str]]:
    """``(pixels, None)`` for a box that converts to a valid pixel box, else ``(pixels or None, reason)``.

    ``convert`` comes from :func:`get_converter`; a conversion error (a missing
    image size, a number too large for a float) is a reason, never an exception.
    """
    try:
        px = convert(box.coords, sample)
    except (ValueError, ArithmeticError) as exc:
        return None, f"cannot convert: {exc}"
    return px, box_problem(*px)


def convert_boxes(boxes: Sequence[Box], sample: Sample,
                  box_format: Optional[str] = None) -> PixelBoxes:
    """Like :func:`boxes_to_pixels` for an explicit list of boxes (already filtered)."""
    convert = get_converter(box_format or sample.box_format)
    valid: list = []
    invalid: list = []
    for box in boxes:
        px, why = convert_box(convert, box, sample)
        if why is None:
            valid.append((box, px))
        else:
            invalid.append((box, why))
    return PixelBoxes(valid, invalid)

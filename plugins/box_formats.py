"""Built-in coordinate conventions (``register_box_formats``).

Each converter takes the four numbers a model wrote and the sample, and returns
``(x1, y1, x2, y2)`` in pixels of the **original** image (the frame of the
ground-truth boxes). A converter that needs the image size raises ``ValueError``
when ``sample.image_size`` is missing. docs/coordinates.md has the formulas and
which model family writes which convention.

>>> from gritkit.models import Sample, ImageSize
>>> s = Sample(image_size=ImageSize(width=640, height=480), max_pixels=200_704)
>>> qwen2_5_vl((252, 182, 504, 364), s)   # the processor resized 640x480 to 504x364
(320.0, 240.0, 640.0, 480.0)
>>> norm_1000((500, 500, 1000, 1000), s)
(320.0, 240.0, 640.0, 480.0)
"""

from __future__ import annotations

from collections.abc import Sequence

from gritkit.coords import QWEN_FACTOR, smart_resize
from gritkit.hookspecs import hookimpl
from gritkit.models import Sample

#: Qwen2.5-VL's released processor (``preprocessor_config.json`` of the Qwen2.5-VL
#: checkpoints): ``min_pixels`` 3136 = 56*56, ``max_pixels`` 12,845,056 = 16384*28*28.
QWEN2_5_VL_MIN_PIXELS = 3136
QWEN2_5_VL_MAX_PIXELS = 12_845_056
#: GRIT's training and evaluation processor: 3136 .. 256*28*28 = 200,704 pixels.
GRIT_MIN_PIXELS = 3136
GRIT_MAX_PIXELS = 256 * 28 * 28


def _size(sample: Sample, name: str) -> tuple[int, int]:
    size = sample.image_size
    if size is None:
        raise ValueError(f"box format {name!r} needs the image size (Sample.image_size: width and height)")
    return size.width, size.height


def xyxy(coords: Sequence[float], sample: Sample) -> tuple[float, float, float, float]:
    """Absolute ``x1, y1, x2, y2`` pixels of the original image (the identity)."""
    x1, y1, x2, y2 = coords
    return float(x1), float(y1), float(x2), float(y2)


def xywh(coords: Sequence[float], sample: Sample) -> tuple[float, float, float, float]:
    """Absolute pixels ``x, y, width, height`` (top-left corner and size), COCO style.

    >>> xywh((10, 20, 30, 40), Sample())
    (10.0, 20.0, 40.0, 60.0)
    """
    x, y, w, h = coords
    return float(x), float(y), float(x + w), float(y + h)


def cxcywh(coords: Sequence[float], sample: Sample) -> tuple[float, float, float, float]:
    """Absolute pixels ``cx, cy, width, height`` (centre and size), DETR/YOLO style.

    >>> cxcywh((50, 50, 20, 10), Sample())
    (40.0, 45.0, 60.0, 55.0)
    """
    cx, cy, w, h = coords
    return float(cx - w / 2), float(cy - h / 2), float(cx + w / 2), float(cy + h / 2)


def _normalised(scale: float, name: str):
    def convert(coords: Sequence[float], sample: Sample) -> tuple[float, float, float, float]:
        width, height = _size(sample, name)
        x1, y1, x2, y2 = coords
        sx, sy = width / scale, height / scale
        return x1 * sx, y1 * sy, x2 * sx, y2 * sy

    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = f"``x1, y1, x2, y2`` on a 0..{scale:g} grid over the whole image: ``x * W / {scale:g}``."
    return convert


norm_1000 = _normalised(1000.0, "norm_1000")
norm_999 = _normalised(999.0, "norm_999")
norm_1 = _normalised(1.0, "norm_1")


def resized_size(sample: Sample, min_pixels: int = QWEN2_5_VL_MIN_PIXELS,
                 max_pixels: int = QWEN2_5_VL_MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` of the image a Qwen2.5-VL processor feeds the model.

    ``sample.extra["resized_width"]``/``["resized_height"]`` win when given (the
    trainer's ``image_grid_thw * 14``); else :func:`~gritkit.coords.smart_resize`
    of the original size with ``sample.min_pixels``/``max_pixels`` (each falling
    back to the given defaults).

    >>> from gritkit.models import ImageSize
    >>> resized_size(Sample(image_size=ImageSize(width=640, height=480), max_pixels=200_704))
    (504, 364)
    """
    extra = sample.extra
    if extra and "resized_width" in extra and "resized_height" in extra:
        return int(extra["resized_width"]), int(extra["resized_height"])
    width, height = _size(sample, "qwen2_5_vl")
    lo = sample.min_pixels if sample.min_pixels is not None else min_pixels
    hi = sample.max_pixels if sample.max_pixels is not None else max_pixels
    h_bar, w_bar = smart_resize(height, width, QWEN_FACTOR, lo, hi)
    return w_bar, h_bar


def _resized_frame(min_pixels: int, max_pixels: int, name: str):
    def convert(coords: Sequence[float], sample: Sample) -> tuple[float, float, float, float]:
        rw, rh = resized_size(sample, min_pixels, max_pixels)
        width, height = _size(sample, name)
        x1, y1, x2, y2 = coords
        sx, sy = width / rw, height / rh
        return x1 * sx, y1 * sy, x2 * sx, y2 * sy

    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = (
        "Absolute pixels of the processor-resized image (Qwen2.5-VL), mapped back by "
        f"original/resized; pixel budget from the sample, else {min_pixels}..{max_pixels}.")
    return convert


qwen2_5_vl = _resized_frame(QWEN2_5_VL_MIN_PIXELS, QWEN2_5_VL_MAX_PIXELS, "qwen2_5_vl")
qwen2_5_vl_grit = _resized_frame(GRIT_MIN_PIXELS, GRIT_MAX_PIXELS, "qwen2_5_vl_grit")

#: name -> (converter, description); the aliases follow the model families.
FORMATS = {
    "xyxy": (xyxy, "absolute x1, y1, x2, y2 pixels of the original image (the default)"),
    "xywh": (xywh, "absolute pixels x, y, width, height (top-left corner and size)"),
    "cxcywh": (cxcywh, "absolute pixels cx, cy, width, height (centre and size)"),
    "norm_1000": (norm_1000, "0..1000 of the whole image (Qwen2-VL, Qwen3-VL, InternVL)"),
    "norm_999": (norm_999, "0..999 of the whole image (DeepSeek-VL2)"),
    "norm_1": (norm_1, "0..1 of the whole image"),
    "qwen2_5_vl": (qwen2_5_vl, "absolute pixels of the Qwen2.5-VL processor-resized image "
                               "(smart_resize, factor 28; budget from the sample, else 3136..12,845,056)"),
    "qwen2_5_vl_grit": (qwen2_5_vl_grit, "qwen2_5_vl with GRIT's training budget "
                                         "(3136..200,704 pixels) when the sample gives none"),
    "qwen2_vl": (norm_1000, "alias of norm_1000 (Qwen2-VL)"),
    "qwen3_vl": (norm_1000, "alias of norm_1000 (Qwen3-VL)"),
    "internvl": (norm_1000, "alias of norm_1000 (InternVL 2.5 / 3)"),
    "deepseek_vl2": (norm_999, "alias of norm_999 (DeepSeek-VL2)"),
}


@hookimpl
def register_box_formats(register) -> None:
    """Register every built-in convention of :data:`FORMATS`."""
    for name, (fn, description) in FORMATS.items():
        register(name, fn, description=description)

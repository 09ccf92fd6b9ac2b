"""Pictures of grounded reasoning: the image with every box, next to the text that wrote it.

:func:`render_record` draws one record of GRIT-schema JSON Lines as one PNG:

* left, the image in its original frame (scaled for display, with a grey margin
  so that boxes reaching outside the image stay visible), every predicted box
  drawn in the colour of the section it was written in and numbered in reading
  order (``1`` is the first box written), and the ground-truth boxes dashed;
* right, the question, the output text wrapped, with ``[n]`` written where box
  ``n`` was written (in the box's colour), the answer, the ground truth and the
  record's rewards (from a preset or config, ``grit`` by default).

Colours are fixed (:data:`SECTION_COLORS`, :data:`GT_COLOR`):

=============  ==================  ============
what           colour              RGB
=============  ==================  ============
``think``      blue                31, 119, 180
``rethink``    orange              255, 127, 14
``answer``     green               44, 160, 44
outside        purple              148, 103, 189
ground truth   red, dashed         214, 39, 40
=============  ==================  ============

A missing or unreadable image does not stop anything: the panel is drawn on a
grey placeholder of the record's size, with the reason written on it, and the
record's :attr:`RenderedRecord.message` says what went wrong.

Pillow only; the font is Pillow's bundled default.

Example:
    >>> from gritkit.render import render_file  # doctest: +SKIP
    >>> results = render_file("examples/data/sample_outputs.jsonl",  # doctest: +SKIP
    ...                       images="examples/data/images", out="out/render")
    >>> results[0].path.name  # doctest: +SKIP
    'record_0000.png'
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

from PIL import Image, ImageDraw, ImageFont

SECTION_COLORS: dict[Optional[str], tuple[int, int, int]] = {
    "think": (31, 119, 180),
    "rethink": (255, 127, 14),
    "answer": (44, 160, 44),
    None: (148, 103, 189),
}
"""Box colour by the section a box was written in (``None``: outside any section)."""

GT_COLOR = (214, 39, 40)
"""Colour of the dashed ground-truth boxes."""

BACKGROUND = (255, 255, 255)
MARGIN_COLOR = (225, 225, 225)
PLACEHOLDER_COLOR = (200, 200, 200)
TEXT_COLOR = (30, 30, 30)
MUTED_COLOR = (110, 110, 110)

DISPLAY_SIDE = 560
"""The image's longer side on the picture, in pixels (upscaled at most 2x)."""
MAX_UPSCALE = 2.0
IMAGE_MARGIN = 24
"""Grey margin around the image, in display pixels, where boxes outside the image show."""
PAD = 16
TEXT_WIDTH = 540
FONT_SIZE = 14
LINE_WIDTH = 3
GT_LINE_WIDTH = 2
DASH = 8
MAX_LABELS = 300
"""At most this many boxes get a number label on the picture (every box is still outlined);
labels that do not fit without covering another, inside the picture, are left out too,
and the text lists the boxes without a label."""
LABEL_CELL = 32
"""Cell size, in display pixels, of the grid that finds overlapping labels (keeps placement linear)."""
MAX_OUTPUT_LINES = 120
"""Longer outputs are cut on the picture, with a note (the answer and rewards still show)."""


@dataclass(frozen=True)
class DrawnBox:
    """A predicted box as drawn.

    Attributes:
        number: its number on the picture (1-based, reading order).
        section: the section it was written in (``None``: outside any section).
        pixels: ``(x1, y1, x2, y2)`` in original-image pixels, or ``None`` when it
            could not be converted (then it is not drawn).
        note: why it was not drawn, or that it lies (partly) outside the image.
    """

    number: int
    section: Optional[str]
    pixels: Optional[tuple[float, float, float, float]]
    note: str = ""


@dataclass
class RenderedRecord:
    """The outcome of rendering one record.

    Attributes:
        index: the record's 0-based position in the input.
        image: the rendered picture (``None`` when the record could not be read).
        path: where it was written, when written.
        message: what went wrong (missing image, bad JSON, ...), or ``""``.
        boxes: the predicted boxes as drawn.
        origin: display position of the image's pixel (0, 0) on the picture.
        scale: display pixels per image pixel.
        labels: ``{box number: (x, y, width, height)}`` of each number label drawn,
            in display pixels (inside the picture, none covering another).
        unlabelled: numbers of the drawn boxes left without a label (crowded),
            listed in the text instead.
        text_origin: display position of the text column's top-left corner.
    """

    index: int
    image: Optional[Image.Image] = None
    path: Optional[Path] = None
    message: str = ""
    boxes: list[DrawnBox] = field(default_factory=list)
    origin: tuple[int, int] = (0, 0)
    scale: float = 1.0
    labels: dict[int, tuple[float, float, int, int]] = field(default_factory=dict)
    unlabelled: list[int] = field(default_factory=list)
    text_origin: tuple[int, int] = (0, 0)

    @property
    def ok(self) -> bool:
        return not self.message

    def to_display(self, x: float, y: float) -> tuple[int, int]:
        """Where the original-image point ``(x, y)`` is on the picture."""
        return (round(self.origin[0] + x * self.scale), round(self.origin[1] + y * self.scale))


def _font(size: int = FONT_SIZE) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


# --------------------------------------------------------------------------- text layout
@dataclass
class _Run:
    text: str
    color: tuple[int, int, int] = TEXT_COLOR
    bold: bool = False


def _fit(font, text: str, room: float) -> int:
    """How many leading characters of ``text`` fit in ``room`` pixels (at least 1)."""
    lo, hi = 1, min(len(text), 2000)  # no line holds 2000 characters: never measure more
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _wrap_runs(runs: Sequence[_Run], font, width: int,
               max_lines: Optional[int] = None) -> list[list[tuple[str, tuple, bool, float]]]:
    """Greedy word wrap of coloured runs into lines of ``(text, color, bold, x)``.

    With ``max_lines``, wrapping stops once there are more lines than that (so a
    result longer than ``max_lines`` means the text was cut): the cost stays
    bounded however long the text is.
    """
    lines: list[list] = [[]]
    x = 0.0
    space = font.getlength(" ")
    limit = max_lines if max_lines is not None else float("inf")
    for run in runs:
        for pi, part in enumerate(run.text.replace("\r\n", "\n").replace("\t", "    ").split("\n")):
            if len(lines) > limit:
                return lines
            if pi > 0:
                lines.append([])
                x = 0.0
            for ti, tok in enumerate(part.split(" ")):
                if len(lines) > limit:
                    return lines
                if ti > 0 and x > 0:
                    x += space
                if not tok:
                    continue
                w = font.getlength(tok) if len(tok) <= 200 else float("inf")
                if x > 0 and x + w > width:
                    lines.append([])
                    x = 0.0
                while w > width and len(lines) <= limit:  # longer than a line: split by characters
                    cut = _fit(font, tok, width)
                    lines[-1].append((tok[:cut], run.color, run.bold, x))
                    lines.append([])
                    x = 0.0
                    tok = tok[cut:]
                    w = font.getlength(tok) if len(tok) <= 200 else float("inf")
                if tok and len(lines) <= limit:
                    lines[-1].append((tok, run.color, run.bold, x))
                    x += w
    return lines


def _output_runs(result, numbers: dict[int, int]) -> list[_Run]:
    """The output text as coloured runs: tags in their section's colour, ``[n]`` before boxes.

    Boxes whose spans overlap (a JSON list or an InternVL ``<box>`` group holding
    several boxes) get all their markers before the group's text, written once.
    """
    text = result.text
    marks: list[tuple[int, int, str, Any]] = []  # (start, end, kind, payload)
    for s in result.sections:
        marks.append((s.start, s.body_start, "tag", s.kind))
        if s.closed and s.body_end < s.end:
            marks.append((s.body_end, s.end, "tag", s.kind))
    for i, b in enumerate(result.boxes):
        marks.append((b.start, b.end, "box", i))
    marks.sort(key=lambda m: (m[0], 0 if m[2] == "tag" else 1, m[3] if m[2] == "box" else 0))

    def color_of(i: int) -> tuple[int, int, int]:
        return SECTION_COLORS.get(result.boxes[i].section, TEXT_COLOR)

    runs: list[_Run] = []
    pos, k = 0, 0
    while k < len(marks):
        start, end, kind, payload = marks[k]
        k += 1
        if start < pos:  # overlaps what was written already: keep the marker visible
            if kind == "box":
                runs.append(_Run(f"[{numbers[payload]}]", color_of(payload), True))
            continue
        if start > pos:
            runs.append(_Run(text[pos:start]))
        if kind == "tag":
            runs.append(_Run(text[start:end], SECTION_COLORS.get(payload, TEXT_COLOR), True))
        else:
            group = [payload]
            while k < len(marks) and marks[k][2] == "box" and marks[k][0] < end:
                group.append(marks[k][3])
                end = max(end, marks[k][1])
                k += 1
            for i in group:
                runs.append(_Run(f"[{numbers[i]}]", color_of(i), True))
            runs.append(_Run(text[start:end], color_of(payload)))
        pos = end
    if pos < len(text):
        runs.append(_Run(text[pos:]))
    return runs


# --------------------------------------------------------------------------- drawing
def _dashed_rectangle(draw: ImageDraw.ImageDraw, xy, color, width: int, dash: int = DASH) -> None:
    x1, y1, x2, y2 = xy
    for (ax, ay, bx, by) in ((x1, y1, x2, y1), (x2, y1, x2, y2), (x2, y2, x1, y2), (x1, y2, x1, y1)):
        length = math.hypot(bx - ax, by - ay)
        if length == 0:
            continue
        n = max(1, int(length // dash))
        for k in range(0, n, 2):
            t0, t1 = k / n, min(1.0, (k + 1) / n)
            draw.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0),
                       (ax + (bx - ax) * t1, ay + (by - ay) * t1)], fill=color, width=width)


_HIGH_DEPTH_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


def _value_range(im: Image.Image) -> tuple[float, float]:
    """The range of values that maps to black..white for a high-depth image: the mode's
    nominal range (16 bits: 0..65535), else the smallest of 0..1, 0..255 and 0..65535 that
    holds every value, else the image's own minimum..maximum."""
    if im.mode.startswith("I;16"):
        return 0.0, 65535.0
    lo, hi = im.getextrema()
    if not (math.isfinite(lo) and math.isfinite(hi)):  # a float image holding inf or NaN
        return 0.0, 1.0
    nominal = ((0.0, 1.0), (0.0, 255.0), (0.0, 65535.0)) if im.mode == "F" else ((0.0, 255.0), (0.0, 65535.0))
    for a, b in nominal:
        if lo >= a and hi <= b:
            return a, b
    return float(lo), float(hi)


def display_rgb(im: Image.Image) -> Image.Image:
    """``im`` as 8-bit RGB with its real contrast, whatever its mode.

    16-bit and 32-bit grayscale (``I;16*``, ``I``) and float images (``F``) are
    scaled from their value range (:func:`_value_range`) to 0..255 instead of being
    clipped at 255; transparent pixels show the picture's white background, not
    the colour stored under them; LAB goes through a colour transform (Pillow's
    plain conversion keeps only the lightness); every other mode through Pillow's
    conversion.

    >>> im = Image.new("I;16", (2, 1)); im.putpixel((1, 0), 65535)
    >>> [display_rgb(im).getpixel((x, 0)) for x in (0, 1)]
    [(0, 0, 0), (255, 255, 255)]
    """
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in _HIGH_DEPTH_MODES:
        lo, hi = _value_range(im)
        gray = im.convert("F") if mode == "F" else im.convert("I")
        k = 255.0 / (hi - lo) if hi > lo else 0.0
        offset = -lo * k if hi > lo else min(255.0, max(0.0, lo))
        return gray.point(lambda v: v * k + offset).convert("L").convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms

        transform = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                            "LAB", "RGB")
        return ImageCms.applyTransform(im, transform)
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        rgba = (im.convert("LA") if mode == "La" else im).convert("RGBA")
        flat = Image.new("RGB", im.size, BACKGROUND)
        flat.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")


def _load_image(path: Optional[Path]) -> tuple[Optional[Image.Image], str]:
    """The image at ``path`` (8-bit RGB, :func:`display_rgb`), or ``None`` and the reason
    it cannot be shown."""
    if path is None:
        return None, "the record names no image"
    try:
        with Image.open(path) as im:
            im.draft("RGB", (2 * DISPLAY_SIDE, 2 * DISPLAY_SIDE))  # JPEG: decode no larger than needed
            im.load()
            rgb = display_rgb(im)
            return (rgb.copy() if rgb is im else rgb), ""
    except FileNotFoundError:
        return None, f"image not found: {path}"
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return None, f"image unreadable: {path}: {exc}"


def _fmt(v: Optional[float]) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    return f"{v:.3f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


_BOX_REF = re.compile(r"\bbox (\d+)\b")


def _drawn_boxes(result, sample, size: tuple[int, int], box_format: Optional[str]) -> list[DrawnBox]:
    """Every box of ``result`` in original pixels, with the :mod:`gritkit.boxes` verdict
    (the ``box_in_image`` reward's) when it fails one.

    Duplicates are judged within a section, so re-citing a ``<think>`` box in
    ``<rethink>`` (GRIT's design) is not called a duplicate on the picture.
    """
    from gritkit.boxes import check_boxes
    from gritkit.models import ImageSize

    if sample.image_size is None:
        sample = sample.model_copy(update={"image_size": ImageSize(width=size[0], height=size[1])})
    boxes = result.boxes
    try:
        verdicts = check_boxes(boxes, sample, box_format=box_format)
    except Exception as exc:  # an unknown convention: say so on every box
        return [DrawnBox(i + 1, b.section, None, f"not drawn: {exc}") for i, b in enumerate(boxes)]
    out = []
    for i, (b, v) in enumerate(zip(boxes, verdicts)):
        # gritkit.boxes names boxes by Box.index (from 0); the picture numbers them from 1.
        note = _BOX_REF.sub(lambda m: f"[{int(m.group(1)) + 1}]", v.reason or "")
        px = tuple(float(c) for c in v.pixels) if v.pixels is not None else None
        if px is not None and not all(math.isfinite(c) for c in px):
            px = None
        if px is None and note:
            note = f"not drawn: {note}"
        out.append(DrawnBox(i + 1, b.section, px, note))
    return out


_LEGEND = (("think", SECTION_COLORS["think"]), ("rethink", SECTION_COLORS["rethink"]),
           ("answer", SECTION_COLORS["answer"]), ("outside", SECTION_COLORS[None]))


def _legend_width(font) -> int:
    """Width of the legend line (four sections and the ground truth), as drawn."""
    width = sum(28 + font.getlength(name) + 12 for name, _ in _LEGEND)
    return math.ceil(width + 20 + font.getlength("ground truth"))


def _ranges(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"[1]-[3], [5]"``."""
    parts = []
    start = prev = None
    for n in list(numbers) + [None]:
        if start is not None and (n is None or n != prev + 1):
            parts.append(f"[{start}]" if start == prev else f"[{start}]-[{prev}]")
            start = None
        if n is not None and start is None:
            start = n
        prev = n
    return ", ".join(parts)


def _place_labels(drawn: Sequence[DrawnBox], disp, clip, font):
    """Where each box's number goes: ``([(x, y, w, h, number, colour)], [numbers left out])``.

    A label is tried above the box's top-left corner, inside it, at its top-right
    corner, below it, then beside it; each spot is moved inside ``clip`` (the
    picture). The first spot that covers no earlier label wins; a box with none
    (crowded), or after :data:`MAX_LABELS` labels, is left out. A grid of
    :data:`LABEL_CELL` cells finds the labels a spot could cover, so placing n
    labels costs O(n).
    """
    grid: dict[tuple[int, int], list] = {}
    placed: list = []
    left_out: list[int] = []
    lh = FONT_SIZE
    for d in drawn:
        if d.pixels is None:
            continue
        if len(placed) >= MAX_LABELS:
            left_out.append(d.number)
            continue
        (ax, ay), (bx, by) = disp(d.pixels[0], d.pixels[1]), disp(d.pixels[2], d.pixels[3])
        x1, y1, x2, y2 = min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)
        label = str(d.number)
        lw = math.ceil(font.getlength(label)) + 6
        spot = None
        for cx, cy in ((x1, y1 - lh), (x1, y1), (x2 - lw, y1 - lh), (x2 - lw, y1), (x1, y2), (x1 - lw, y1),
                       (x2, y1), (x1, y2 - lh)):
            lx = min(max(cx, clip[0]), clip[2] + 1 - lw)
            ly = min(max(cy, clip[1]), clip[3] + 1 - lh)
            if lx < clip[0] or ly < clip[1]:
                break  # the picture is smaller than the label
            cells = [(i, j) for i in range(int(lx // LABEL_CELL), int((lx + lw) // LABEL_CELL) + 1)
                     for j in range(int(ly // LABEL_CELL), int((ly + lh) // LABEL_CELL) + 1)]
            if not any(lx < px + pw and lx + lw > px and ly < py + ph and ly + lh > py
                       for c in cells for px, py, pw, ph in grid.get(c, ())):
                spot = (lx, ly, cells)
                break
        if spot is None:
            left_out.append(d.number)
            continue
        lx, ly, cells = spot
        for c in cells:
            grid.setdefault(c, []).append((lx, ly, lw, lh))
        placed.append((lx, ly, lw, lh, d.number, SECTION_COLORS.get(d.section, TEXT_COLOR)))
    return placed, left_out


def render_panel(result, sample, *, image: Optional[Image.Image] = None,
                 image_message: str = "", box_format: Optional[str] = None,
                 rewards: Optional[dict[str, Optional[float]]] = None, total: Optional[float] = None,
                 reward_source: str = "", title: str = "", index: int = 0) -> RenderedRecord:
    """Draw one parsed output over its image, with the text beside it.

    Args:
        result: the output's :class:`~gritkit.models.ParseResult`.
        sample: its :class:`~gritkit.models.Sample` (reference answer, ground-truth
            boxes, image size, box convention).
        image: the image in the sample's frame; ``None`` draws a grey placeholder.
        image_message: written on the placeholder (why there is no image).
        box_format: the coordinate convention; default ``sample.box_format``, else
            absolute pixels.
        rewards: reward values to list; ``total`` their weighted total;
            ``reward_source`` the preset or config they come from.
        title: the first line of the text column.
        index: the record's index (kept on the result).

    Returns:
        The :class:`RenderedRecord` (not yet written to disk).

    Example:
        >>> import gritkit
        >>> from gritkit.models import Sample, ImageSize
        >>> r = gritkit.try_parse("<think>cat (10, 10, 50, 40)</think><rethink>ok</rethink><answer>1")
        >>> rec = render_panel(r, Sample(image_size=ImageSize(width=100, height=80)))
        >>> rec.image.getpixel(rec.to_display(10, 25))   # the box's left edge, in think blue
        (31, 119, 180)
    """
    frame_note = ""
    if sample.image_size is not None:
        w, h = sample.image_size.width, sample.image_size.height
        if image is not None and image.size != (w, h):
            # Ground truth and boxes live in the record's frame: the file is stretched to it.
            frame_note = f"; image file {image.size[0]}x{image.size[1]} shown in the record's frame"
    elif image is not None:
        w, h = image.size
    else:
        w, h = 320, 240
    font = _font()
    small = _font(FONT_SIZE - 2)
    line_h = int(FONT_SIZE * 1.45)
    scale = min(MAX_UPSCALE, DISPLAY_SIDE / max(w, h))
    dw, dh = max(1, round(w * scale)), max(1, round(h * scale))
    if image is None:  # drawn at display size: a record claiming 100000x100000 costs nothing
        image = Image.new("RGB", (dw, dh), PLACEHOLDER_COLOR)
    else:
        image = display_rgb(image)

    # Predicted boxes in pixels, numbered in reading order, with box_in_image's verdict on each.
    drawn = _drawn_boxes(result, sample, (w, h), box_format)
    numbers = {i: d.number for i, d in enumerate(drawn)}

    # Left column: image with margin, legend under it (the column is as wide as the wider of the two,
    # so the legend of a tiny image never runs into the text).
    picture_w = dw + 2 * IMAGE_MARGIN
    legend_w = _legend_width(small)
    fmt_name = box_format or sample.box_format
    info = f"image {w}x{h}, boxes {'as ' + fmt_name if fmt_name else 'in pixels'}" + frame_note
    left_w = max(picture_w, legend_w)
    info_lines = _wrap_runs([_Run(info, MUTED_COLOR)], small, left_w)
    legend_h = (1 + len(info_lines)) * line_h + 4
    left_h = dh + 2 * IMAGE_MARGIN + legend_h

    # Number labels: placed inside the picture without covering each other; the rest are listed.
    clip = (PAD, PAD, PAD + picture_w - 1, PAD + dh + 2 * IMAGE_MARGIN - 1)
    ox, oy = PAD + IMAGE_MARGIN, PAD + IMAGE_MARGIN

    def disp(x: float, y: float) -> tuple[float, float]:
        return (min(max(ox + x * scale, clip[0]), clip[2]), min(max(oy + y * scale, clip[1]), clip[3]))

    labels, unlabelled = _place_labels(drawn, disp, clip, small)

    # Right column: text.
    runs: list[_Run] = []
    if title:
        runs.append(_Run(title + "\n", TEXT_COLOR, True))
    if sample.question:
        runs += [_Run("Question: ", MUTED_COLOR, True), _Run(sample.question + "\n\n")]
    runs.append(_Run("Output:\n", MUTED_COLOR, True))
    head_lines = _wrap_runs(runs, font, TEXT_WIDTH)
    if not head_lines[-1]:  # the newline after "Output:" opened an empty line
        head_lines.pop()
    out_lines = _wrap_runs(_output_runs(result, numbers), font, TEXT_WIDTH, max_lines=MAX_OUTPUT_LINES)
    if len(out_lines) > MAX_OUTPUT_LINES:
        out_lines = out_lines[:MAX_OUTPUT_LINES] + [
            [(f"... (output cut after {MAX_OUTPUT_LINES} lines, {len(result.text):,} characters in all)",
              MUTED_COLOR, False, 0.0)]]
    runs = [_Run("\n")]
    status = "follows the grammar" if result.ok else (
        f"does not follow the grammar: {result.error.message.splitlines()[0]}" if result.error
        else "does not follow the grammar")
    runs += [_Run("Format: ", MUTED_COLOR, True), _Run(status + "\n")]
    answer = result.answer
    runs += [_Run("Answer: ", MUTED_COLOR, True),
             _Run("(no answer section)" if answer is None else (answer or "(empty)"))]
    runs += [_Run("\nGround truth: ", MUTED_COLOR, True),
             _Run(f"{sample.answer if sample.answer is not None else '(none)'}; "
                  f"{len(sample.gt_boxes)} box{'es' if len(sample.gt_boxes) != 1 else ''}")]
    notes = [f"[{d.number}] {d.note}" for d in drawn if d.note]
    if notes:
        runs += [_Run("\nBoxes: ", MUTED_COLOR, True), _Run("; ".join(notes))]
    if unlabelled:
        runs += [_Run("\nNot numbered on the picture (crowded): ", MUTED_COLOR, True),
                 _Run(f"{_ranges(unlabelled)} ({len(unlabelled)} of {len(drawn)} boxes; [n] in the text "
                      "marks where each was written)")]
    if rewards is not None:
        head = f"\nRewards ({reward_source}): " if reward_source else "\nRewards: "
        parts = [f"{k} {_fmt(v)}" for k, v in rewards.items()]
        if total is not None:
            parts.append(f"total {_fmt(total)}")
        runs += [_Run(head, MUTED_COLOR, True), _Run(", ".join(parts))]
    tail_lines = _wrap_runs(runs, font, TEXT_WIDTH, max_lines=MAX_OUTPUT_LINES)[:MAX_OUTPUT_LINES]
    lines = head_lines + out_lines + tail_lines
    text_h = len(lines) * line_h

    width = PAD + left_w + PAD + TEXT_WIDTH + PAD
    height = PAD + max(left_h, text_h) + PAD
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle(clip, fill=MARGIN_COLOR)
    canvas.paste(image.resize((dw, dh), Image.Resampling.BILINEAR) if (dw, dh) != image.size else image,
                 (ox, oy))
    if image_message:
        for k, chunk in enumerate(_wrap_runs([_Run(image_message)], font, max(40, dw - 16))[:6]):
            for tok, _, _, x in chunk:
                draw.text((ox + 8 + x, oy + 8 + k * line_h), tok, fill=(120, 0, 0), font=font)

    for d in drawn:
        if d.pixels is None:
            continue
        (ax, ay), (bx, by) = disp(d.pixels[0], d.pixels[1]), disp(d.pixels[2], d.pixels[3])
        x1, y1, x2, y2 = min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)
        color = SECTION_COLORS.get(d.section, TEXT_COLOR)
        draw.rectangle((x1, y1, x2, y2), outline=color, width=LINE_WIDTH)
    for gt in sample.gt_boxes:  # dashed, over the predictions: both stay visible
        (ax, ay), (bx, by) = disp(gt[0], gt[1]), disp(gt[2], gt[3])
        _dashed_rectangle(draw, (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)), GT_COLOR, GT_LINE_WIDTH)
    for lx, ly, lw, lh, number, color in labels:  # numbers on top of every outline
        draw.rectangle((lx, ly, lx + lw - 1, ly + lh - 1), fill=color)
        draw.text((lx + 3, ly), str(number), fill=(255, 255, 255), font=small)

    # Legend.
    ly = PAD + dh + 2 * IMAGE_MARGIN + 6
    lx = PAD
    for name, color in _LEGEND:
        draw.rectangle((lx, ly + 3, lx + 14, ly + 13), outline=color, width=LINE_WIDTH)
        draw.text((lx + 20, ly), name, fill=TEXT_COLOR, font=small)
        lx += 28 + small.getlength(name) + 12
    _dashed_rectangle(draw, (lx, ly + 3, lx + 14, ly + 13), GT_COLOR, GT_LINE_WIDTH, dash=4)
    draw.text((lx + 20, ly), "ground truth", fill=TEXT_COLOR, font=small)
    for k, chunk in enumerate(info_lines):
        for tok, color, _, x in chunk:
            draw.text((PAD + x, ly + (k + 1) * line_h), tok, fill=color, font=small)

    # Text column.
    tx = PAD + left_w + PAD
    for k, line in enumerate(lines):
        y = PAD + k * line_h
        for tok, color, bold, x in line:
            draw.text((tx + x, y), tok, fill=color, font=font)
            if bold:
                draw.text((tx + x + 0.6, y), tok, fill=color, font=font)

    return RenderedRecord(index=index, image=canvas, message=image_message, boxes=drawn,
                          origin=(ox, oy), scale=scale, labels={n: (x, y, lw, lh) for x, y, lw, lh, n, _ in labels},
                          unlabelled=unlabelled, text_origin=(tx, PAD))


# --------------------------------------------------------------------------- files
def parse_selection(text: str) -> list[int]:
    """``"0,5,9"`` or ``"2-4,7"`` -> record indices (0-based, sorted, unique).

    Raises:
        ConfigError: the text is not a list of indices or ranges.

    Example:
        >>> parse_selection("0,5,9"), parse_selection("2-4, 7")
        ([0, 5, 9], [2, 3, 4, 7])
    """
    from gritkit.errors import ConfigError

    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ConfigError(f"--records {text!r}: {part!r} is not a record index or a range.\n"
                              "Write 0-based indices and ranges, e.g. --records 0,5,9 or --records 2-4.") from None
        if a < 0 or b < a:
            raise ConfigError(f"--records {text!r}: {part!r} is not a valid index or range "
                              "(indices start at 0; ranges are low-high).")
        out.update(range(a, b + 1))
    if not out:
        raise ConfigError(f"--records {text!r} selects no record; e.g. --records 0,5,9.")
    return sorted(out)


def _reward_scorer(config):
    """A function ``(result, sample) -> (rewards, total)`` for ``config``, and its label."""
    import warnings

    from gritkit.compose import Composer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        composer = Composer(config)
    label = composer.config.source or "config"
    if label.startswith("preset "):
        label = label.replace("'", "")

    def score(result, sample):
        s = composer.score(result, sample)
        return s.rewards, s.total

    return score, label, composer


def iter_render_file(path: Union[str, Path], *, images: Union[str, Path], out: Union[str, Path],
                     records: Optional[Iterable[int]] = None, box_format: Optional[str] = None,
                     config: Any = "grit", renames: Optional[dict[str, str]] = None,
                     html_page: bool = False, progress=None) -> Iterator[RenderedRecord]:
    """Render records of a GRIT-schema JSON Lines file to ``out/record_NNNN.png``, one at a time.

    Records are read, drawn, written and let go one by one: memory stays flat
    in the number of records. Each yielded :class:`RenderedRecord` has its
    ``path`` but no ``image`` (the picture is on disk). With ``html_page`` the
    page ``out/index.html`` is written as the records go (each picture embedded
    once it is drawn) and finished when the iteration ends.

    Args:
        path: the outputs file (``output`` plus GRIT's data schema).
        images: the folder the records' ``image`` paths are relative to.
        out: the output folder (created if needed).
        records: 0-based indices to render (default: all).
        box_format: the coordinate convention (else each record's ``box_format``).
        config: the preset or config whose rewards are listed (``None``: no rewards).
        renames: column renames ``{file column: gritkit field}``.
        html_page: also write ``out/index.html``, one self-contained page.
        progress: called once per record handled.

    Yields:
        One :class:`RenderedRecord` per selected record, in order (a selected
        index the file does not have comes last); those with a
        :attr:`~RenderedRecord.message` had a problem (a missing image still
        gives a picture, on a placeholder).

    Raises:
        DataError: the file cannot be read, or ``out`` cannot be created.
        ConfigError: the config or box format is wrong.
    """
    from gritkit.config import RewardConfig
    from gritkit.evaluate import ensure_dir
    from gritkit.io import read_records
    from gritkit.records import RecordReader

    outdir = ensure_dir(out)
    image_root = Path(images)
    if config is not None:
        scorer, label, composer = _reward_scorer(config)
        cfg = composer.config
        grammar = composer.grammar
    else:
        scorer, label = None, ""
        cfg = RewardConfig(rewards=[{"name": "format"}])  # only its column map and defaults are used
        grammar = cfg.grammar
    if box_format is not None:
        from gritkit.plugins import get_plugin_manager

        get_plugin_manager().get_box_format(box_format)
    wanted = None if records is None else set(records)
    reader = RecordReader.from_config(cfg, renames=renames, box_format=box_format)
    page = _HtmlPage(outdir / "index.html", title=f"gritkit render: {Path(path).name}") if html_page else None
    try:
        seen: set[int] = set()
        n_read = 0
        for index, record, problem in ((ln.index, ln.record, ln.problem) for ln in read_records(path)):
            n_read += 1
            if wanted is not None and index not in wanted:
                continue
            seen.add(index)
            if progress is not None:
                progress()
            yield _render_one(index, record, problem, path=path, reader=reader, grammar=grammar, scorer=scorer,
                              label=label, image_root=image_root, box_format=box_format, outdir=outdir, page=page)
        if wanted is not None:
            for index in sorted(wanted - seen):
                rec = RenderedRecord(index=index, message=f"{path}: there is no record {index} "
                                                          f"(the file has {n_read} records, numbered from 0)")
                if page is not None:
                    page.add(rec, None)
                yield rec
    finally:
        if page is not None:
            page.close()


def _render_one(index, record, problem, *, path, reader, grammar, scorer, label, image_root, box_format,
                outdir, page) -> RenderedRecord:
    """One record: parsed, scored, drawn, written (and added to the page); the picture let go."""
    from gritkit.errors import DataError
    from gritkit.evaluate import error_text
    from gritkit.parsing import try_parse

    if record is None:
        rec = RenderedRecord(index=index, message=f"{path}: line {index + 1}: {problem}")
        if page is not None:
            page.add(rec, None)
        return rec
    try:
        text, sample = reader.read(record)
    except Exception as exc:  # DataError and friends: this record only
        rec = RenderedRecord(index=index, message=f"{path}: line {index + 1}: {error_text(exc)}")
        if page is not None:
            page.add(rec, None)
        return rec
    result = try_parse(text, grammar)
    img, msg = _load_image((image_root / sample.image) if sample.image else None)
    rewards, total = (None, None)
    if scorer is not None:
        rewards, total = scorer(result, sample)
    title = f"record {index}" + (f" · {sample.dataset}" if sample.dataset else "") + (
        f" · {sample.image}" if sample.image else "")
    rec = render_panel(result, sample, image=img, image_message=msg, box_format=box_format,
                       rewards=rewards, total=total, reward_source=label, title=title, index=index)
    del img
    if msg:
        rec.message = f"{path}: line {index + 1}: {msg}"
    rec.path = outdir / f"record_{index:04d}.png"
    buf = io.BytesIO()
    rec.image.save(buf, format="PNG", optimize=True)
    rec.image = None  # on disk now: holding every picture is what made memory grow with the records
    png = buf.getvalue()
    try:
        rec.path.write_bytes(png)
    except OSError as exc:
        raise DataError(f"Cannot write {str(rec.path)!r}: {exc.strerror or exc}.") from exc
    if page is not None:
        page.add(rec, png)
    return rec


def render_file(path: Union[str, Path], *, images: Union[str, Path], out: Union[str, Path],
                records: Optional[Iterable[int]] = None, box_format: Optional[str] = None,
                config: Any = "grit", renames: Optional[dict[str, str]] = None,
                html_page: bool = False, progress=None) -> list[RenderedRecord]:
    """:func:`iter_render_file`, as a list: one :class:`RenderedRecord` per selected record,
    in order, each with its ``path``, ``message`` and ``boxes`` and no ``image`` (the
    pictures are on disk; the list holds no picture, so memory stays flat).

    Example:
        >>> results = render_file("examples/data/sample_outputs.jsonl",  # doctest: +SKIP
        ...                       images="examples/data/images", out="out/render")
    """
    return list(iter_render_file(path, images=images, out=out, records=records, box_format=box_format,
                                 config=config, renames=renames, html_page=html_page, progress=progress))


_PAGE_HEAD = ("<style>body{font-family:sans-serif;margin:2em;color:#222}"
              "section{margin-bottom:2.5em}img{max-width:100%;border:1px solid #ddd}"
              ".msg{color:#a00}</style></head><body>")
_PAGE_LEGEND = ("<p>Boxes: <b style='color:rgb(31,119,180)'>think</b>, "
                "<b style='color:rgb(255,127,14)'>rethink</b>, <b style='color:rgb(44,160,44)'>answer</b>, "
                "<b style='color:rgb(148,103,189)'>outside any section</b>; ground truth dashed "
                "<b style='color:rgb(214,39,40)'>red</b>. Numbers follow the order the boxes were written.</p>")


class _HtmlPage:
    """One self-contained HTML page of rendered records, written as they come: each
    picture is embedded (a base64 PNG data URI) and let go, so the page never holds
    more than one picture in memory."""

    def __init__(self, path: Union[str, Path], title: str = "gritkit render"):
        self.path = Path(path)
        try:
            self._f = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            from gritkit.errors import DataError

            raise DataError(f"Cannot write the page {str(self.path)!r}: {exc.strerror or exc}.") from exc
        self._f.write("\n".join(["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
                                  f"<title>{html.escape(title)}</title>", _PAGE_HEAD,
                                  f"<h1>{html.escape(title)}</h1>", _PAGE_LEGEND, ""]))

    def add(self, r: RenderedRecord, png: Optional[bytes]) -> None:
        self._f.write(f'<section id="record-{r.index}"><h2>record {r.index}</h2>\n')
        if r.message:
            self._f.write(f'<p class="msg">{html.escape(r.message)}</p>\n')
        if png is not None:
            self._f.write(f'<img alt="record {r.index}" src="data:image/png;base64,')
            self._f.write(base64.b64encode(png).decode("ascii"))
            self._f.write('">\n')
        self._f.write("</section>\n")

    def close(self) -> None:
        if not self._f.closed:
            self._f.write("</body></html>\n")
            self._f.close()


def write_html(records: Sequence[RenderedRecord], path: Union[str, Path], title: str = "gritkit render") -> Path:
    """Write one self-contained HTML page of rendered records (PNGs as base64 data URIs).

    Each record's picture is its ``image`` when it has one, else the PNG at its
    ``path``; the page is written record by record.
    """
    page = _HtmlPage(path, title=title)
    try:
        for r in records:
            png = None
            if r.image is not None:
                buf = io.BytesIO()
                r.image.save(buf, format="PNG", optimize=True)
                png = buf.getvalue()
            elif r.path is not None and Path(r.path).is_file():
                png = Path(r.path).read_bytes()
            page.add(r, png)
    finally:
        page.close()
    return page.path

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
from typing import Any, Iterable, Optional, Sequence, Union

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
"""Number labels are drawn for the first this many boxes (every box is still outlined)."""
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
    """

    index: int
    image: Optional[Image.Image] = None
    path: Optional[Path] = None
    message: str = ""
    boxes: list[DrawnBox] = field(default_factory=list)
    origin: tuple[int, int] = (0, 0)
    scale: float = 1.0

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


def _load_image(path: Optional[Path]) -> tuple[Optional[Image.Image], str]:
    """The image at ``path``, or ``None`` and the reason it cannot be shown."""
    if path is None:
        return None, "the record names no image"
    try:
        with Image.open(path) as im:
            im.draft("RGB", (2 * DISPLAY_SIDE, 2 * DISPLAY_SIDE))  # JPEG: decode no larger than needed
            im.load()
            return im.convert("RGB"), ""
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

    # Predicted boxes in pixels, numbered in reading order, with box_in_image's verdict on each.
    drawn = _drawn_boxes(result, sample, (w, h), box_format)
    numbers = {i: d.number for i, d in enumerate(drawn)}

    # Left column: image with margin, legend under it.
    left_w = dw + 2 * IMAGE_MARGIN
    legend_h = 2 * line_h + 4
    left_h = dh + 2 * IMAGE_MARGIN + legend_h

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
    ox, oy = PAD + IMAGE_MARGIN, PAD + IMAGE_MARGIN
    draw.rectangle((PAD, PAD, PAD + left_w - 1, PAD + dh + 2 * IMAGE_MARGIN - 1), fill=MARGIN_COLOR)
    canvas.paste(image.resize((dw, dh), Image.Resampling.BILINEAR) if (dw, dh) != image.size else image,
                 (ox, oy))
    if image_message:
        for k, chunk in enumerate(_wrap_runs([_Run(image_message)], font, max(40, dw - 16))[:6]):
            for tok, _, _, x in chunk:
                draw.text((ox + 8 + x, oy + 8 + k * line_h), tok, fill=(120, 0, 0), font=font)

    clip = (PAD, PAD, PAD + left_w - 1, PAD + dh + 2 * IMAGE_MARGIN - 1)

    def disp(x: float, y: float) -> tuple[float, float]:
        return (min(max(ox + x * scale, clip[0]), clip[2]), min(max(oy + y * scale, clip[1]), clip[3]))

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
    placed: list[tuple[float, float, float, float]] = []
    for d in drawn[:MAX_LABELS]:  # numbers on top of every outline, shifted right past earlier labels
        if d.pixels is None:
            continue
        (ax, ay), (bx, by) = disp(d.pixels[0], d.pixels[1]), disp(d.pixels[2], d.pixels[3])
        x1, y1 = min(ax, bx), min(ay, by)
        color = SECTION_COLORS.get(d.section, TEXT_COLOR)
        label = str(d.number)
        lw, lh = small.getlength(label) + 6, FONT_SIZE
        ly = y1 - lh if y1 - lh >= clip[1] else y1
        lx = x1
        while any(lx < px2 and lx + lw > px1 and ly < py2 and ly + lh > py1 for px1, py1, px2, py2 in placed):
            lx += lw + 1
        placed.append((lx, ly, lx + lw, ly + lh))
        draw.rectangle((lx, ly, lx + lw, ly + lh), fill=color)
        draw.text((lx + 3, ly), label, fill=(255, 255, 255), font=small)

    # Legend.
    ly = PAD + dh + 2 * IMAGE_MARGIN + 6
    lx = PAD
    for name, color in (("think", SECTION_COLORS["think"]), ("rethink", SECTION_COLORS["rethink"]),
                        ("answer", SECTION_COLORS["answer"]), ("outside", SECTION_COLORS[None])):
        draw.rectangle((lx, ly + 3, lx + 14, ly + 13), outline=color, width=LINE_WIDTH)
        draw.text((lx + 20, ly), name, fill=TEXT_COLOR, font=small)
        lx += 28 + small.getlength(name) + 12
    _dashed_rectangle(draw, (lx, ly + 3, lx + 14, ly + 13), GT_COLOR, GT_LINE_WIDTH, dash=4)
    draw.text((lx + 20, ly), "ground truth", fill=TEXT_COLOR, font=small)
    fmt_name = box_format or sample.box_format
    draw.text((PAD, ly + line_h), f"image {w}x{h}, boxes {'as ' + fmt_name if fmt_name else 'in pixels'}"
              + frame_note, fill=MUTED_COLOR, font=small)

    # Text column.
    tx = PAD + left_w + PAD
    for k, line in enumerate(lines):
        y = PAD + k * line_h
        for tok, color, bold, x in line:
            draw.text((tx + x, y), tok, fill=color, font=font)
            if bold:
                draw.text((tx + x + 0.6, y), tok, fill=color, font=font)

    return RenderedRecord(index=index, image=canvas, message=image_message, boxes=drawn,
                          origin=(ox, oy), scale=scale)


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


def render_file(path: Union[str, Path], *, images: Union[str, Path], out: Union[str, Path],
                records: Optional[Iterable[int]] = None, box_format: Optional[str] = None,
                config: Any = "grit", renames: Optional[dict[str, str]] = None,
                html_page: bool = False, progress=None) -> list[RenderedRecord]:
    """Render records of a GRIT-schema JSON Lines file to ``out/record_NNNN.png``.

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

    Returns:
        One :class:`RenderedRecord` per selected record, in order; those with a
        :attr:`~RenderedRecord.message` had a problem (a missing image still
        gives a picture, on a placeholder).

    Raises:
        DataError: the file cannot be read, or ``out`` cannot be created.
        ConfigError: the config or box format is wrong.
    """
    from gritkit.config import RewardConfig
    from gritkit.evaluate import ensure_dir, error_text
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
    from gritkit.parsing import try_parse

    done: list[RenderedRecord] = []
    seen: set[int] = set()
    n_read = 0
    for index, record, problem in ((ln.index, ln.record, ln.problem) for ln in read_records(path)):
        n_read += 1
        if wanted is not None and index not in wanted:
            continue
        seen.add(index)
        if progress is not None:
            progress()
        if record is None:
            done.append(RenderedRecord(index=index, message=f"{path}: line {index + 1}: {problem}"))
            continue
        try:
            text, sample = reader.read(record)
        except Exception as exc:  # DataError and friends: this record only
            done.append(RenderedRecord(index=index, message=f"{path}: line {index + 1}: {error_text(exc)}"))
            continue
        result = try_parse(text, grammar)
        img, msg = _load_image((image_root / sample.image) if sample.image else None)
        rewards, total = (None, None)
        if scorer is not None:
            rewards, total = scorer(result, sample)
        title = f"record {index}" + (f" · {sample.dataset}" if sample.dataset else "") + (
            f" · {sample.image}" if sample.image else "")
        rec = render_panel(result, sample, image=img, image_message=msg, box_format=box_format,
                           rewards=rewards, total=total, reward_source=label, title=title, index=index)
        if msg:
            rec.message = f"{path}: line {index + 1}: {msg}"
        rec.path = outdir / f"record_{index:04d}.png"
        rec.image.save(rec.path, format="PNG", optimize=True)
        done.append(rec)
    if wanted is not None:
        for index in sorted(wanted - seen):
            done.append(RenderedRecord(index=index, message=f"{path}: there is no record {index} "
                                                            f"(the file has {n_read} records, "
                                                            "numbered from 0)"))
    done.sort(key=lambda r: r.index)
    if html_page:
        write_html(done, outdir / "index.html", title=f"gritkit render: {Path(path).name}")
    return done


def write_html(records: Sequence[RenderedRecord], path: Union[str, Path], title: str = "gritkit render") -> Path:
    """Write one self-contained HTML page of rendered records (PNGs as base64 data URIs)."""
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em;color:#222}"
             "section{margin-bottom:2.5em}img{max-width:100%;border:1px solid #ddd}"
             ".msg{color:#a00}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             "<p>Boxes: <b style='color:rgb(31,119,180)'>think</b>, "
             "<b style='color:rgb(255,127,14)'>rethink</b>, <b style='color:rgb(44,160,44)'>answer</b>, "
             "<b style='color:rgb(148,103,189)'>outside any section</b>; ground truth dashed "
             "<b style='color:rgb(214,39,40)'>red</b>. Numbers follow the order the boxes were written.</p>"]
    for r in records:
        parts.append(f'<section id="record-{r.index}"><h2>record {r.index}</h2>')
        if r.message:
            parts.append(f'<p class="msg">{html.escape(r.message)}</p>')
        if r.image is not None:
            buf = io.BytesIO()
            r.image.save(buf, format="PNG", optimize=True)
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            parts.append(f'<img alt="record {r.index}" src="data:image/png;base64,{data}">')
        parts.append("</section>")
    parts.append("</body></html>")
    p = Path(path)
    p.write_text("\n".join(parts), encoding="utf-8")
    return p

"""Typed, immutable results: what a completion parses into, and what a reward sees.

Every model here is a frozen pydantic model. One :class:`ParseResult` is shared by
every reward that reads the same completion (see :func:`gritkit.try_parse`'s
cache), so no reward can change what another one sees.

The parser builds these models with :func:`fast_construct`, which skips
re-validation of values it produced itself; ``Model.model_validate(m.model_dump())``
gives an equal model (a test checks this).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

SectionKind = Literal["think", "rethink", "answer"]
BoxSyntax = Literal[
    "json",        # {"bbox_2d": [x1, y1, x2, y2], "label": "cat"} (also "bbox")
    "list",        # [x1, y1, x2, y2]
    "nested_list", # [[x1, y1, x2, y2], [...]] and label[[...]]
    "tuple",       # (x1, y1, x2, y2)
    "bare",        # 380, 209, 453, 293
    "point_pair",  # (x1,y1),(x2,y2)
    "qwen2_vl",    # <|object_ref_start|>l<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>
    "internvl",    # <ref>l</ref><box>[[x1, y1, x2, y2]]</box>
    "deepseek_vl2",  # <|ref|>l<|/ref|><|det|>[[x1, y1, x2, y2]]<|/det|>
]
Number = Union[int, float]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


_new = object.__new__
_set = object.__setattr__


def construct(cls, fields: dict, fields_set: Optional[set] = None):
    """Build a model from a dict of values the caller guarantees are valid (no validation).

    This is what :meth:`pydantic.BaseModel.model_construct` does, minus its
    per-call overhead; the parser uses it on the hot path. ``fields`` must hold
    every field. ``fields_set`` may be one set shared by every instance of a
    frozen model (nothing ever changes it); by default it is ``set(fields)``.
    """
    obj = _new(cls)
    _set(obj, "__dict__", fields)
    _set(obj, "__pydantic_fields_set__", set(fields) if fields_set is None else fields_set)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def fast_construct(cls, /, **fields):
    """:func:`construct` with the fields as keyword arguments."""
    return construct(cls, fields)


def _to_float(c) -> float:
    try:
        return float(c)
    except OverflowError:  # an integer written with hundreds of digits
        return math.inf if c > 0 else -math.inf


class Box(BaseModel):
    """One box as the model wrote it.

    Attributes:
        coords: the four numbers as written (``int`` for integer literals, else
            ``float``), in the order written: ``x1, y1, x2, y2`` for most
            syntaxes. Which frame they are in (pixels, 0..1000, ...) is decided
            later by a coordinate convention, never by the parser.
        label: the label written with the box, if any.
        syntax: which syntax the box was written in (see :data:`BoxSyntax`).
        section: the section the box was written in, or ``None`` outside sections.
        start, end: character span of the box's text (for a JSON object or a
            ``<ref>…<box>`` group that holds several boxes, the span of the group).
        index: position in reading order, from 0.
    """

    model_config = _FROZEN

    coords: tuple[Number, Number, Number, Number]
    label: Optional[str] = None
    syntax: BoxSyntax
    section: Optional[SectionKind] = None
    start: int
    end: int
    index: int = 0

    @property
    def is_finite(self) -> bool:
        """True when all four numbers are finite (an integer too large for a float is not)."""
        return all(math.isfinite(c) for c in self.as_floats())

    def as_floats(self) -> tuple[float, float, float, float]:
        """The coordinates as floats; integers beyond float range become ±inf."""
        return tuple(_to_float(c) for c in self.coords)  # type: ignore[return-value]


class Section(BaseModel):
    """One ``<think>``, ``<rethink>`` or ``<answer>`` section.

    Attributes:
        kind: ``"think"``, ``"rethink"`` or ``"answer"``.
        start, end: span of the whole section, tags included.
        body_start, body_end: span of the text between the tags.
        text: that text, unstripped.
        closed: whether the closing tag was written.
    """

    model_config = _FROZEN

    kind: SectionKind
    start: int
    end: int
    body_start: int
    body_end: int
    text: str
    closed: bool = True


class Deviation(BaseModel):
    """One way a completion departs from the grammar (found by recovery).

    ``code`` is stable and machine-readable (e.g. ``"unclosed_section"``,
    ``"missing_section"``, ``"repeated_section"``, ``"stray_tag"``,
    ``"out_of_order"``, ``"malformed_box"``); ``message`` is for people.
    """

    model_config = _FROZEN

    code: str
    message: str
    offset: int
    line: int
    column: int


class ErrorInfo(BaseModel):
    """The first grammar error: where it is, what was expected, a caret snippet."""

    model_config = _FROZEN

    line: int
    column: int
    offset: int
    message: str
    expected: tuple[str, ...] = ()
    label: str = ""
    snippet: str = ""


class GroundedOutput(BaseModel):
    """The structure of one completion: its sections, its boxes, its answer.

    Attributes:
        text: the completion text.
        sections: sections in the order written.
        boxes: every box found, in reading order, inside sections or not.
        answer: the stripped text of the first ``<answer>`` section, or ``None``
            when no answer section was written.
    """

    model_config = _FROZEN

    text: str
    sections: tuple[Section, ...] = ()
    boxes: tuple[Box, ...] = ()
    answer: Optional[str] = None

    def section(self, kind: str) -> Optional[Section]:
        """The first section of ``kind``, or ``None``."""
        for s in self.sections:
            if s.kind == kind:
                return s
        return None

    def boxes_in(self, kind: Optional[str]) -> tuple[Box, ...]:
        """Boxes written in sections of ``kind`` (``None``: outside any section)."""
        return tuple(b for b in self.boxes if b.section == kind)

    @property
    def think(self) -> Optional[Section]:
        return self.section("think")

    @property
    def rethink(self) -> Optional[Section]:
        return self.section("rethink")


class ParseResult(BaseModel):
    """What :func:`gritkit.try_parse` returns; it never raises.

    Attributes:
        ok: the text follows the grammar.
        grammar: the grammar's name (with tag renamings, e.g. ``"grit[think=thinking]"``).
        output: the best-effort structure, also when ``ok`` is false: the
            sections that could be recovered and every box.
        error: the first grammar error, or ``None`` when ``ok``.
        deviations: every departure from the grammar that recovery found.

    The structure's fields are also available directly: ``result.boxes``,
    ``result.sections``, ``result.answer``, ``result.text``.
    """

    model_config = _FROZEN

    ok: bool
    grammar: str
    output: GroundedOutput
    error: Optional[ErrorInfo] = None
    deviations: tuple[Deviation, ...] = ()

    @property
    def text(self) -> str:
        return self.output.text

    @property
    def sections(self) -> tuple[Section, ...]:
        return self.output.sections

    @property
    def boxes(self) -> tuple[Box, ...]:
        return self.output.boxes

    @property
    def answer(self) -> Optional[str]:
        return self.output.answer

    def section(self, kind: str) -> Optional[Section]:
        return self.output.section(kind)

    def boxes_in(self, kind: Optional[str]) -> tuple[Box, ...]:
        return self.output.boxes_in(kind)

    def has_deviation(self, code: str) -> bool:
        """True when recovery found a deviation with this ``code``."""
        return any(d.code == code for d in self.deviations)


class ImageSize(BaseModel):
    """Width and height of the original image, in pixels."""

    model_config = _FROZEN

    width: int = Field(gt=0)
    height: int = Field(gt=0)

    @property
    def center(self) -> tuple[float, float]:
        return self.width / 2.0, self.height / 2.0

    @property
    def area(self) -> int:
        return self.width * self.height


class Sample(BaseModel):
    """What a reward knows about the row a completion answers.

    Adapters build it from dataset columns (see :class:`gritkit.config.ColumnMap`);
    rewards never see a trainer's list-of-columns arguments.

    Attributes:
        answer: the reference answer, as text.
        gt_boxes: ground-truth boxes ``[x1, y1, x2, y2]`` in pixels of the original image.
        image_size: the original image's size, when known.
        dataset: the dataset or task name (e.g. ``"tallyqa"``, ``"vsr"``).
        box_format: the coordinate convention the model writes boxes in (a
            name registered through ``register_box_formats``); ``None`` means
            absolute pixels of the original image.
        question: the question (or the whole prompt text) when known.
        image: the image's path or id, when known.
        min_pixels, max_pixels: the processor's pixel budget, for conventions
            that depend on the resized frame (Qwen2.5-VL).
        completion_ids: the completion's token ids, when the trainer gives them.
        extra: every other column of the row.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    answer: Optional[str] = None
    gt_boxes: tuple[tuple[float, float, float, float], ...] = ()
    image_size: Optional[ImageSize] = None
    dataset: Optional[str] = None
    box_format: Optional[str] = None
    question: Optional[str] = None
    image: Optional[str] = None
    min_pixels: Optional[int] = None
    max_pixels: Optional[int] = None
    completion_ids: Optional[tuple[int, ...]] = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_to_text(cls, v):
        # GRIT's data has integer answers for TallyQA; the dataset item carries str(answer).
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        return str(v)

    @field_validator("gt_boxes", mode="before")
    @classmethod
    def _boxes(cls, v):
        if v is None:
            return ()
        out = []
        for i, b in enumerate(v):
            b = list(b)
            if len(b) != 4:
                raise ValueError(
                    f"ground-truth box {i} has {len(b)} numbers; expected 4 ([x1, y1, x2, y2])")
            out.append(tuple(float(x) for x in b))
        return tuple(out)

"""Typed, immutable results: what a completion parses into, and what a reward sees.

The parse results (:class:`ParseResult`, :class:`GroundedOutput`, :class:`Section`,
:class:`Box`, :class:`Deviation`, :class:`ErrorInfo`) are lean, slotted classes with
the interface of frozen pydantic models: keyword constructors that validate,
``model_dump()``, ``model_dump_json()``, ``model_validate()``,
``model_validate_json()``, ``model_copy()``, ``model_fields``,
``model_json_schema()``, equality by value and hashing. Assigning an attribute
raises ``AttributeError``. One :class:`ParseResult` may be shared by every reward
that reads the same completion, so no reward can change what another one sees.
Validation, JSON and schemas are done by a pydantic model with the same fields,
built on first use; the parser builds its results without it, because it
produced the values itself (``Model.model_validate(m.model_dump()) == m``; a test
checks this).

:class:`Sample` and :class:`ImageSize` are ordinary frozen pydantic models.
"""

from __future__ import annotations

import copy as _copy
import math
from operator import attrgetter
from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

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


def fast_construct(cls, /, **fields):
    """Build a pydantic model from values the caller guarantees are valid (no validation).

    What :meth:`pydantic.BaseModel.model_construct` does, minus its per-call
    overhead, for hot paths that build many small models (``fields`` must hold
    every field).
    """
    obj = _new(cls)
    _set(obj, "__dict__", fields)
    _set(obj, "__pydantic_fields_set__", set(fields))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def _to_float(c) -> float:
    try:
        return float(c)
    except OverflowError:  # an integer written with hundreds of digits
        return math.inf if c > 0 else -math.inf


# --------------------------------------------------------------------------- lean results
#
# Each class below lists its fields in ``_fields`` and stores them in slots named
# ``_<field>``; a read-only property per field gives them out. Building one
# costs a few hundred nanoseconds (a frozen pydantic model costs several times
# that, and more again in garbage collection), which matters because every
# completion of every training step is parsed. The pydantic "schema" model of
# each class (``_schemas``) holds the same field declarations; it is built on
# first use and does the validation, the JSON and the JSON schema, so those
# behave exactly as before.

class _ClassProperty:
    def __init__(self, fn):
        self.fn = fn

    def __get__(self, obj, owner):
        return self.fn(owner)


class _Lean:
    """The pydantic-style interface shared by the parse-result classes."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()   # the fields, in order
    _defaults: ClassVar[dict] = {}            # the optional fields' defaults

    def __init__(self, **data: Any) -> None:
        m = self._schema()(**{k: _plain(v) for k, v in data.items()})  # validates, as pydantic does
        for f in self._fields:
            object.__setattr__(self, "_" + f, _lean(getattr(m, f)))

    # -- values
    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._fields)

    @classmethod
    def _from_values(cls, values):
        return _BUILDERS[cls](*values)

    # -- the pydantic interface
    @classmethod
    def _schema(cls) -> type[BaseModel]:
        return _schemas()[cls.__name__]

    @_ClassProperty
    def model_fields(cls) -> dict:
        return cls._schema().model_fields

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any):
        if isinstance(obj, cls) and not kwargs:
            return obj
        return _lean(cls._schema().model_validate(_plain(obj), **kwargs))

    @classmethod
    def model_validate_json(cls, data: Union[str, bytes], **kwargs: Any):
        return _lean(cls._schema().model_validate_json(data, **kwargs))

    @classmethod
    def model_construct(cls, **values: Any):
        defaults = {n: f.get_default(call_default_factory=True)
                    for n, f in cls.model_fields.items() if not f.is_required()}
        return cls._from_values([values.get(f, defaults.get(f)) for f in cls._fields])

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict:
        return cls._schema().model_json_schema(*args, **kwargs)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any):
        """As a field of a pydantic model: validated and serialised as the schema model."""
        from pydantic_core import core_schema

        def validate(value, validate_as_schema_model):
            if isinstance(value, cls):
                return value
            return _lean(validate_as_schema_model(_plain(value)))

        return core_schema.no_info_wrap_validator_function(
            validate, handler.generate_schema(cls._schema()),
            serialization=core_schema.plain_serializer_function_ser_schema(_serialize, info_arg=True))

    def model_dump(self, **kwargs: Any) -> dict:
        if any(k not in _NO_EFFECT or v != _NO_EFFECT[k] for k, v in kwargs.items()):
            return self._pydantic().model_dump(**kwargs)
        return {f: _plain(v) for f, v in zip(self._fields, self._values())}

    def model_dump_json(self, **kwargs: Any) -> str:
        return self._pydantic().model_dump_json(**kwargs)

    def model_copy(self, *, update: Optional[dict] = None, deep: bool = False):
        values = dict(zip(self._fields, self._values()))
        if update:
            values.update(update)
        if deep:
            values = _copy.deepcopy(values)
        return self._from_values([values[f] for f in self._fields])

    def _pydantic(self) -> BaseModel:
        """The same values as the pydantic schema model (not re-validated)."""
        s = self._schema()
        return s.model_construct(**{f: _pydantic(v) for f, v in zip(self._fields, self._values())})

    # -- value semantics
    def __eq__(self, other: Any):
        if not isinstance(other, _Lean):
            return NotImplemented
        return type(other) is type(self) and other._values() == self._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __iter__(self):  # like pydantic: (field, value) pairs, so dict(model) works
        return iter(zip(self._fields, self._values()))

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={v!r}" for f, v in zip(self._fields, self._values()))
        return f"{type(self).__name__}({args})"

    def __reduce__(self):
        return _rebuild, (type(self), self._values())

    def __copy__(self):
        return self  # immutable

    def __deepcopy__(self, memo):
        return self


# model_dump() arguments with these values change nothing for these models
# (no aliases, every field set, no serializers); others go through pydantic.
_NO_EFFECT = {"mode": "python", "round_trip": False, "warnings": True, "by_alias": False,
              "exclude_unset": False, "serialize_as_any": False}


def _rebuild(cls, values):
    return cls._from_values(values)


def _plain(v):
    """Lean results inside ``v`` as dicts (what ``model_dump()`` gives)."""
    if isinstance(v, _Lean):
        return v.model_dump()
    t = type(v)
    if (t is tuple or t is list) and any(isinstance(x, (_Lean, dict, list, tuple)) for x in v):
        return t(_plain(x) for x in v)
    if t is dict:
        return {k: _plain(x) for k, x in v.items()}
    return v


def _serialize(v, info):
    return v.model_dump(mode=info.mode) if isinstance(v, _Lean) else v


def _pydantic(v):
    if isinstance(v, _Lean):
        return v._pydantic()
    if type(v) is tuple and v and isinstance(v[0], _Lean):
        return tuple(x._pydantic() for x in v)
    return v


def _lean(v):
    """A validated schema model (or a tuple of them) as the lean class."""
    cls = _LEAN_OF.get(type(v))
    if cls is not None:
        return cls._from_values([_lean(getattr(v, f)) for f in cls._fields])
    if type(v) is tuple and v and type(v[0]) in _LEAN_OF:
        return tuple(_lean(x) for x in v)
    return v


def _frozen(self, value):
    raise AttributeError(
        f"{type(self).__name__} is immutable: one parse result is shared by every reward "
        "that reads the completion. Make a changed copy with model_copy(update={...}).")


def _fields(cls):
    """Give ``cls`` a read-only property per field (unless it defines one itself)."""
    for f in cls._fields:
        if f not in cls.__dict__:
            setattr(cls, f, property(attrgetter("_" + f), _frozen, doc=f"The ``{f}`` field."))
    return cls


# A ParseResult's output, error and deviations may be left to build on first read:
# those not built yet are PENDING and ``_lazy`` is ``(function, args)``;
# ``function(result, *args)`` sets them (and ``_lazy``: None, or the next step).
# The parser leaves the error and deviations of malformed text for later, and
# the whole structure when ``ok`` could be read from the tags alone.
PENDING = object()


def _lazy_field(name: str, doc: str) -> property:
    """A ParseResult property that builds its value (with its PENDING siblings) on first read."""
    get = attrgetter("_" + name)

    def read(r: "ParseResult"):
        value = get(r)
        while value is PENDING:
            _finish(r)
            value = get(r)
        return value

    return property(read, _frozen, doc=doc)


def _finish(r: "ParseResult") -> None:
    lazy = r._lazy
    if lazy is None:  # another thread finished it meanwhile
        return
    fn, args = lazy
    fn(r, *args)


@_fields
class Box(_Lean):
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

    __slots__ = ("_coords", "_label", "_syntax", "_section", "_start", "_end", "_index")
    _fields = ("coords", "label", "syntax", "section", "start", "end", "index")
    _defaults = {"label": None, "section": None, "index": 0}

    coords: tuple[Number, Number, Number, Number]
    label: Optional[str]
    syntax: BoxSyntax
    section: Optional[SectionKind]
    start: int
    end: int
    index: int

    @property
    def is_finite(self) -> bool:
        """True when all four numbers are finite (an integer too large for a float is not)."""
        return all(math.isfinite(c) for c in self.as_floats())

    def as_floats(self) -> tuple[float, float, float, float]:
        """The coordinates as floats; integers beyond float range become ±inf."""
        return tuple(_to_float(c) for c in self._coords)  # type: ignore[return-value]


@_fields
class Section(_Lean):
    """One ``<think>``, ``<rethink>`` or ``<answer>`` section.

    Attributes:
        kind: ``"think"``, ``"rethink"`` or ``"answer"``.
        start, end: span of the whole section, tags included.
        body_start, body_end: span of the text between the tags.
        text: that text, unstripped.
        closed: whether the closing tag was written.
    """

    __slots__ = ("_kind", "_start", "_end", "_body_start", "_body_end", "_text", "_closed")
    _fields = ("kind", "start", "end", "body_start", "body_end", "text", "closed")
    _defaults = {"closed": True}

    kind: SectionKind
    start: int
    end: int
    body_start: int
    body_end: int
    text: str
    closed: bool


@_fields
class Deviation(_Lean):
    """One way a completion departs from the grammar (found by recovery).

    ``code`` is stable and machine-readable (e.g. ``"unclosed_section"``,
    ``"missing_section"``, ``"repeated_section"``, ``"stray_tag"``,
    ``"out_of_order"``, ``"not_a_box"``, ``"truncated_box"``); ``message`` is for
    people. The codes are listed in docs/grammar.md.
    """

    __slots__ = ("_code", "_message", "_offset", "_line", "_column")
    _fields = ("code", "message", "offset", "line", "column")

    code: str
    message: str
    offset: int
    line: int
    column: int


@_fields
class ErrorInfo(_Lean):
    """The first grammar error: where it is, what was expected, a caret snippet."""

    __slots__ = ("_line", "_column", "_offset", "_message", "_expected", "_label", "_snippet")
    _fields = ("line", "column", "offset", "message", "expected", "label", "snippet")
    _defaults = {"expected": (), "label": "", "snippet": ""}

    line: int
    column: int
    offset: int
    message: str
    expected: tuple[str, ...]
    label: str
    snippet: str


@_fields
class GroundedOutput(_Lean):
    """The structure of one completion: its sections, its boxes, its answer.

    Attributes:
        text: the completion text.
        sections: sections in the order written.
        boxes: every box found, in reading order, inside sections or not.
        answer: the stripped text of the first ``<answer>`` section, or ``None``
            when no answer section was written.
    """

    __slots__ = ("_text", "_sections", "_boxes", "_answer")
    _fields = ("text", "sections", "boxes", "answer")
    _defaults = {"sections": (), "boxes": (), "answer": None}

    text: str
    sections: tuple[Section, ...]
    boxes: tuple[Box, ...]
    answer: Optional[str]

    def section(self, kind: str) -> Optional[Section]:
        """The first section of ``kind``, or ``None``."""
        for s in self._sections:
            if s._kind == kind:
                return s
        return None

    def boxes_in(self, kind: Optional[str]) -> tuple[Box, ...]:
        """Boxes written in sections of ``kind`` (``None``: outside any section)."""
        return tuple(b for b in self._boxes if b._section == kind)

    @property
    def think(self) -> Optional[Section]:
        return self.section("think")

    @property
    def rethink(self) -> Optional[Section]:
        return self.section("rethink")


@_fields
class ParseResult(_Lean):
    """What :func:`gritkit.try_parse` returns; it never raises.

    Attributes:
        ok: the text follows the grammar.
        grammar: the grammar's name (with tag renamings, e.g. ``"grit[think=thinking]"``).
        output: the best-effort structure, also when ``ok`` is false: the
            sections that could be recovered and every box.
        error: the first grammar error, or ``None`` when ``ok``.
        deviations: the departures from the grammar that recovery found, in
            text order (the first 1,000 of a degenerate text, then one
            ``too_many_deviations`` entry that counts the rest; docs/grammar.md).

    The structure's fields are also available directly: ``result.boxes``,
    ``result.sections``, ``result.answer``, ``result.text``.
    """

    __slots__ = ("_ok", "_grammar", "_output", "_error", "_deviations", "_lazy", "_text")
    _fields = ("ok", "grammar", "output", "error", "deviations")
    _defaults = {"error": None, "deviations": ()}

    output = _lazy_field("output", "The best-effort structure: sections and every box.")
    error = _lazy_field("error", "The first grammar error, or ``None`` when ``ok``.")
    deviations = _lazy_field("deviations", "The departures from the grammar, in text order.")

    ok: bool
    grammar: str
    output: GroundedOutput
    error: Optional[ErrorInfo]
    deviations: tuple[Deviation, ...]

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._lazy = None
        self._text = self._output._text

    @property
    def text(self) -> str:
        return self._text

    @property
    def sections(self) -> tuple[Section, ...]:
        return self.output._sections

    @property
    def boxes(self) -> tuple[Box, ...]:
        return self.output._boxes

    @property
    def answer(self) -> Optional[str]:
        return self.output._answer

    def section(self, kind: str) -> Optional[Section]:
        return self.output.section(kind)

    def boxes_in(self, kind: Optional[str]) -> tuple[Box, ...]:
        return self.output.boxes_in(kind)

    def has_deviation(self, code: str) -> bool:
        """True when recovery found a deviation with this ``code``."""
        return any(d._code == code for d in self.deviations)


_LEAN = {c.__name__: c for c in (Box, Section, Deviation, ErrorInfo, GroundedOutput, ParseResult)}
_SCHEMAS: dict = {}
_LEAN_OF: dict = {}  # schema model class -> lean class


def _schemas() -> dict:
    """The pydantic models behind the lean classes (built once, on first use).

    Each has the lean class's name, fields, annotations (nested results as the
    pydantic models) and defaults (``_defaults``), and is frozen with
    ``extra="forbid"``, as the results were before they became lean.
    """
    if _SCHEMAS:
        return _SCHEMAS
    namespace = dict(globals())
    for name, cls in _LEAN.items():
        fields = {f: (eval(cls.__annotations__[f], namespace), cls._defaults.get(f, ...))
                  for f in cls._fields}
        model = create_model(name, __config__=_FROZEN, __doc__=cls.__doc__, __module__=__name__,
                             **fields)
        namespace[name] = _SCHEMAS[name] = model  # later annotations name this model
        _LEAN_OF[model] = cls
    return _SCHEMAS


# The parser's builders: positional, no validation (the values are the parser's own).
# Each is generated from the class's fields, as dataclasses generate __init__: a
# function of plain slot stores is several times faster than a loop over fields.

def _builder(cls, extra: tuple[str, ...] = ()):
    """The builder of ``cls``: its fields in order, then the ``extra`` slots (``_<name>``, default None)."""
    args = ", ".join([*cls._fields, *(f"{x}=None" for x in extra)])
    body = "".join(f"    o._{f} = {f}\n" for f in (*cls._fields, *extra))
    namespace = {"_new": _new, "cls": cls}
    exec(f"def make({args}):\n    o = _new(cls)\n{body}    return o\n", namespace)
    make = namespace["make"]
    make.__doc__ = f"A {cls.__name__} from its fields in order, not validated (for the parser)."
    return make


make_box = _builder(Box)
make_section = _builder(Section)
make_deviation = _builder(Deviation)
make_error = _builder(ErrorInfo)
make_output = _builder(GroundedOutput)
#: ``make_parse_result(ok, grammar, output, error, deviations, text, lazy=None)``: ``text``
#: is the completion (``result.text``, there before the output is built); with
#: ``lazy = (function, args)``, the fields left :data:`PENDING` are set by
#: ``function(result, *args)`` on first read.
make_parse_result = _builder(ParseResult, extra=("text", "lazy"))


def _result_from_values(ok, grammar, output, error, deviations) -> ParseResult:
    return make_parse_result(ok, grammar, output, error, deviations, getattr(output, "_text", None))


_BUILDERS = {Box: make_box, Section: make_section, Deviation: make_deviation, ErrorInfo: make_error,
             GroundedOutput: make_output, ParseResult: _result_from_values}


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
        return v if v is None or isinstance(v, str) else str(v)

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

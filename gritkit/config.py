"""Reward configs: which rewards, with what weights, options, gates and fallbacks.

A config is a :class:`RewardConfig`. It can be written in TOML, YAML, JSON or
Python (a module defining ``CONFIG``), or taken from a shipped preset
(``grit``, ``grit-official``, ``r1``); :func:`load_config` reads all of them.
Reward names are checked against the installed plugins when a
:class:`~gritkit.compose.Composer` is built, not here.

Example (TOML)::

    [[rewards]]
    name = "format"
    options = { mode = "paper" }

    [[rewards]]
    name = "answer_match"
    as = "answer"
    gate = { reward = "format", min = 1.0 }

A :class:`ColumnMap` says which dataset columns fill which :class:`~gritkit.models.Sample`
fields; its default is GRIT's data schema.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError,
                      field_validator, model_validator)

from gritkit.errors import ConfigError, DataError
from gritkit.models import ImageSize, Sample, fast_construct

SKIP = "skip"
_COMPONENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


# ---------------------------------------------------------------------------------------------
# Column map


def _to_names(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return value


Columns = Annotated[tuple[str, ...], BeforeValidator(_to_names)]


def _short(record: Any, limit: int = 160) -> str:
    try:
        text = json.dumps(record, ensure_ascii=False, default=repr)
    except Exception:  # pragma: no cover - json.dumps with default=repr hardly fails
        text = repr(record)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ColumnMap(BaseModel):
    """Which dataset columns fill which :class:`~gritkit.models.Sample` fields.

    Each field names one column, or a list of alternatives (the first one present
    with a non-null value wins); an empty list maps nothing. The defaults follow
    GRIT's data schema. Every column not named here goes to ``Sample.extra``.

    Attributes:
        text: the completion text (not part of the sample; ``gritkit score`` reads it).
        answer: the reference answer (``answer`` or ``gt_answer``).
        gt_boxes: ground-truth boxes in original-image pixels (``bboxs`` or ``gt_boxes``).
        width, height: the original image's size.
        dataset, image, question, box_format, min_pixels, max_pixels, completion_ids:
            the sample fields of the same names.

    >>> s = ColumnMap().to_sample({"answer": 7, "bboxs": [[0, 0, 10, 10]], "width": 640,
    ...                            "height": 480, "dataset": "tallyqa", "split": "train"})
    >>> s.answer, s.gt_boxes, s.image_size.width, s.extra
    ('7', ((0.0, 0.0, 10.0, 10.0),), 640, {'split': 'train'})
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: Columns = ("output",)
    answer: Columns = ("answer", "gt_answer")
    gt_boxes: Columns = ("bboxs", "gt_boxes")
    width: Columns = ("width",)
    height: Columns = ("height",)
    dataset: Columns = ("dataset",)
    image: Columns = ("image",)
    question: Columns = ("question",)
    box_format: Columns = ("box_format",)
    min_pixels: Columns = ("min_pixels",)
    max_pixels: Columns = ("max_pixels",)
    completion_ids: Columns = ("completion_ids",)

    @cached_property
    def _plan(self) -> tuple[frozenset, tuple[tuple[str, tuple[str, ...]], ...]]:
        # computed once per map: every column it reads, and (field, columns) pairs to look up
        fields = tuple((name, getattr(self, name)) for name in type(self).model_fields if name != "text")
        used = frozenset(c for name in type(self).model_fields for c in getattr(self, name))
        return used, fields

    def columns(self) -> set[str]:
        """Every column name this map reads."""
        return set(self._plan[0])

    def find(self, record: dict, field: str) -> tuple[Optional[str], Any]:
        """The first of ``field``'s columns present in ``record`` with a non-null value."""
        for column in getattr(self, field):
            value = record.get(column)
            if value is not None:
                return column, value
        return None, None

    def text_of(self, record: dict) -> str:
        """The completion text of ``record`` (``DataError`` when missing or not a string)."""
        column, value = self.find(record, "text")
        if column is None:
            names = " or ".join(repr(c) for c in self.text) or "(none configured)"
            raise DataError(
                f"The record has no completion text: expected the column {names}.\n"
                f"  record: {_short(record)}\n"
                "Rename the column (`gritkit score --field NAME=output`) or set columns.text in the config.")
        if not isinstance(value, str):
            raise DataError(
                f"The completion text in column {column!r} is a {type(value).__name__}; expected a string.\n"
                f"  record: {_short(record)}")
        return value

    def to_sample(self, record: dict, *, default_box_format: Optional[str] = None,
                  default_min_pixels: Optional[int] = None, default_max_pixels: Optional[int] = None,
                  index: Optional[int] = None):
        """Build the :class:`~gritkit.models.Sample` for one record.

        Every value is checked here, once; the sample is then built without
        pydantic re-validating it (this runs once per completion in training).

        Args:
            record: one dataset row.
            default_box_format: used when the record names no box format.
            default_min_pixels, default_max_pixels: used when the record has none.
            index: the record's position, for error messages.

        Returns:
            The sample.

        Raises:
            DataError: a value is unusable; the message names the field, the
                column, the record and what was expected.

        >>> ColumnMap().to_sample({"gt_answer": "Yes"}, default_box_format="qwen_1000").box_format
        'qwen_1000'
        """
        if not isinstance(record, dict):
            raise DataError(f"Record{_at(index)} is a {type(record).__name__}; expected a JSON object.")
        used, plan = self._plan
        get = record.get
        fields = dict(_SAMPLE_DEFAULTS)
        wcol = hcol = width = height = None
        # one pass over the fields: the first column present with a non-null value wins
        for name, columns in plan:
            for column in columns:
                value = get(column)
                if value is not None:
                    break
            else:
                continue
            kind = type(value)
            if name == "answer":
                if kind is str:
                    fields["answer"] = value
                elif kind is int or kind is float:
                    fields["answer"] = _num_text(value)
                elif isinstance(value, str):
                    fields["answer"] = str(value)
                else:
                    raise _bad(index, record, column, "a string or a number (the reference answer)", value)
            elif name == "gt_boxes":
                boxes = _boxes(value)
                if isinstance(boxes, str):
                    raise _bad(index, record, column, boxes, value)
                fields["gt_boxes"] = boxes
            elif name == "width":
                wcol, width = column, value
            elif name == "height":
                hcol, height = column, value
            elif name in ("dataset", "question", "box_format"):
                if kind is str:
                    fields[name] = value
                elif isinstance(value, (str, int, float)) and kind is not bool:
                    fields[name] = str(value)
                else:
                    raise _bad(index, record, column, "a string", value)
            elif name == "image":
                if isinstance(value, (str, os.PathLike)):
                    fields["image"] = os.fspath(value)
                else:  # e.g. a PIL image from a datasets column: keep it for the adapters
                    used = used - {column}
            elif name == "completion_ids":
                if not isinstance(value, (list, tuple)) or not all(
                        isinstance(t, int) and not isinstance(t, bool) for t in value):
                    raise _bad(index, record, column, "a list of integer token ids", value)
                fields["completion_ids"] = tuple(value)
            else:  # min_pixels, max_pixels
                number = _positive_int(value)
                if number is None:
                    raise _bad(index, record, column, "a positive whole number of pixels", value)
                fields[name] = number

        if wcol is not None or hcol is not None:
            if wcol is None or hcol is None:
                has, missing = ("width", "height") if hcol is None else ("height", "width")
                raise DataError(
                    f"Record{_at(index)} has a {has} but no {missing}; give both (columns "
                    f"{self.width + self.height}) or neither.\n  record: {_short(record)}")
            w = width if type(width) is int and width > 0 else _positive_int(width)
            h = height if type(height) is int and height > 0 else _positive_int(height)
            if w is None:
                raise _bad(index, record, wcol, "a positive whole number of pixels", width)
            if h is None:
                raise _bad(index, record, hcol, "a positive whole number of pixels", height)
            size = _SIZES.get((w, h))
            if size is None:
                size = _SIZES[(w, h)] = fast_construct(ImageSize, width=w, height=h)
                if len(_SIZES) > 4096:
                    _SIZES.clear()
            fields["image_size"] = size
        if fields["min_pixels"] is None and default_min_pixels is not None:
            fields["min_pixels"] = default_min_pixels
        if fields["max_pixels"] is None and default_max_pixels is not None:
            fields["max_pixels"] = default_max_pixels
        if fields["box_format"] is None and default_box_format is not None:
            fields["box_format"] = default_box_format
        fields["extra"] = {k: v for k, v in record.items() if k not in used}
        return fast_construct(Sample, **fields)


def _bad(index: Optional[int], record: dict, column: str, expected: str, value: Any) -> DataError:
    return DataError(
        f"Record{_at(index)}: column {column!r} is {_short(value, 60)}; expected {expected}.\n"
        f"  record: {_short(record)}\n"
        "Fix the value, or map another column to this field (--field / columns in the config).")


# ImageSize is immutable, and a dataset has few distinct sizes: one object per size.
_SIZES: dict[tuple[int, int], ImageSize] = {}

_SAMPLE_DEFAULTS = {
    "answer": None, "gt_boxes": (), "image_size": None, "dataset": None, "box_format": None,
    "question": None, "image": None, "min_pixels": None, "max_pixels": None, "completion_ids": None,
}


def _at(index: Optional[int]) -> str:
    return "" if index is None else f" {index}"


def _num_text(value: Union[int, float]) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _positive_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and value > 0:
        return value
    return None


_NUMBER_TYPES = frozenset((int, float))


def _boxes(value: Any) -> Union[tuple, str]:
    """The boxes as a tuple of float 4-tuples, or a string saying what was expected."""
    if not isinstance(value, (list, tuple)):
        return "a list of boxes [[x1, y1, x2, y2], ...]"
    numbers = _NUMBER_TYPES
    out = []
    for i, box in enumerate(value):
        if type(box) in (list, tuple) and len(box) == 4:
            x1, y1, x2, y2 = box
            if type(x1) in numbers and type(y1) in numbers and type(x2) in numbers and type(y2) in numbers:
                b = (float(x1), float(y1), float(x2), float(y2))
                if b[0] - b[0] == 0 and b[1] - b[1] == 0 and b[2] - b[2] == 0 and b[3] - b[3] == 0:
                    out.append(b)
                    continue
        elif i == 0 and len(value) == 4 and all(type(v) in numbers for v in value):
            return "a list of boxes [[x1, y1, x2, y2], ...]; this is one flat box, wrap it in a list"
        return f"a list of boxes of 4 finite numbers [x1, y1, x2, y2]; box {i} is {_short(box, 40)}"
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Reward specs and configs


class GateSpec(BaseModel):
    """Score a component only when another component reaches ``min``.

    Attributes:
        reward: the gating component's name (its ``as`` name, or reward name).
        min: the component is scored when the gating value is ``>= min``.
        else_value: the value otherwise (also when the gating value is ``None``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    reward: str
    min: float = 1.0
    else_value: float = 0.0

    @field_validator("min", "else_value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class RewardSpec(BaseModel):
    """One configured reward: a component of the total.

    Attributes:
        name: a registered reward name (``gritkit rewards`` lists them).
        as_: the component's name (key ``as``); defaults to ``name``. Must be
            unique in a config; it is the TRL metric name (``rewards/<as>/mean``).
        weight: the component's weight in the total.
        options: the reward's options (checked against its options model).
        gate: optional :class:`GateSpec`.
        fallback: a reward name to use when this reward says it cannot run as
            configured (its ``check``), or ``"skip"``: the component is then
            ``None`` with a notice.
        fallback_options: options for the fallback reward.

    >>> RewardSpec(name="judge", **{"as": "answer"}, fallback="answer_match").component
    'answer'
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    as_: Optional[str] = Field(default=None, alias="as")
    weight: float = 1.0
    options: dict[str, Any] = Field(default_factory=dict)
    gate: Optional[GateSpec] = None
    fallback: Optional[str] = None
    fallback_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not v.strip():
            raise ValueError("must name a registered reward (run `gritkit rewards`)")
        return v

    @field_validator("as_")
    @classmethod
    def _as(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _COMPONENT_RE.match(v):
            raise ValueError(f"{v!r} is not a valid component name; use letters, digits, '_', '.', '-'")
        return v

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @model_validator(mode="after")
    def _fallback(self) -> "RewardSpec":
        if self.fallback_options and self.fallback in (None, SKIP):
            raise ValueError("fallback_options is set but there is no fallback reward; "
                             "set fallback = '<reward name>' or drop fallback_options")
        if self.fallback == self.name:
            raise ValueError(f"fallback {self.fallback!r} is the reward itself; name another reward or 'skip'")
        return self

    @property
    def component(self) -> str:
        """The component's name: ``as`` when given, else ``name``."""
        return self.as_ or self.name


class RewardConfig(BaseModel):
    """A whole reward config.

    Attributes:
        rewards: the components, in order.
        box_format: the coordinate convention for samples that name none
            (``None``: absolute pixels of the original image).
        columns: the :class:`ColumnMap` from dataset columns to samples.
        on_error: ``"raise"`` (default): a reward that raises stops scoring with
            a :class:`~gritkit.errors.RewardError`; ``"none"``: its value becomes
            ``None`` with a warning.
        min_pixels, max_pixels: the processor's pixel budget for samples that
            give none (for Qwen2.5-VL's resized frame).
        grammar: the grammar completions are parsed with (``"grit"``, ``"r1"``).
        description: a line saying what the config is for.

    >>> cfg = RewardConfig(rewards=[{"name": "format"}, {"name": "iou", "weight": 0.5}])
    >>> [(r.component, r.weight) for r in cfg.rewards]
    [('format', 1.0), ('iou', 0.5)]
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rewards: list[RewardSpec] = Field(min_length=1)
    box_format: Optional[str] = None
    columns: ColumnMap = Field(default_factory=ColumnMap)
    on_error: Literal["raise", "none"] = "raise"
    min_pixels: Optional[int] = Field(default=None, gt=0)
    max_pixels: Optional[int] = Field(default=None, gt=0)
    grammar: str = "grit"
    description: str = ""

    _source: Optional[str] = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_components(self) -> "RewardConfig":
        seen: dict[str, int] = {}
        for i, spec in enumerate(self.rewards):
            if spec.component in seen:
                raise ValueError(
                    f"rewards[{i}]: the component name {spec.component!r} is already used by "
                    f"rewards[{seen[spec.component]}]; give one of them another name with 'as'")
            seen[spec.component] = i
        for i, spec in enumerate(self.rewards):
            if spec.gate is None:
                continue
            target = spec.gate.reward
            if target == spec.component:
                raise ValueError(f"rewards[{i}].gate.reward: {spec.component!r} cannot gate itself")
            if target not in seen:
                close = difflib.get_close_matches(target, list(seen), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"rewards[{i}].gate.reward: no component named {target!r}.{hint} "
                    f"Components: {', '.join(seen)}")
        order = gate_order(self.rewards)
        if order is None:
            raise ValueError("the gates form a cycle (a component gated, through others, on itself); "
                             "remove one of the gates")
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) is larger than max_pixels ({self.max_pixels})")
        return self

    @property
    def source(self) -> Optional[str]:
        """Where the config came from (a file path or ``preset 'name'``), when known."""
        return self._source

    def make_sample(self, record: dict, *, box_format: Optional[str] = None, index: Optional[int] = None):
        """The sample for ``record`` through :attr:`columns`, with this config's defaults.

        ``box_format`` (e.g. from ``--box-format``) overrides the record's own
        ``box_format``; the config's ``box_format`` is used when neither is given.
        """
        sample = self.columns.to_sample(
            record, default_box_format=self.box_format, default_min_pixels=self.min_pixels,
            default_max_pixels=self.max_pixels, index=index)
        if box_format is not None and sample.box_format != box_format:
            sample = sample.model_copy(update={"box_format": box_format})
        return sample


def gate_order(specs: list[RewardSpec]) -> Optional[list[int]]:
    """Indices of ``specs`` with every gating component before the components it gates;
    ``None`` when the gates form a cycle."""
    index = {s.component: i for i, s in enumerate(specs)}
    order: list[int] = []
    state: dict[int, int] = {}

    def visit(i: int) -> bool:
        if state.get(i) == 2:
            return True
        if state.get(i) == 1:
            return False
        state[i] = 1
        gate = specs[i].gate
        if gate is not None and gate.reward in index and not visit(index[gate.reward]):
            return False
        state[i] = 2
        order.append(i)
        return True

    for i in range(len(specs)):
        if not visit(i):
            return None
    return order


# ---------------------------------------------------------------------------------------------
# Errors


_KEYS = {
    (): RewardConfig,
    ("rewards", "*"): RewardSpec,
    ("rewards", "*", "gate"): GateSpec,
    ("columns",): ColumnMap,
}


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    pattern = tuple("*" if isinstance(p, int) else p for p in loc)
    return _KEYS.get(pattern)


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _loc_text(loc: tuple, data: Any) -> str:
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str) and out.startswith("rewards"):
                out += f" (name {node['name']!r})"
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def config_error(exc: ValidationError, data: Any, source: Optional[str]) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into a :class:`ConfigError` that says
    where (file, key path) and how to fix each problem."""
    where = f" in {source}" if source else ""
    lines = [f"Invalid reward config{where}: {exc.error_count()} problem(s)."]
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            key = loc[-1]
            model = _model_at(loc[:-1])
            allowed = _keys_of(model) if model else []
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            lines.append(f"  {_loc_text(loc, data)}: unknown key {key!r}.{hint}"
                         + (f" Allowed keys: {', '.join(allowed)}." if allowed else ""))
        elif err["type"] == "missing":
            lines.append(f"  {_loc_text(loc, data)}: required key is missing.")
        else:
            value = err.get("input")
            got = f" (got {_short(value, 60)})" if not isinstance(value, (dict, list)) else ""
            lines.append(f"  {_loc_text(loc, data)}: {msg}{got}.")
    lines.append("See docs/configuration.md for the config format.")
    return ConfigError("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# Loading


_SUFFIXES = (".toml", ".yaml", ".yml", ".json", ".py")


def list_presets() -> list[str]:
    """The names of the shipped presets.

    >>> list_presets()
    ['grit', 'grit-official', 'r1']
    """
    folder = resources.files("gritkit") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_toml(text: str, source: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as exc:  # pragma: no cover
            raise ConfigError(f"Reading {source} needs a TOML parser: on Python 3.10, "
                              "`pip install tomli` (or write the config as YAML or JSON).") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}.") from exc


def _read_file(path: Path) -> Any:
    source = str(path)
    suffix = path.suffix.lower()
    if suffix == ".py":
        import runpy

        try:
            namespace = runpy.run_path(str(path))
        except Exception as exc:
            raise ConfigError(f"Running the config file {source} failed: {type(exc).__name__}: {exc}") from exc
        if "CONFIG" not in namespace:
            raise ConfigError(f"The Python config {source} does not define CONFIG.\n"
                              "Define CONFIG = {'rewards': [...]} or CONFIG = RewardConfig(...).")
        return namespace["CONFIG"]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {source}: {exc}") from exc
    if suffix == ".toml":
        return _read_toml(text, source)
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{source} is not valid YAML{where}: {problem}.") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno}.") from exc


def _validate(data: Any, source: Optional[str]) -> RewardConfig:
    if isinstance(data, RewardConfig):
        return data
    if not isinstance(data, dict):
        where = f"{source}" if source else "The config"
        raise ConfigError(
            f"{where} must be a mapping with a 'rewards' list, not a {type(data).__name__}.\n"
            "For example: {'rewards': [{'name': 'format'}, {'name': 'answer_match'}]}.")
    try:
        config = RewardConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, data, source) from None
    config._source = source
    return config


def load_preset(name: str) -> RewardConfig:
    """Load a shipped preset by name (``ConfigError`` with suggestions if unknown).

    >>> load_preset("grit").grammar
    'grit'
    """
    from gritkit.errors import unknown_name_message

    presets = list_presets()
    if name not in presets:
        raise ConfigError(unknown_name_message(
            "preset", name, presets, "Or give the path of a .toml, .yaml, .json or .py config."))
    text = (resources.files("gritkit") / "presets" / f"{name}.toml").read_text(encoding="utf-8")
    source = f"preset {name!r}"
    return _validate(_read_toml(text, source), source)


def plain_data(value: Any) -> Any:
    """Any ``Mapping`` / non-string ``Sequence`` (OmegaConf's ``DictConfig`` / ``ListConfig``) as dicts and lists.

    >>> plain_data((1, {"a": (2, "x")}))
    [1, {'a': [2, 'x']}]
    """
    if isinstance(value, Mapping):
        return {k: plain_data(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return [plain_data(v) for v in value]
    return value


def load_config(source: Union[str, os.PathLike, dict, RewardConfig]) -> RewardConfig:
    """Load a reward config.

    Args:
        source: a preset name (``"grit"``, ``"grit-official"``, ``"r1"``), the path
            of a ``.toml``/``.yaml``/``.yml``/``.json`` file or of a ``.py`` file
            defining ``CONFIG``, a dict or any other ``Mapping`` (OmegaConf's
            ``DictConfig`` included), or a :class:`RewardConfig` (returned as is).

    Returns:
        The validated config.

    Raises:
        ConfigError: unknown preset, unreadable file, or invalid content; the
            message says where (file, key path) and how to fix it.

    >>> load_config({"rewards": [{"name": "format"}]}).rewards[0].weight
    1.0
    >>> load_config("r1").grammar
    'r1'
    """
    if isinstance(source, RewardConfig):
        return source
    if isinstance(source, Mapping):  # a dict, or e.g. an OmegaConf DictConfig from a trainer's YAML
        return _validate(plain_data(source), None)
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"load_config() takes a preset name, a path, a dict or a RewardConfig, "
                          f"not a {type(source).__name__}.")
    text = os.fspath(source)
    path = Path(text).expanduser()
    if not path.is_file() and text in list_presets():
        return load_preset(text)
    if path.suffix.lower() in _SUFFIXES or path.exists():
        if not path.is_file():
            raise ConfigError(f"The config file {text!r} does not exist "
                              f"(looked at {path.resolve()}). Presets: {', '.join(list_presets())}.")
        if path.suffix.lower() not in _SUFFIXES:
            raise ConfigError(f"The config file {text!r} has an unknown extension; "
                              f"use one of {', '.join(_SUFFIXES)}.")
        return _validate(_read_file(path), str(path))
    return load_preset(text)

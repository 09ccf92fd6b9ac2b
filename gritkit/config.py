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

A config's ``columns`` is a :class:`gritkit.records.ColumnMap` (which dataset columns
fill which :class:`~gritkit.models.Sample` fields); records become samples in
:mod:`gritkit.records`, not here.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError,
                      field_validator, model_validator)

from gritkit.errors import ConfigError
from gritkit.records import ColumnMap, _short, to_plain

SKIP = "skip"
_COMPONENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


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


def load_config(source: Union[str, os.PathLike, Mapping, RewardConfig]) -> RewardConfig:
    """Load a reward config.

    Args:
        source: a preset name (``"grit"``, ``"grit-official"``, ``"r1"``), the path
            of a ``.toml``/``.yaml``/``.yml``/``.json`` file or of a ``.py`` file
            defining ``CONFIG``, a dict or any other mapping (OmegaConf's ``DictConfig``
            included), or a :class:`RewardConfig` (returned as is).

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
    if isinstance(source, Mapping):  # a dict, or e.g. OmegaConf's DictConfig from a verl YAML
        return _validate(to_plain(source) if not isinstance(source, dict) else source, None)
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"load_config() takes a preset name, a path, a mapping or a RewardConfig, "
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

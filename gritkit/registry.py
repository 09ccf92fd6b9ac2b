"""The objects handed to plugin hooks: a reward registry and a box-format registry.

The plugin manager calls each plugin's hook with one of these and sets
:attr:`current_plugin` first, so every entry records which plugin registered it.
Registration validates at once: a bad name, a non-callable, an options model
that is not a pydantic model, or a duplicate name is a :class:`PluginError`.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pydantic import BaseModel

from gritkit.errors import PluginError, unknown_name_message

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_name(kind: str, name: str, plugin: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PluginError(
            f"Plugin {plugin!r} registered a {kind} with the invalid name {name!r}.\n"
            "Names are snake_case: a lowercase letter, then lowercase letters, digits or '_' "
            "(e.g. 'center_hit').")


@dataclass(frozen=True)
class RewardInfo:
    """One registered reward.

    Attributes:
        name: the name configs use.
        fn: the function (see :func:`gritkit.hookspecs.register_rewards`).
        options: the pydantic options model, or ``None`` when it takes no options.
        description: one line for ``gritkit rewards``.
        plugin: the name of the plugin that registered it.
        batched: ``fn`` takes lists of results and samples.
        is_async: ``fn`` is a coroutine function.
        check: optional ``check(options) -> str | None``; a string says why the
            reward cannot run as configured (e.g. a judge with no endpoint). The
            composer calls it once, at construction, and applies the config's
            ``fallback`` or raises ``ConfigError`` with that reason.
    """

    name: str
    fn: Callable[..., Any]
    options: Optional[type[BaseModel]] = None
    description: str = ""
    plugin: str = ""
    batched: bool = False
    is_async: bool = False
    check: Optional[Callable[[Any], Optional[str]]] = None

    def make_options(self, values: Optional[dict] = None) -> Optional[BaseModel]:
        """Validate ``values`` against the options model (``ConfigError`` on failure)."""
        from gritkit.errors import ConfigError

        values = dict(values or {})
        if self.options is None:
            if values:
                raise ConfigError(
                    f"Reward {self.name!r} takes no options, but got {sorted(values)}.\n"
                    "Remove the 'options' of this reward from the config.")
            return None
        try:
            return self.options(**values)
        except Exception as exc:  # pydantic.ValidationError, TypeError
            fields = ", ".join(sorted(self.options.model_fields)) or "(none)"
            raise ConfigError(
                f"Invalid options for reward {self.name!r} (from plugin {self.plugin!r}): {exc}\n"
                f"Its options are: {fields}. Run `gritkit rewards --verbose` to see their types and defaults."
            ) from exc


@dataclass(frozen=True)
class BoxFormatInfo:
    """One registered coordinate convention.

    Attributes:
        name: the name samples and configs use (``Sample.box_format``).
        to_pixels: ``fn(coords, sample) -> (x1, y1, x2, y2)`` in original-image pixels.
        description: one line for ``gritkit plugins``.
        plugin: the plugin that registered it.
    """

    name: str
    to_pixels: Callable[..., tuple[float, float, float, float]]
    description: str = ""
    plugin: str = ""


@dataclass
class RewardRegistry:
    """Collects rewards from ``register_rewards`` hooks. Call it to register."""

    entries: dict[str, RewardInfo] = field(default_factory=dict)
    current_plugin: str = "<code>"

    def __call__(self, fn: Callable[..., Any], *, name: Optional[str] = None,
                 options: Optional[type[BaseModel]] = None, description: str = "",
                 batched: bool = False, replace: bool = False,
                 check: Optional[Callable[[Any], Optional[str]]] = None) -> RewardInfo:
        return self.reward(fn, name=name, options=options, description=description,
                           batched=batched, replace=replace, check=check)

    def reward(self, fn: Callable[..., Any], *, name: Optional[str] = None,
               options: Optional[type[BaseModel]] = None, description: str = "",
               batched: bool = False, replace: bool = False,
               check: Optional[Callable[[Any], Optional[str]]] = None) -> RewardInfo:
        """Register ``fn`` under ``name`` (default: the function's name, ``_reward`` stripped)."""
        plugin = self.current_plugin
        if not callable(fn):
            raise PluginError(f"Plugin {plugin!r} registered a reward that is not callable: {fn!r}.")
        if name is None:
            name = getattr(fn, "__name__", "")
            if name.endswith("_reward"):
                name = name[: -len("_reward")]
        _check_name("reward", name, plugin)
        if options is not None and not (isinstance(options, type) and issubclass(options, BaseModel)):
            raise PluginError(
                f"Plugin {plugin!r} registered reward {name!r} with options={options!r}; "
                "expected a pydantic BaseModel subclass (or None).")
        if name in self.entries and not replace:
            other = self.entries[name].plugin
            raise PluginError(
                f"Reward name {name!r} is registered twice: by plugin {other!r} and by plugin {plugin!r}.\n"
                "Rename one of them, disable one plugin (GRITKIT_DISABLE_PLUGINS), "
                "or pass replace=True to override on purpose.")
        target = fn.__call__ if not inspect.isfunction(fn) and not inspect.ismethod(fn) else fn
        info = RewardInfo(name=name, fn=fn, options=options, description=description.strip(),
                          plugin=plugin, batched=batched, check=check,
                          is_async=inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(target))
        self.entries[name] = info
        return info

    def get(self, name: str) -> RewardInfo:
        """The reward called ``name``; an unknown name raises ``ConfigError`` with suggestions."""
        from gritkit.errors import ConfigError

        try:
            return self.entries[name]
        except KeyError:
            raise ConfigError(unknown_name_message(
                "reward", name, self.entries,
                "Run `gritkit rewards` to see where each comes from.")) from None

    def names(self) -> list[str]:
        return sorted(self.entries)


@dataclass
class BoxFormatRegistry:
    """Collects coordinate conventions from ``register_box_formats`` hooks."""

    entries: dict[str, BoxFormatInfo] = field(default_factory=dict)
    current_plugin: str = "<code>"

    def __call__(self, name: str, to_pixels: Callable[..., Any], *, description: str = "",
                 replace: bool = False) -> BoxFormatInfo:
        return self.box_format(name, to_pixels, description=description, replace=replace)

    def box_format(self, name: str, to_pixels: Callable[..., Any], *, description: str = "",
                   replace: bool = False) -> BoxFormatInfo:
        """Register the convention ``name``."""
        plugin = self.current_plugin
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_.\-]*$", name):
            raise PluginError(
                f"Plugin {plugin!r} registered a box format with the invalid name {name!r}.\n"
                "Names are lowercase letters, digits, '_', '-' or '.' (e.g. 'qwen2_5_vl').")
        if not callable(to_pixels):
            raise PluginError(f"Plugin {plugin!r} registered box format {name!r} with a non-callable converter.")
        if name in self.entries and not replace:
            other = self.entries[name].plugin
            raise PluginError(
                f"Box format {name!r} is registered twice: by plugin {other!r} and by plugin {plugin!r}.\n"
                "Rename one, or pass replace=True to override on purpose.")
        info = BoxFormatInfo(name=name, to_pixels=to_pixels, description=description.strip(), plugin=plugin)
        self.entries[name] = info
        return info

    def get(self, name: str) -> BoxFormatInfo:
        from gritkit.errors import ConfigError

        try:
            return self.entries[name]
        except KeyError:
            raise ConfigError(unknown_name_message(
                "box format", name, self.entries,
                "Run `gritkit plugins` to see every registered convention.")) from None

    def names(self) -> list[str]:
        return sorted(self.entries)

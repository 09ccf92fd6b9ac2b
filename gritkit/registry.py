"""The objects handed to plugin hooks: a reward registry and a box-format registry.

The plugin manager calls each plugin's hook with one of these and sets
:attr:`current_plugin` first, so every entry records which plugin registered it.
Registration validates at once: a bad name, a non-callable, a lambda, an options model that is not a pydantic
model or would ignore unknown keys, an unknown ``requires`` field, or a duplicate
name is a :class:`PluginError`.

The plugin contract for a reward, in one call::

    register(fn, name="center_hit", options=CenterOptions, requires=("image_size",),
             description="...")

``options`` subclasses :class:`RewardOptions` (frozen, unknown keys rejected);
``requires`` names the :class:`~gritkit.models.Sample` fields the reward cannot
work without, which the trainer adapters check against the dataset's columns
before training starts.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from pydantic import BaseModel, ConfigDict

from gritkit.errors import PluginError, unknown_name_message

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_name(kind: str, name: str, plugin: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PluginError(
            f"Plugin {plugin!r} registered a {kind} with the invalid name {name!r}.\n"
            "Names are snake_case: a lowercase letter, then lowercase letters, digits or '_' "
            "(e.g. 'center_hit').")


class RewardOptions(BaseModel):
    """The base of a reward's options model: immutable, and unknown keys are an error.

    A misspelt option in a config is then a :class:`~gritkit.errors.ConfigError`
    naming the allowed options, never silently ignored; and since options are
    frozen, derived data can be cached on them with :func:`functools.cached_property`.

    >>> from pydantic import Field
    >>> class CenterOptions(RewardOptions):
    ...     margin: float = Field(0.0, ge=0)
    >>> try:
    ...     CenterOptions(margn=2)
    ... except ValueError as exc:
    ...     print(exc.errors()[0]["type"])
    extra_forbidden
    """

    # defer_build: a reward's options schema is built when a config first uses the reward,
    # not when its plugin loads (most registered rewards are never used in one run).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _sample_fields() -> frozenset:
    from gritkit.models import Sample

    return frozenset(Sample.model_fields)


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
        requires: the :class:`~gritkit.models.Sample` fields the reward cannot work
            without (e.g. ``("answer",)``); adapters check the dataset has them.
    """

    name: str
    fn: Callable[..., Any]
    options: Optional[type[BaseModel]] = None
    description: str = ""
    plugin: str = ""
    batched: bool = False
    is_async: bool = False
    check: Optional[Callable[[Any], Optional[str]]] = None
    requires: tuple[str, ...] = ()

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
                 check: Optional[Callable[[Any], Optional[str]]] = None,
                 requires: Sequence[str] = ()) -> RewardInfo:
        """Register ``fn`` under ``name`` (default: the function's name, ``_reward`` stripped).

        Args:
            fn: ``fn(result, sample[, options]) -> float | None`` (``batched``: lists
                in, a list out; ``async def`` is awaited). A module-level function or
                an instance of a module-level class (never a lambda; a closure
                pickles by its registered name, so the worker must register it too).
            name: the name configs use (snake_case).
            options: a :class:`RewardOptions` subclass (or any pydantic model with
                ``extra="forbid"``), or ``None`` when it takes no options.
            description: one line for ``gritkit rewards``.
            batched: ``fn`` scores a whole batch at once.
            replace: override a reward of the same name on purpose.
            check: ``check(options) -> str | None``, why it cannot run as configured.
            requires: the :class:`~gritkit.models.Sample` fields it cannot work without.

        Raises:
            PluginError: any of the above is wrong; the message says how to fix it.
        """
        return self.reward(fn, name=name, options=options, description=description,
                           batched=batched, replace=replace, check=check, requires=requires)

    def reward(self, fn: Callable[..., Any], *, name: Optional[str] = None,
               options: Optional[type[BaseModel]] = None, description: str = "",
               batched: bool = False, replace: bool = False,
               check: Optional[Callable[[Any], Optional[str]]] = None,
               requires: Sequence[str] = ()) -> RewardInfo:
        """The same as calling the registry (see :meth:`__call__`)."""
        plugin = self.current_plugin
        if not callable(fn):
            raise PluginError(f"Plugin {plugin!r} registered a reward that is not callable: {fn!r}.")
        if inspect.isfunction(fn) and fn.__name__ == "<lambda>":
            raise PluginError(
                f"Plugin {plugin!r} registered a lambda as a reward{'' if name is None else f' ({name!r})'}.\n"
                "A lambda has no name to show in logs and cannot be pickled for a trainer's worker "
                "processes. Define the reward with def at module level and register that function.")
        if name is None:
            name = getattr(fn, "__name__", "")
            if name.endswith("_reward"):
                name = name[: -len("_reward")]
        _check_name("reward", name, plugin)
        if options is not None and not (isinstance(options, type) and issubclass(options, BaseModel)):
            raise PluginError(
                f"Plugin {plugin!r} registered reward {name!r} with options={options!r}; "
                "expected a subclass of gritkit.RewardOptions (or None).")
        if options is not None and options.model_config.get("extra") != "forbid":
            raise PluginError(
                f"Plugin {plugin!r} registered reward {name!r} with the options model "
                f"{options.__name__}, which ignores unknown keys, so a misspelt option in a config "
                "would be silently dropped.\n"
                f"Subclass gritkit.RewardOptions (class {options.__name__}(gritkit.RewardOptions): ...), "
                "or set model_config = ConfigDict(extra=\"forbid\") on it.")
        if isinstance(requires, str):
            requires = (requires,)
        requires = tuple(requires)
        unknown = [f for f in requires if f not in _sample_fields() or f == "extra"]
        if unknown:
            raise PluginError(
                f"Plugin {plugin!r} registered reward {name!r} with requires={requires!r}, but "
                f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not a field of "
                f"gritkit.Sample.\nRequire some of: "
                f"{', '.join(sorted(_sample_fields() - {'extra'}))}.")
        if name in self.entries and not replace:
            other = self.entries[name].plugin
            raise PluginError(
                f"Reward name {name!r} is registered twice: by plugin {other!r} and by plugin {plugin!r}.\n"
                "Rename one of them, disable one plugin (GRITKIT_DISABLE_PLUGINS), "
                "or pass replace=True to override on purpose.")
        target = fn.__call__ if not inspect.isfunction(fn) and not inspect.ismethod(fn) else fn
        info = RewardInfo(name=name, fn=fn, options=options, description=description.strip(),
                          plugin=plugin, batched=batched, check=check, requires=requires,
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

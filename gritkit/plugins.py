"""The plugin manager: which plugins load, in what order, and what each registered.

Nothing here runs at import time. The first call to :func:`get_plugin_manager`
builds the manager and caches it; :func:`reset_plugin_manager` drops the cache
(the next call rebuilds it from the environment).

Load order:

1. the built-in plugins: every module of the package ``gritkit.builtin`` (the
   top-level ``plugins/`` folder), found by listing the package, so a new
   built-in module is picked up without a list to edit;
2. plugins of installed distributions, through the entry-point group ``gritkit``;
3. local plugins named by ``GRITKIT_PLUGINS`` (``gritkit -p FILE`` appends to it):
   ``.py`` files or importable module names, comma separated;
4. ``check_pending()``: a hook implementation whose name matches no hook (a
   typo such as ``register_reward``) is a :class:`~gritkit.errors.PluginError`
   naming the plugin.

Then each plugin's hooks are called one plugin at a time, with the registry's
``current_plugin`` set, so every registered reward and box format knows which
plugin it came from.

Environment variables (read when the manager is built, never at import):

* ``GRITKIT_LOAD_PLUGINS``: unset loads every entry-point plugin; ``""`` loads
  none; a comma list loads only those distributions (or entry-point names).
* ``GRITKIT_DISABLE_PLUGINS``: comma list of plugins not to load (plugin name,
  distribution name, or a built-in module's short name such as ``rewards_judge``).
* ``GRITKIT_PLUGINS``: comma list of local plugin files or modules to load.
* ``GRITKIT_TRACE_PLUGINS=1``: print every hook call, and what it registered, to stderr.

A third-party (entry-point) plugin that fails to import, or whose hook raises,
is reported with a :class:`PluginLoadWarning` and skipped, but remembered in
:attr:`GritPluginManager.failures`: when a config later asks for a reward or a
box format that no plugin registered, the :class:`~gritkit.errors.ConfigError`
lists every failure with its cause chained, since the failed plugin may be the
one that provides it. Built-in and local plugins that fail raise at once.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import contextvars
import threading
import traceback
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, Union

import pluggy

from gritkit import hookspecs
from gritkit.errors import ConfigError, PluginError
from gritkit.registry import BoxFormatInfo, BoxFormatRegistry, RewardInfo, RewardRegistry

ENTRY_POINT_GROUP = "gritkit"
BUILTIN_PACKAGE = "gritkit.builtin"
ENV_LOAD = "GRITKIT_LOAD_PLUGINS"
ENV_DISABLE = "GRITKIT_DISABLE_PLUGINS"
ENV_PLUGINS = "GRITKIT_PLUGINS"
ENV_TRACE = "GRITKIT_TRACE_PLUGINS"

HOOK_NAMES = tuple(
    name for name in dir(hookspecs)
    if name.startswith("register_") and callable(getattr(hookspecs, name))
)

PluginSpec = Union[str, os.PathLike, ModuleType, object]


class PluginLoadWarning(UserWarning):
    """A third-party plugin failed to load and was skipped."""


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that failed to load (or whose hook raised) and was skipped.

    Attributes:
        name: the plugin (entry-point) name.
        distribution: the distribution that provides it, when known.
        version: that distribution's version, when known.
        error: the exception.
        stage: ``"import"`` or the hook that raised (e.g. ``"register_rewards"``).
    """

    name: str
    distribution: Optional[str]
    version: Optional[str]
    error: BaseException
    stage: str = "import"

    @property
    def message(self) -> str:
        """One sentence saying which plugin failed, where, and why."""
        origin = f"Plugin {self.name!r}"
        if self.distribution:
            origin += f" from distribution {self.distribution!r}"
        if self.version:
            origin += f" (version {self.version})"
        where = "failed to load" if self.stage == "import" else f"raised in its {self.stage}() hook"
        return f"{origin} {where}: {type(self.error).__name__}: {self.error}"


@dataclass(frozen=True)
class PluginRecord:
    """What ``gritkit plugins`` shows for one plugin.

    Attributes:
        name: the plugin's name (a built-in's module name, an entry point's name,
            a local file's stem, or the name given in code).
        kind: ``"builtin"``, ``"entry point"``, ``"local"`` or ``"code"``.
        module: the module it was loaded from, when it is a module.
        distribution, version: the installed distribution (entry points;
            gritkit itself for built-ins).
        hooks: the hooks it implements.
        rewards, box_formats: the names it registered.
        error: why it was skipped, for a failed plugin.
        blocked: it was disabled by ``GRITKIT_DISABLE_PLUGINS``.
    """

    name: str
    kind: str
    module: Optional[str] = None
    distribution: Optional[str] = None
    version: Optional[str] = None
    hooks: tuple[str, ...] = ()
    rewards: tuple[str, ...] = ()
    box_formats: tuple[str, ...] = ()
    error: Optional[str] = None
    blocked: bool = False


@dataclass
class _Meta:
    kind: str
    module: Optional[str] = None
    distribution: Optional[str] = None
    version: Optional[str] = None


def _split_list(value: Optional[str]) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _norm_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def default_plugins() -> tuple[str, ...]:
    """The module names of the built-in plugins, found by listing ``gritkit.builtin``.

    Modules whose name starts with ``_``, ``test`` or ``conftest`` are not plugins.

    >>> all(name.startswith("gritkit.builtin.") for name in default_plugins())
    True
    """
    package = importlib.import_module(BUILTIN_PACKAGE)
    names = sorted(
        info.name for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith(("_", "test", "conftest"))
    )
    return tuple(f"{BUILTIN_PACKAGE}.{name}" for name in names)


def __getattr__(name: str):
    # DEFAULT_PLUGINS is computed on first access, so importing this module lists nothing.
    if name == "DEFAULT_PLUGINS":
        return default_plugins()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class GritPluginManager(pluggy.PluginManager):
    """gritkit's pluggy manager, with the registries plugins fill.

    Attributes:
        rewards: the :class:`~gritkit.registry.RewardRegistry` (every reward by name).
        box_formats: the :class:`~gritkit.registry.BoxFormatRegistry`.
        failures: third-party plugins that failed and were skipped.

    Build one with :func:`build_plugin_manager` (or get the shared one with
    :func:`get_plugin_manager`); a bare ``GritPluginManager()`` has no plugins.

    >>> pm = GritPluginManager()
    >>> def parses(result, sample):
    ...     return float(result.ok)
    >>> _ = pm.add_plugin(parses, name="mine")
    >>> pm.rewards.get("parses").plugin
    'mine'
    """

    def __init__(self, *, trace: bool = False) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.rewards = RewardRegistry()
        self.box_formats = BoxFormatRegistry()
        self.failures: list[PluginFailure] = []
        self.blocked_names: set[str] = set()
        self._meta: dict[str, _Meta] = {}
        self._skipped: list[PluginRecord] = []
        if trace:
            self.add_hookcall_monitoring(*_tracers(self))

    # -- registering ---------------------------------------------------------------

    def _is_blocked(self, *names: Optional[str]) -> bool:
        wanted = {n for n in names if n}
        wanted |= {_norm_dist(n) for n in wanted}
        return bool(wanted & self.blocked_names)

    def block(self, names: Iterable[str]) -> None:
        """Block plugins by name, distribution, or built-in short name."""
        for name in names:
            self.blocked_names.add(name)
            self.blocked_names.add(_norm_dist(name))
            self.set_blocked(name)

    def _register(self, plugin: Any, name: str, meta: _Meta) -> Optional[str]:
        if self.is_registered(plugin):
            return self.get_name(plugin)
        if self.has_plugin(name) or name in self._meta:
            other = self._meta.get(name)
            where = f" ({other.kind}{', ' + other.module if other and other.module else ''})" if other else ""
            raise PluginError(
                f"Two plugins are named {name!r}: one is already loaded{where}.\n"
                "Give one of them another name (its entry-point name, or the name= argument), "
                "or disable one with GRITKIT_DISABLE_PLUGINS.")
        try:
            registered = self.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(_validation_message(name, str(exc))) from exc
        if registered is None:  # blocked
            return None
        self._meta[name] = meta
        return registered

    def add_plugin(self, plugin: Any, *, name: Optional[str] = None, kind: str = "code",
                   collect: bool = True) -> str:
        """Register a plugin object, module, or bare function, then run its hooks.

        Args:
            plugin: a module or object with ``@gritkit.hookimpl`` functions, a
                bare hook function (named ``register_rewards`` or
                ``register_box_formats``), or a bare reward function
                ``fn(result, sample)``, registered as a reward under its own
                name (``_reward`` stripped).
            name: the plugin's name (default: the module's or function's name).
            kind: how it was loaded, shown by ``gritkit plugins``.
            collect: call the plugin's hooks now (re-collecting every registry).

        Returns:
            The plugin's name.

        Raises:
            PluginError: the plugin has a misspelt hook, a hook whose
                arguments do not match the spec, a name already taken, or its
                hook registered something invalid.
        """
        plugin, default_name = _as_plugin(plugin)
        name = name or default_name
        module = plugin.__name__ if isinstance(plugin, ModuleType) else None
        registered = self._register(plugin, name, _Meta(kind=kind, module=module))
        if registered is None:
            raise PluginError(f"Plugin {name!r} is blocked (GRITKIT_DISABLE_PLUGINS) and was not added.")
        try:
            self.check_plugins()
            if collect:
                self.collect()
        except BaseException:
            self.remove_plugin(registered, collect=collect)
            raise
        return registered

    def remove_plugin(self, name_or_plugin: Any, *, collect: bool = True) -> None:
        """Unregister a plugin and drop everything it registered."""
        if isinstance(name_or_plugin, str):
            name = name_or_plugin
            plugin = self.get_plugin(name)
        else:
            plugin = name_or_plugin
            name = self.get_name(plugin)
        if plugin is not None and name is not None:
            self.unregister(plugin=plugin, name=name)
        self._meta.pop(name or "", None)
        if collect:
            self.collect()

    def check_plugins(self) -> None:
        """``check_pending()``, with a message that names the plugin and the likely hook."""
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.get_name(exc.plugin) or repr(exc.plugin)
            match = re.search(r"unknown hook '([^']+)'", str(exc))
            hook = match.group(1) if match else "?"
            import difflib

            close = difflib.get_close_matches(hook, HOOK_NAMES, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PluginError(
                f"Plugin {name!r} implements the hook {hook!r}, which gritkit does not define.{hint}\n"
                f"gritkit's hooks are: {', '.join(HOOK_NAMES)}. Rename the function "
                "(see docs/plugin-hooks.md), or drop its @gritkit.hookimpl marker.") from exc

    # -- loading ---------------------------------------------------------------------

    def load_builtins(self) -> None:
        """Register every built-in plugin module (see :func:`default_plugins`)."""
        from gritkit import __version__

        for module_name in default_plugins():
            short = module_name[len(BUILTIN_PACKAGE) + 1:]
            if self._is_blocked(module_name, short):
                self._skipped.append(PluginRecord(module_name, "builtin", module=module_name, blocked=True))
                continue
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                raise PluginError(
                    f"The built-in plugin {module_name!r} failed to import: {type(exc).__name__}: {exc}\n"
                    "This is a bug in gritkit (or a broken install); disable the plugin with "
                    f"GRITKIT_DISABLE_PLUGINS={short} to go on without it.") from exc
            self._register(module, module_name, _Meta(
                kind="builtin", module=module_name, distribution="gritkit", version=__version__))

    def load_entry_points(self, only: Optional[Iterable[str]] = None) -> None:
        """Register the plugins of installed distributions (entry-point group ``gritkit``).

        Args:
            only: when given, load only the entry points whose distribution
                name or entry-point name is in it.
        """
        import importlib.metadata as metadata

        wanted = None if only is None else {_norm_dist(n) for n in only}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            if wanted is not None and not ({_norm_dist(ep.name), _norm_dist(dist_name or "")} & wanted):
                continue
            if self._is_blocked(ep.name, dist_name):
                self._skipped.append(PluginRecord(ep.name, "entry point", module=ep.value,
                                                  distribution=dist_name, version=version, blocked=True))
                continue
            if self.has_plugin(ep.name) or self.get_plugin(ep.name) is not None:
                continue  # the same distribution found twice on sys.path
            try:
                plugin = ep.load()
            except Exception as exc:
                self._fail(PluginFailure(ep.name, dist_name, version, exc))
                continue
            self._register(plugin, ep.name, _Meta(kind="entry point", module=ep.value,
                                                  distribution=dist_name, version=version))

    def load_local(self, specs: Iterable[PluginSpec]) -> None:
        """Register local plugins: ``.py`` paths, module names, modules or objects.

        A local plugin that fails to import raises (the user asked for it by name).
        """
        for spec in specs:
            plugin, name, module = _load_local(spec)
            if self._is_blocked(name):
                self._skipped.append(PluginRecord(name, "local", module=module, blocked=True))
                continue
            self._register(plugin, name, _Meta(kind="local", module=module))

    def _fail(self, failure: PluginFailure) -> None:
        from gritkit import __version__

        self.failures.append(failure)
        warnings.warn(
            f"{failure.message}. The plugin was skipped. Check that it is compatible with this "
            f"gritkit ({__version__}); run `gritkit plugins` for details, or disable it with "
            f"{ENV_DISABLE}={failure.name}.", PluginLoadWarning, stacklevel=3)

    # -- collecting ---------------------------------------------------------------------

    def collect(self) -> None:
        """Empty the registries and call every plugin's hooks, one plugin at a time."""
        self.rewards = RewardRegistry()
        self.box_formats = BoxFormatRegistry()
        registries = {"register_rewards": self.rewards, "register_box_formats": self.box_formats}
        for name, plugin in list(self.list_name_plugin()):
            if plugin is None:
                continue
            hooks = [c.name for c in (self.get_hookcallers(plugin) or []) if c.name in registries]
            if not hooks:
                continue
            others = [p for p in self.get_plugins() if p is not plugin]
            saved = {h: dict(r.entries) for h, r in registries.items()}
            for hook in sorted(hooks, key=HOOK_NAMES.index):
                registry = registries[hook]
                registry.current_plugin = name
                try:
                    self.subset_hook_caller(hook, remove_plugins=others)(register=registry)
                except PluginError:
                    raise
                except Exception as exc:
                    meta = self._meta.get(name, _Meta(kind="code"))
                    if meta.kind != "entry point":
                        raise PluginError(
                            f"Plugin {name!r} raised in its {hook}() hook: {type(exc).__name__}: {exc}\n"
                            f"{_where(exc)}Fix the plugin, or disable it with "
                            f"{ENV_DISABLE}={name}.") from exc
                    for h, r in registries.items():
                        r.entries.clear()
                        r.entries.update(saved[h])
                    self.unregister(plugin=plugin, name=name)
                    self._meta.pop(name, None)
                    self._fail(PluginFailure(name, meta.distribution, meta.version, exc, stage=hook))
                    break
                finally:
                    registry.current_plugin = "<code>"

    # -- lookups ----------------------------------------------------------------------

    def _failures_note(self) -> str:
        if not self.failures:
            return ""
        lines = "\n".join(
            f"  - {f.message}" + (f" (caused by {type(f.error.__cause__).__name__}: {f.error.__cause__})"
                                  if f.error.__cause__ is not None else "")
            for f in self.failures)
        return ("\nIt may come from a plugin that failed to load:\n" + lines +
                "\nFix or reinstall that plugin, then run `gritkit plugins` to check.")

    def _raise_unknown(self, exc: ConfigError) -> None:
        if not self.failures:
            raise exc
        raise ConfigError(f"{exc}{self._failures_note()}") from self.failures[0].error

    def get_reward(self, name: str) -> RewardInfo:
        """The reward ``name``; an unknown name is a ``ConfigError`` with suggestions
        and, when some plugin failed to load, each failure with its cause."""
        try:
            return self.rewards.get(name)
        except ConfigError as exc:
            self._raise_unknown(exc)
            raise  # pragma: no cover

    def get_box_format(self, name: str) -> BoxFormatInfo:
        """The box format ``name`` (same errors as :meth:`get_reward`)."""
        try:
            return self.box_formats.get(name)
        except ConfigError as exc:
            self._raise_unknown(exc)
            raise  # pragma: no cover

    def plugin_records(self) -> list[PluginRecord]:
        """Every plugin with its version, hooks and registrations; then the failed
        and blocked ones."""
        records = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            meta = self._meta.get(name, _Meta(kind="code"))
            hooks = tuple(sorted(c.name for c in (self.get_hookcallers(plugin) or [])))
            records.append(PluginRecord(
                name=name, kind=meta.kind, module=meta.module, distribution=meta.distribution,
                version=meta.version, hooks=hooks,
                rewards=tuple(sorted(n for n, i in self.rewards.entries.items() if i.plugin == name)),
                box_formats=tuple(sorted(n for n, i in self.box_formats.entries.items() if i.plugin == name)),
            ))
        for f in self.failures:
            records.append(PluginRecord(f.name, "entry point", distribution=f.distribution,
                                        version=f.version, error=f.message))
        return records + list(self._skipped)


def _validation_message(name: str, detail: str) -> str:
    return (f"Plugin {name!r} has a hook implementation that does not match gritkit's hook spec.\n"
            f"{detail}\nEach hook takes exactly the arguments documented in docs/plugin-hooks.md "
            "(e.g. register_rewards(register)).")


class _FunctionPlugin:
    """A bare function wrapped as a plugin: a hook function, or a reward function.

    The function itself is not stored as an attribute: pluggy scans every
    attribute for hook markers.
    """

    def __init__(self, fn: Any) -> None:
        name = getattr(fn, "__name__", "")
        self.label = getattr(fn, "__qualname__", name)
        if name in HOOK_NAMES:
            def hook(register):
                return fn(register)
        else:
            def hook(register):
                register.reward(fn)
            name = "register_rewards"
        hook.__name__ = name
        setattr(self, name, hookspecs.hookimpl(hook))

    def __repr__(self) -> str:
        return f"<plugin for {self.label!r}>"


def _is_hookimpl(fn: Any) -> bool:
    return hasattr(fn, f"{hookspecs.PROJECT}_impl")


def _as_plugin(obj: Any) -> tuple[Any, str]:
    if isinstance(obj, ModuleType):
        return obj, obj.__name__
    if callable(obj) and not isinstance(obj, type) and hasattr(obj, "__name__") and not any(
            _is_hookimpl(getattr(obj, h, None)) for h in HOOK_NAMES):
        return _FunctionPlugin(obj), obj.__name__
    name = getattr(obj, "__name__", None) or type(obj).__name__
    return obj, name


_GRITKIT_DIR = str(Path(__file__).resolve().parent)


def _where(exc: BaseException) -> str:
    """The traceback of a plugin's failure, for the error message itself: the frames in the
    plugin's own code (importlib's and gritkit's left out), then, for a ``SyntaxError``,
    the line and a caret. Empty when no frame is the plugin's (a module not found)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<frozen") and not f.filename.startswith(_GRITKIT_DIR)
              and "pluggy" not in Path(f.filename).parts[-2:-1]]
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(frames))
    if isinstance(exc, SyntaxError) and exc.filename:
        lines.extend(traceback.format_exception_only(type(exc), exc))
    elif lines:
        lines.append(f"{type(exc).__name__}: {exc}\n")
    return "".join(lines)


def _load_local(spec: PluginSpec) -> tuple[Any, str, Optional[str]]:
    if isinstance(spec, ModuleType):
        return spec, spec.__name__, spec.__name__
    if not isinstance(spec, (str, os.PathLike)):
        plugin, name = _as_plugin(spec)
        return plugin, name, None
    text = os.fspath(spec).strip()
    looks_like_file = text.endswith(".py") or os.sep in text or "/" in text
    if looks_like_file:
        path = Path(text).expanduser()
        if not path.is_file():
            raise PluginError(
                f"Plugin file {text!r} was not found (from {ENV_PLUGINS} or `gritkit -p`).\n"
                f"Looked at {path.resolve()}. Give the path of a .py file, or an importable module name.")
        module_name = path.stem if path.stem.isidentifier() else f"gritkit_local_{abs(hash(path))}"
        existing = sys.modules.get(module_name)
        if existing is not None and getattr(existing, "__file__", None) and \
                Path(existing.__file__).resolve() == path.resolve():
            return existing, path.stem, module_name
        if existing is not None:
            module_name = f"gritkit_local_{path.stem}_{abs(hash(str(path.resolve())))}"
        try:
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module  # so its functions pickle by reference
            module_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise PluginError(
                f"Plugin file {str(path)!r} failed to import: {type(exc).__name__}: {exc}\n"
                f"{_where(exc)}Fix the error in that file (the traceback above shows where).") from exc
        return module, path.stem, module_name
    try:
        module = importlib.import_module(text)
    except Exception as exc:
        raise PluginError(
            f"Plugin module {text!r} failed to import: {type(exc).__name__}: {exc}\n{_where(exc)}"
            f"Give an importable module name or the path of a .py file in {ENV_PLUGINS} / `gritkit -p`.") from exc
    return module, text, text


def _tracers(pm: GritPluginManager):
    before_names: dict[int, tuple[set[str], set[str]]] = {}

    def before(hook_name, hook_impls, kwargs):
        names = ", ".join(repr(i.plugin_name) for i in hook_impls)
        before_names[id(kwargs)] = (set(pm.rewards.entries), set(pm.box_formats.entries))
        print(f"gritkit trace: {hook_name}(register) -> plugin {names}", file=sys.stderr)

    def after(outcome, hook_name, hook_impls, kwargs):
        rewards, formats = before_names.pop(id(kwargs), (set(), set()))
        new_r = sorted(set(pm.rewards.entries) - rewards)
        new_f = sorted(set(pm.box_formats.entries) - formats)
        if outcome.exception is not None:
            print(f"gritkit trace:   raised {type(outcome.exception).__name__}: {outcome.exception}",
                  file=sys.stderr)
        else:
            what = (f"rewards {', '.join(new_r)}" if new_r else "") + \
                   ("; " if new_r and new_f else "") + (f"box formats {', '.join(new_f)}" if new_f else "")
            print(f"gritkit trace:   registered {what or 'nothing'}", file=sys.stderr)

    return before, after


def build_plugin_manager(*, builtins: bool = True, entry_points: Union[bool, Iterable[str]] = True,
                         plugins: Iterable[PluginSpec] = (), disable: Iterable[str] = (),
                         trace: bool = False) -> GritPluginManager:
    """Build a plugin manager without reading the environment.

    Args:
        builtins: load the built-in plugins.
        entry_points: ``True`` loads every entry-point plugin, ``False`` none,
            a list only those distributions (or entry-point names).
        plugins: local plugins: ``.py`` paths, module names, modules, objects
            with hookimpls, or bare functions.
        disable: plugin names to block.
        trace: print hook calls to stderr.

    Returns:
        The manager, with every hook called.

    >>> pm = build_plugin_manager(builtins=False, entry_points=False)
    >>> pm.rewards.names()
    []
    """
    pm = GritPluginManager(trace=trace)
    pm.block(disable)
    if builtins:
        pm.load_builtins()
    if entry_points is True:
        pm.load_entry_points()
    elif entry_points:
        pm.load_entry_points(only=list(entry_points))
    specs = list(plugins)
    pm.load_local(s for s in specs if isinstance(s, (str, os.PathLike, ModuleType)))
    for obj in specs:
        if not isinstance(obj, (str, os.PathLike, ModuleType)):
            plugin, name = _as_plugin(obj)
            pm._register(plugin, name, _Meta(kind="code"))
    pm.check_plugins()
    pm.collect()
    return pm


def manager_from_environment(environ: Optional[dict[str, str]] = None) -> GritPluginManager:
    """Build a plugin manager following the ``GRITKIT_*`` variables (see the module docs)."""
    env = os.environ if environ is None else environ
    load = env.get(ENV_LOAD)
    entry_points: Union[bool, list[str]] = True if load is None else _split_list(load)
    return build_plugin_manager(
        builtins=True, entry_points=entry_points, plugins=_split_list(env.get(ENV_PLUGINS)),
        disable=_split_list(env.get(ENV_DISABLE)),
        trace=env.get(ENV_TRACE, "").strip().lower() not in ("", "0", "false", "no"))


_LOCK = threading.RLock()
_CACHED: Optional[GritPluginManager] = None
# The one way code reaches "the" plugin manager: this context variable, set by
# use_plugin_manager() (isolated_plugin_manager, a Composer given its own manager),
# else the shared manager built from the environment.
_CURRENT: contextvars.ContextVar[Optional[GritPluginManager]] = contextvars.ContextVar(
    "gritkit_plugin_manager", default=None)


def get_plugin_manager() -> GritPluginManager:
    """The current plugin manager: the one :func:`use_plugin_manager` made current, else
    the shared one, built from the environment on first use and cached.

    Inside :func:`isolated_plugin_manager` it is the isolated one; while a
    :class:`~gritkit.compose.Composer` given its own manager scores, it is that one.

    >>> get_plugin_manager() is get_plugin_manager()
    True
    """
    global _CACHED
    current = _CURRENT.get()
    if current is not None:
        return current
    pm = _CACHED
    if pm is not None:
        return pm
    with _LOCK:
        if _CACHED is None:
            _CACHED = manager_from_environment()
        return _CACHED


def reset_plugin_manager() -> None:
    """Drop the cached manager; the next :func:`get_plugin_manager` rebuilds it
    from the environment. (An active :func:`isolated_plugin_manager` is kept.)"""
    global _CACHED
    with _LOCK:
        _CACHED = None


@contextmanager
def isolated_plugin_manager(builtins: bool = True, entry_points: Union[bool, Iterable[str]] = False,
                            plugins: Iterable[PluginSpec] = ()) -> Iterator[GritPluginManager]:
    """A fresh manager that :func:`get_plugin_manager` returns while the block runs.

    It ignores the ``GRITKIT_*`` variables: by default it has the built-ins
    only. The previous manager is back when the block ends.

    Args:
        builtins: load the built-in plugins.
        entry_points: ``False`` (default), ``True``, or a list of distributions.
        plugins: extra plugins (paths, module names, modules, objects, functions).

    >>> def always_one(result, sample):
    ...     return 1.0
    >>> with isolated_plugin_manager(builtins=False, plugins=[always_one]) as pm:
    ...     pm.rewards.names()
    ['always_one']
    """
    pm = build_plugin_manager(builtins=builtins, entry_points=entry_points, plugins=plugins)
    with use_plugin_manager(pm):
        yield pm


@contextmanager
def use_plugin_manager(pm: Optional[GritPluginManager]) -> Iterator[Optional[GritPluginManager]]:
    """Make ``pm`` the current plugin manager in this context while the block runs.

    It is a context variable: other threads keep theirs, and coroutines and
    ``asyncio.to_thread`` calls started inside the block see ``pm``. ``None``
    changes nothing.
    """
    if pm is None:
        yield get_plugin_manager()
        return
    token = _CURRENT.set(pm)
    try:
        yield pm
    finally:
        _CURRENT.reset(token)

"""Composition: a reward config turned into per-reward values and a weighted total.

:class:`Composer` checks every reward name, option, gate and fallback when it
is built (a :class:`~gritkit.errors.ConfigError` otherwise), parses each
completion once (:func:`gritkit.try_parse`, cached), calls every reward, and
returns a :class:`Score` per completion::

    total = sum(weight * value for each component whose value is not None)

(``None`` when every component is ``None``.)

:attr:`Composer.components` are the same rewards as picklable callable objects,
one per configured reward, each with ``__name__`` (the component name) and
``weight``: what trainer adapters hand to TRL.

Rewards that raise are never turned into a silent 0: with ``on_error = "raise"``
(the default) the error is re-raised as :class:`~gritkit.errors.RewardError`
naming the reward, its plugin and the record index, with the cause chained; with
``on_error = "none"`` the value is ``None`` and a :class:`RewardWarning` is issued.
A value that is not a finite number is treated the same way.
"""

from __future__ import annotations

import contextvars
import math
import os
import pickle
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from pydantic import BaseModel

from gritkit.config import SKIP, RewardConfig, RewardSpec, gate_order, load_config
from gritkit.errors import ConfigError, GrammarError, RewardError
from gritkit.models import ParseResult, Sample, fast_construct
from gritkit.plugins import use_plugin_manager

if TYPE_CHECKING:  # pragma: no cover
    import asyncio


class RewardWarning(UserWarning):
    """A reward failed and its value became ``None`` (``on_error = "none"``)."""


class FallbackNotice(UserWarning):
    """A reward cannot run as configured: another stands in, or it is skipped."""


class Score(BaseModel):
    """The score of one completion.

    Attributes:
        total: the weighted sum of the non-``None`` components, or ``None``
            when every component is ``None``.
        rewards: each component's value (``None``: not applicable).
        ok: the completion parsed without a grammar error.
        error: the parse error (one line) when ``ok`` is false.
    """

    total: Optional[float]
    rewards: dict[str, Optional[float]]
    ok: bool
    error: Optional[str] = None


_EMPTY_SAMPLE: Optional[Sample] = None


def _empty_sample() -> Sample:
    global _EMPTY_SAMPLE
    if _EMPTY_SAMPLE is None:
        _EMPTY_SAMPLE = Sample()
    return _EMPTY_SAMPLE


# -------------------------------------------------------------------------------------------
# Running coroutines from synchronous code


_LOOP: Optional[asyncio.AbstractEventLoop] = None
_LOOP_PID: Optional[int] = None
_LOOP_LOCK = threading.Lock()


def _background_loop() -> "asyncio.AbstractEventLoop":
    import asyncio

    global _LOOP, _LOOP_PID
    with _LOOP_LOCK:
        if _LOOP is None or _LOOP_PID != os.getpid() or _LOOP.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="gritkit-rewards", daemon=True)
            thread.start()
            _LOOP, _LOOP_PID = loop, os.getpid()
        return _LOOP


def run_coroutine(coro):
    """Run ``coro`` to completion from synchronous code and return its result.

    It runs on one long-lived event loop in a daemon thread, so it works both
    when the caller has no event loop and when it is called from inside a
    running one (e.g. a notebook or an async trainer), and async clients that
    cache connections per loop keep working across calls.

    >>> async def two():
    ...     return 2
    >>> run_coroutine(two())
    2
    """
    import asyncio

    loop = _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("run_coroutine() was called from gritkit's own reward loop; "
                           "await the reward instead")
    return asyncio.run_coroutine_threadsafe(_in_context(contextvars.copy_context(), coro), loop).result()


async def _in_context(ctx: contextvars.Context, coro):
    # The loop's thread has its own context; give the coroutine the caller's (the
    # current plugin manager among it), as asyncio.to_thread does for threads.
    for var, value in ctx.items():
        var.set(value)
    return await coro


# -------------------------------------------------------------------------------------------
# Components


def _idx(offset: Union[int, Sequence[int]], i: int) -> int:
    return offset + i if isinstance(offset, int) else offset[i]


def _batch_where(offset: Union[int, Sequence[int]], active: list[int]) -> str:
    return f"the batch of records {_idx(offset, active[0])}..{_idx(offset, active[-1])}"


def _float_or_error(value: Any) -> tuple[Optional[float], Optional[str]]:
    """``(value, None)`` for a usable reward value, ``(None, why)`` otherwise."""
    if value is None:
        return None, None
    if type(value) is float:
        return (value, None) if math.isfinite(value) else (None, f"returned {value!r}, not a finite number")
    if isinstance(value, (bool, int)):
        try:
            return float(value), None
        except OverflowError:  # an int beyond float range, e.g. 10**400
            return None, f"returned an integer of {len(str(abs(value)))} digits, beyond float range"
    if isinstance(value, (str, bytes)):
        return None, f"returned a {type(value).__name__} ({value!r:.60}); expected a float or None"
    try:
        number = float(value)  # numpy and torch scalars
    except (TypeError, ValueError, OverflowError):
        return None, f"returned a {type(value).__name__} ({value!r:.60}); expected a float or None"
    if not math.isfinite(number):
        return None, f"returned {value!r}, not a finite number"
    return number, None


class RewardComponent:
    """One configured reward as a picklable callable (never a closure).

    ``component(results, samples) -> list[float | None]`` scores a batch:
    ``results`` are :class:`~gritkit.models.ParseResult` objects (or completion
    strings, parsed with the config's grammar), ``samples`` the matching
    :class:`~gritkit.models.Sample` objects (``None`` for an empty sample).
    The weight is *not* applied; it is :attr:`weight`.

    Attributes:
        __name__: the component name (what TRL logs as ``rewards/<name>/mean``).
        name: the same.
        reward: the registered reward that computes it (the fallback, when it
            stands in).
        weight: the component's weight.
        plugin: the plugin that registered the reward.
        gate: the gating component, or ``None``; ``gate_min``, ``gate_else``.
        skip_reason: why the component is skipped (``fallback = "skip"``), else ``None``.
        requires: the :class:`~gritkit.models.Sample` fields the reward cannot work
            without (declared with ``register(..., requires=...)``).

    Called on its own, a gated component computes its gate first. A
    :class:`Composer` (and every trainer adapter, which goes through it) computes
    each component once per batch and hands the gate's values on instead.
    """

    def __init__(self, *, name: str, reward: str, weight: float, fn: Any, options: Optional[BaseModel],
                 batched: bool, is_async: bool, plugin: str, on_error: str, grammar: Any,
                 gate: Optional["RewardComponent"] = None, gate_min: float = 1.0, gate_else: float = 0.0,
                 skip_reason: Optional[str] = None, pass_options: bool = False,
                 requires: tuple[str, ...] = ()) -> None:
        self.__name__ = name
        self.__qualname__ = name
        self.name = name
        self.reward = reward
        self.weight = float(weight)
        self.fn = fn
        self.options = options
        self.pass_options = pass_options
        self.batched = batched
        self.is_async = is_async
        self.plugin = plugin
        self.on_error = on_error
        self.grammar = grammar
        self.gate = gate
        self.gate_min = gate_min
        self.gate_else = gate_else
        self.skip_reason = skip_reason
        self.requires = tuple(requires)

    def __repr__(self) -> str:
        via = f" via {self.reward!r}" if self.reward != self.name else ""
        return f"<RewardComponent {self.name!r}{via} weight={self.weight} plugin={self.plugin!r}>"

    # -- pickling: functions by reference when possible, else by registered name ---------

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        try:
            pickle.dumps((self.fn, self.options))
        except Exception:
            state["fn"] = None
            state["options"] = None
            state["_options_data"] = None if self.options is None else self.options.model_dump()
        if not isinstance(self.grammar, str):
            state["grammar"] = getattr(self.grammar, "name", self.grammar)
        return state

    def __setstate__(self, state: dict) -> None:
        data = state.pop("_options_data", None)
        self.__dict__.update(state)
        if self.fn is None and self.skip_reason is None:
            from gritkit.plugins import get_plugin_manager

            info = get_plugin_manager().get_reward(self.reward)
            self.fn = info.fn
            self.options = info.make_options(data) if info.options is not None else None

    # -- scoring --------------------------------------------------------------------------

    def _prepare(self, results: Sequence[Any], samples: Optional[Sequence[Any]]):
        from gritkit.parsing import try_parse

        results = [r if isinstance(r, ParseResult) else try_parse(r, self.grammar) for r in results]
        if samples is None:
            samples = [_empty_sample()] * len(results)
        else:
            samples = [s if isinstance(s, Sample) else (_empty_sample() if s is None else Sample(**s))
                       for s in samples]
            if len(samples) != len(results):
                raise ValueError(f"{self.name}: got {len(results)} completions but {len(samples)} samples")
        return results, samples

    def __call__(self, results: Sequence[Union[ParseResult, str]],
                 samples: Optional[Sequence[Optional[Sample]]] = None) -> list[Optional[float]]:
        results, samples = self._prepare(results, samples)
        gate_values = None
        if self.gate is not None:
            gate_values = self.gate(results, samples)
        if self.is_async:
            return run_coroutine(self.acompute(results, samples, gate_values=gate_values))
        return self.compute(results, samples, gate_values=gate_values)

    def _active(self, n: int, gate_values: Optional[list]) -> tuple[list[Optional[float]], list[int]]:
        if self.gate is None or gate_values is None:
            return [None] * n, list(range(n))
        out: list[Optional[float]] = [None] * n
        active = []
        low = self.gate_min
        for i, g in enumerate(gate_values):
            if g is not None and g >= low:
                active.append(i)
            else:
                out[i] = self.gate_else
        return out, active

    def _failed(self, exc: Optional[BaseException], where: str, why: str = "") -> None:
        what = why or f"raised {type(exc).__name__}: {exc}"
        via = f" (component {self.name!r})" if self.name != self.reward else ""
        message = (f"Reward {self.reward!r}{via} from plugin {self.plugin!r} {what}, on {where}.")
        if self.on_error == "raise":
            fix = ("Fix the reward, or set on_error = \"none\" in the config to score such "
                   "records None with a warning.")
            raise RewardError(f"{message}\n{fix}") from exc
        warnings.warn(f"{message} Its value is None (on_error = \"none\").", RewardWarning, stacklevel=4)

    def compute(self, results: list[ParseResult], samples: list[Sample], *,
                offset: Union[int, Sequence[int]] = 0,
                gate_values: Optional[list] = None) -> list[Optional[float]]:
        """Score a prepared batch synchronously.

        ``offset`` is the index of the first record (or every record's index),
        for error messages; ``gate_values`` the gating component's values.
        """
        out, active = self._active(len(results), gate_values)
        if self.skip_reason is not None or not active:
            return out
        fn = self.fn
        opts = self.options
        if self.batched:
            rs = [results[i] for i in active]
            ss = [samples[i] for i in active]
            try:
                values = fn(rs, ss, opts) if self.pass_options else fn(rs, ss)
            except Exception as exc:
                self._failed(exc, _batch_where(offset, active))
                return out
            self._fill_batch(out, active, values, offset)
            return out
        for i in active:
            try:
                value = fn(results[i], samples[i], opts) if self.pass_options else fn(results[i], samples[i])
            except Exception as exc:
                self._failed(exc, f"record {_idx(offset, i)}")
                continue
            if type(value) is float and value - value == 0.0:
                out[i] = value
            else:
                self._store(out, i, value, offset)
        return out

    def _store(self, out: list, i: int, value: Any, offset: Union[int, Sequence[int]]) -> None:
        value, why = _float_or_error(value)
        if why:
            self._failed(None, f"record {_idx(offset, i)}", why)
        out[i] = value

    def _fill_batch(self, out: list, active: list[int], values: Any,
                    offset: Union[int, Sequence[int]]) -> None:
        try:
            values = list(values)
        except TypeError:
            self._failed(None, _batch_where(offset, active),
                         f"returned a {type(values).__name__}; a batched reward returns a list")
            return
        if len(values) != len(active):
            self._failed(None, _batch_where(offset, active),
                         f"returned {len(values)} values for {len(active)} records")
            return
        for i, value in zip(active, values):
            self._store(out, i, value, offset)

    async def acompute(self, results: list[ParseResult], samples: list[Sample], *,
                       offset: Union[int, Sequence[int]] = 0,
                       gate_values: Optional[list] = None) -> list[Optional[float]]:
        """Score a prepared batch of an ``async`` reward, its calls run concurrently."""
        import asyncio

        if not self.is_async:
            return self.compute(results, samples, offset=offset, gate_values=gate_values)
        out, active = self._active(len(results), gate_values)
        if self.skip_reason is not None or not active:
            return out
        fn, opts = self.fn, self.options
        if self.batched:
            rs = [results[i] for i in active]
            ss = [samples[i] for i in active]
            try:
                values = await (fn(rs, ss, opts) if self.pass_options else fn(rs, ss))
            except Exception as exc:
                self._failed(exc, _batch_where(offset, active))
                return out
            self._fill_batch(out, active, values, offset)
            return out

        async def one(i: int):
            return await (fn(results[i], samples[i], opts) if self.pass_options else fn(results[i], samples[i]))

        got = await asyncio.gather(*(one(i) for i in active), return_exceptions=True)
        for i, value in zip(active, got):
            if isinstance(value, BaseException):
                if not isinstance(value, Exception):
                    raise value
                self._failed(value, f"record {_idx(offset, i)}")
                continue
            self._store(out, i, value, offset)
        return out


# -------------------------------------------------------------------------------------------
# The composer


class Composer:
    """Score completions with a reward config.

    Args:
        config: a :class:`~gritkit.config.RewardConfig`, or anything
            :func:`~gritkit.config.load_config` takes (a preset name, a path, a dict).
        plugin_manager: the plugin manager to look rewards up in (default: the
            current one, :func:`gritkit.get_plugin_manager`). When given, it is made
            the current manager (:func:`gritkit.plugins.use_plugin_manager`) while this
            composer scores, so box-format lookups inside rewards use it too.
        warn: issue a :class:`FallbackNotice` warning for each notice (a fallback
            standing in, or a skipped component); the notices are also in
            :attr:`notices`.

    Raises:
        ConfigError: an unknown reward, box format or grammar, invalid options,
            or a reward that cannot run with no fallback configured.

    Example:
        >>> from gritkit.plugins import isolated_plugin_manager
        >>> def boxes(result, sample):
        ...     return float(len(result.boxes))
        >>> with isolated_plugin_manager(builtins=False, plugins=[boxes]):
        ...     c = Composer({"rewards": [{"name": "boxes", "weight": 0.5}]})
        >>> s = c.score("<think>(1, 2, 3, 4)</think><rethink>.</rethink><answer>1</answer>", None)
        >>> s.total, s.rewards, s.ok
        (0.5, {'boxes': 1.0}, True)
    """

    def __init__(self, config: Union[RewardConfig, str, os.PathLike, dict], plugin_manager=None, *,
                 warn: bool = True) -> None:
        from gritkit.grammar import load_grammar
        from gritkit.plugins import get_plugin_manager

        self.config = load_config(config)
        self.plugin_manager = plugin_manager  # made current while this composer scores
        pm = plugin_manager if plugin_manager is not None else get_plugin_manager()
        where = f" in {self.config.source}" if self.config.source else ""
        try:
            self.grammar = load_grammar(self.config.grammar)
        except GrammarError as exc:
            raise ConfigError(f"Invalid grammar{where}: {exc}") from exc
        if self.config.box_format is not None:
            try:
                pm.get_box_format(self.config.box_format)
            except ConfigError as exc:
                raise ConfigError(f"Invalid box_format{where}: {exc}") from exc.__cause__
        self.notices: list[str] = []
        built: dict[str, RewardComponent] = {}
        for i in gate_order(self.config.rewards) or []:
            spec = self.config.rewards[i]
            try:
                built[spec.component] = self._build(spec, pm, built)
            except ConfigError as exc:
                raise ConfigError(f"In the reward config{where}, rewards[{i}] (name {spec.name!r}): {exc}") \
                    from (exc.__cause__ or exc)
        self.components: list[RewardComponent] = [built[s.component] for s in self.config.rewards]
        self._order = [built[self.config.rewards[i].component] for i in gate_order(self.config.rewards) or []]
        if warn:
            for notice in self.notices:
                warnings.warn(notice, FallbackNotice, stacklevel=2)

    def _build(self, spec: RewardSpec, pm, built: dict[str, RewardComponent]) -> RewardComponent:
        info = pm.get_reward(spec.name)
        options = info.make_options(spec.options)
        fmt = getattr(options, "box_format", None)
        if isinstance(fmt, str):
            try:
                pm.get_box_format(fmt)  # an unknown convention fails now, not on the first box
            except ConfigError as exc:
                raise ConfigError(f"Invalid option box_format: {exc}") from None
        reason = info.check(options) if info.check is not None else None
        skip_reason = None
        if reason:
            if spec.fallback is None:
                raise ConfigError(
                    f"Reward {spec.name!r} cannot run as configured: {reason}\n"
                    f"Fix its options, or add fallback = \"<another reward>\" (or \"skip\") to this reward.")
            if spec.fallback == SKIP:
                skip_reason = reason
                self.notices.append(
                    f"Component {spec.component!r}: reward {spec.name!r} cannot run ({reason}); "
                    "it is skipped (None) in this run.")
            else:
                fallback = pm.get_reward(spec.fallback)
                fb_options = fallback.make_options(spec.fallback_options)
                fb_reason = fallback.check(fb_options) if fallback.check is not None else None
                if fb_reason:
                    raise ConfigError(f"Reward {spec.name!r} cannot run ({reason}), and neither can its "
                                      f"fallback {spec.fallback!r}: {fb_reason}")
                self.notices.append(
                    f"Component {spec.component!r}: reward {spec.name!r} cannot run ({reason}); "
                    f"{spec.fallback!r} stands in for it.")
                info, options = fallback, fb_options
        gate = built[spec.gate.reward] if spec.gate is not None else None
        return RewardComponent(
            name=spec.component, reward=info.name, weight=spec.weight, fn=info.fn, options=options,
            pass_options=info.options is not None, batched=info.batched, is_async=info.is_async,
            plugin=info.plugin, on_error=self.config.on_error, grammar=self.grammar,
            gate=gate, gate_min=spec.gate.min if spec.gate else 1.0,
            gate_else=spec.gate.else_value if spec.gate else 0.0, skip_reason=skip_reason,
            requires=info.requires)

    def __repr__(self) -> str:
        return f"<Composer {[c.name for c in self.components]}>"

    @property
    def names(self) -> list[str]:
        """The component names, in config order."""
        return [c.name for c in self.components]

    @property
    def weights(self) -> list[float]:
        """The component weights, in config order."""
        return [c.weight for c in self.components]

    # -- pickling: the grammar pickles by name (Grammar.__reduce__); a plugin manager does
    # not pickle, and the current one is used where the composer is unpickled

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["plugin_manager"] = None
        return state

    @property
    def requires(self) -> dict[str, list[str]]:
        """Sample field → the components that cannot work without it (skipped ones left out).

        Built from each reward's ``register(..., requires=...)``; the trainer adapters
        check it against the dataset's columns.
        """
        out: dict[str, list[str]] = {}
        for comp in self.components:
            if comp.skip_reason is None:
                for field in comp.requires:
                    out.setdefault(field, []).append(comp.name)
        return out

    def parse(self, text: str) -> ParseResult:
        """Parse ``text`` with the config's grammar (cached)."""
        from gritkit.parsing import try_parse

        return try_parse(text, self.grammar)

    def score(self, text_or_result: Union[str, ParseResult], sample: Optional[Sample] = None) -> Score:
        """Score one completion.

        Args:
            text_or_result: the completion text, or its parse result.
            sample: the row it answers (``None``: an empty sample).

        Returns:
            The :class:`Score`.

        Raises:
            RewardError: a reward failed (with ``on_error = "raise"``).
        """
        return self.score_many([text_or_result], [sample])[0]

    def prepare(self, texts: Sequence[Union[str, ParseResult]],
                samples: Optional[Sequence[Optional[Sample]]] = None) -> tuple[list[ParseResult], list[Sample]]:
        """Parse the texts (once each) and normalise the samples (``None``: empty; dicts validated)."""
        from gritkit.parsing import try_parse

        g = self.grammar
        results = [t if isinstance(t, ParseResult) else try_parse(t, g) for t in texts]
        n = len(results)
        if samples is None:
            return results, [_empty_sample()] * n
        if len(samples) != n:
            raise ValueError(f"got {n} completions but {len(samples)} samples")
        return results, [s if isinstance(s, Sample) else (_empty_sample() if s is None else Sample(**s))
                         for s in samples]

    def values(self, results: Sequence[ParseResult], samples: Sequence[Sample], *,
               offset: Union[int, Sequence[int]] = 0) -> dict[str, list[Optional[float]]]:
        """Every component's values for a prepared batch: ``{component name: [value or None, ...]}``.

        Each component runs exactly once per completion (a gate's values are computed
        once and handed to the components it gates); batched rewards are called once;
        async rewards run concurrently. This is the one place scoring happens: the
        trainer adapters read their values from here.
        """
        with use_plugin_manager(self.plugin_manager):
            return self._values(list(results), list(samples), offset)

    def _values(self, results: list, samples: list, offset) -> dict[str, list[Optional[float]]]:
        values: dict[str, list[Optional[float]]] = {}
        pending: list[RewardComponent] = []

        def flush() -> None:
            if not pending:
                return
            coros = [c.acompute(results, samples, offset=offset,
                                gate_values=values[c.gate.name] if c.gate is not None else None)
                     for c in pending]

            async def gather():
                import asyncio

                return await asyncio.gather(*coros)

            for c, got in zip(pending, run_coroutine(gather())):
                values[c.name] = got
            pending.clear()

        for comp in self._order:
            if comp.gate is not None and comp.gate.name not in values:
                flush()
            if comp.is_async and comp.skip_reason is None:
                pending.append(comp)
            else:
                values[comp.name] = comp.compute(
                    results, samples, offset=offset,
                    gate_values=values[comp.gate.name] if comp.gate is not None else None)
        flush()
        return {c.name: values[c.name] for c in self.components}

    def totals(self, values: dict[str, list[Optional[float]]]) -> list[Optional[float]]:
        """The weighted totals of :meth:`values`' output, one per completion.

        ``sum(weight * value)`` over the components whose value is not ``None``;
        ``None`` when every component is ``None``.
        """
        comps = [(c.weight, values[c.name]) for c in self.components]
        n = len(comps[0][1]) if comps else 0
        out: list[Optional[float]] = [None] * n
        for weight, vals in comps:
            for i, v in enumerate(vals):
                if v is not None:
                    t = out[i]
                    out[i] = weight * v if t is None else t + weight * v
        return out

    def score_many(self, texts: Sequence[Union[str, ParseResult]],
                   samples: Optional[Sequence[Optional[Sample]]] = None, *,
                   offset: Union[int, Sequence[int]] = 0) -> list[Score]:
        """Score a batch: each reward runs once per completion, batched rewards once per batch,
        async rewards concurrently.

        Args:
            texts: completion texts or parse results.
            samples: one sample per completion (``None`` entries or ``None``: empty samples).
            offset: the index of the first record, or every record's index, for
                error messages.

        Returns:
            One :class:`Score` per completion, in order.
        """
        try:
            results, samples = self.prepare(texts, samples)
        except ValueError as exc:
            raise ValueError(f"score_many() {exc}") from None
        values = self.values(results, samples, offset=offset)
        totals = self.totals(values)
        names = [c.name for c in self.components]
        columns = [values[name] for name in names]
        scores = []
        for i, result in enumerate(results):
            error = None
            if not result.ok and result.error is not None:
                e = result.error
                error = f"line {e.line}, column {e.column}: {e.message}"
            scores.append(fast_construct(Score, total=totals[i],
                                         rewards={name: col[i] for name, col in zip(names, columns)},
                                         ok=result.ok, error=error))
        return scores


def compose(config: Union[RewardConfig, str, os.PathLike, dict], plugin_manager=None) -> Composer:
    """Build a :class:`Composer` (the same as ``Composer(config)``).

    >>> compose("grit-official").names  # doctest: +SKIP
    ['answer_format', 'think_format', 'grounded_format', 'repetition', 'bleu', 'judge']
    """
    return Composer(config, plugin_manager)


__all__ = ["Composer", "FallbackNotice", "RewardComponent", "RewardWarning", "Score", "compose",
           "run_coroutine"]

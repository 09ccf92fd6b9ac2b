"""gritkit rewards as TRL ``GRPOTrainer`` reward functions.

>>> from gritkit.adapters.trl import to_trl
>>> reward_funcs, reward_weights = to_trl("grit", model_family="Qwen/Qwen2.5-VL-3B-Instruct",
...                                       processor=processor)  # doctest: +SKIP
>>> trainer = GRPOTrainer(model=..., reward_funcs=reward_funcs,
...                       args=GRPOConfig(..., reward_weights=reward_weights), ...)  # doctest: +SKIP

:func:`to_trl` returns one reward function per configured reward, so TRL logs
``rewards/<name>/mean`` for each and weights them with ``reward_weights``, or,
with ``combine=True``, one function that returns the weighted total (its
components then go to ``log_metric`` as ``grit/<name>``).

Every function is an instance of a picklable class (TRL's async rollout workers
pickle reward functions), has ``__name__`` set to the reward's name, and accepts
exactly what TRL 1.16 passes: ``prompts``, ``completions`` (standard ``list[str]``
or conversational ``[[{"role": "assistant", "content": ...}]]``),
``completion_ids``, ``trainer_state``, ``log_extra``, ``log_metric``, and every
dataset column as a list aligned with the completions. It returns one ``float``
or ``None`` ("not applicable") per completion, never NaN, and never raises on a
malformed completion.

All functions made by one :func:`to_trl` call share one per-batch cache: the
completions are parsed, the samples built and every reward computed once per
batch (:meth:`gritkit.compose.Composer.values`), whichever function TRL calls
first; the others read their column. A reward used as a gate runs once. Concurrent
calls (TRL's async GRPO runs reward functions on threads) wait for that one
computation. Importing this module imports neither ``trl`` nor ``torch``.

TRL's async GRPO (``trl.experimental.async_grpo``) sums reward functions with
``np.nansum`` and has no ``reward_weights``: use ``to_trl(..., combine=True)``
there. The per-reward functions warn once (:class:`AsyncGRPOWeightsWarning`) when
they are called the way it calls them and the config's weights are not all 1.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from typing import Any, Callable, Optional, Sequence

from gritkit.adapters._common import box_format_for, infer_family, load_composer, pixels_from_processor
from gritkit.errors import ConfigError, DataError
from gritkit.builtin.judge import FAILURE_RATE_METRIC as JUDGE_FAILURE_METRIC
from gritkit.builtin.judge import tally as judge_tally
from gritkit.records import THINK_TAGS, RecordReader, check_columns, completion_text, prompt_question

__all__ = ["to_trl", "GritReward", "GritAsyncReward", "GritTotalReward", "TrlBatch", "PARSE_ERROR_METRIC",
           "PARSE_ERROR_COLUMN", "JUDGE_FAILURE_METRIC", "AsyncGRPOWeightsWarning"]

logger = logging.getLogger(__name__)

PARSE_ERROR_METRIC = "grit/parse_error_rate"
"""The ``log_metric`` name of the share of completions that do not follow the grammar."""
PARSE_ERROR_COLUMN = "grit_parse_error"
"""The ``log_extra`` column with each completion's first grammar error (empty when it parsed)."""

_COLUMNS_FIX = ("Fix: give the dataset GRIT's columns (answer, bboxs, width, height, dataset, image), or map "
                "yours: to_trl(..., columns={'answer': 'solution', 'gt_boxes': 'boxes'}).")



class AsyncGRPOWeightsWarning(UserWarning):
    """gritkit's per-reward functions are called by TRL's async GRPO, which ignores ``reward_weights``."""


def _async_grpo_call(kwargs: dict) -> bool:
    # GRPOTrainer always passes trainer_state, log_extra and log_metric; trl.experimental.async_grpo's
    # _score_group passes completions, prompts, completion_ids and the dataset columns only.
    return "completion_ids" in kwargs and not {"trainer_state", "log_metric", "log_extra"} & set(kwargs)


# Keyword arguments TRL passes that are not dataset columns.
_TRAINER_KWARGS = frozenset({"prompts", "completions", "completion_ids", "trainer_state", "log_extra",
                             "log_metric", "environments"})


class TrlBatch:
    """Per-batch state shared by the reward functions of one :func:`to_trl` call.

    TRL calls every reward function with the *same* ``completions`` list object for
    one batch. The first function to run turns the rows into samples
    (:class:`gritkit.records.RecordReader`), parses the completions once, and has
    the :class:`~gritkit.compose.Composer` compute *every* component once
    (:meth:`~gritkit.compose.Composer.values`: each reward, gate included, runs once
    per completion); the other functions only read their column. An identity check
    on ``completions`` means a new batch always recomputes; a lock means concurrent
    calls (TRL's async GRPO scores on threads) wait for that one computation.
    """

    def __init__(self, *, composer: Any, reader: Any, grammar: Any = "grit",
                 log_parse_errors: bool = True, parse_error_column: bool = False,
                 required: Optional[dict] = None):
        self.composer = composer
        self.reader = reader
        self.grammar = grammar
        self.required = dict(required or {})
        self.log_parse_errors = log_parse_errors
        self.parse_error_column = parse_error_column
        self.think_tags = _think_tags(grammar)
        self._lock = threading.Lock()
        self._key: Any = None
        self._value: Any = None
        self._warned_async_grpo = False

    def warn_if_async_grpo(self, kwargs: dict) -> None:
        """Warn once when TRL's async GRPO calls per-reward functions whose weights it will drop."""
        if self._warned_async_grpo or not _async_grpo_call(kwargs):
            return
        weights = self.composer.weights
        if all(w == 1.0 for w in weights):
            return  # an unweighted sum is the weighted total
        self._warned_async_grpo = True
        names = ", ".join(f"{n}={w:g}" for n, w in zip(self.composer.names, weights))
        warnings.warn(
            "gritkit's reward functions are being called the way TRL's async GRPO (trl.experimental.async_grpo) "
            "calls them: it sums reward functions with np.nansum and has no reward_weights, so the config's "
            f"weights ({names}) are ignored and the reward is their unweighted sum.\n"
            "Fix: use one function that returns the weighted total: to_trl(..., combine=True).",
            AsyncGRPOWeightsWarning, stacklevel=3)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_key"] = None
        state["_value"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def scores(self, kwargs: dict) -> tuple[list, dict[str, list]]:
        """``(results, {component: values})`` for one call's kwargs: computed once per batch."""
        results, _, values = self._batch(kwargs)
        return results, values

    def prepare(self, kwargs: dict) -> tuple[list, list]:
        """``(results, samples)`` of the same once-per-batch computation."""
        results, samples, _ = self._batch(kwargs)
        return results, samples

    def _batch(self, kwargs: dict) -> tuple[list, list, dict[str, list]]:
        completions = kwargs.get("completions")
        if completions is None:
            raise ConfigError(
                "A gritkit reward function was called without `completions`.\n"
                "It follows TRL's reward contract: fn(prompts=..., completions=..., **columns). "
                f"Got the keyword arguments: {', '.join(sorted(kwargs)) or '(none)'}.")
        with self._lock:
            key = self._key
            if key is not None and key[0] is completions and key[1] == len(completions):
                return self._value
            results, samples = self._prepare(completions, kwargs)
            before = judge_tally()
            values = self.composer.values(results, samples)
            judged = judge_tally() - before
            value = (results, samples, values)
            self._key, self._value = (completions, len(completions)), value
        self._log(results, kwargs, judged)
        return value

    def _prepare(self, completions: Sequence[Any], kwargs: dict) -> tuple[list, list]:
        from gritkit import try_parse

        n = len(completions)
        columns = {k: v for k, v in kwargs.items() if k not in _TRAINER_KWARGS}
        for name, values in columns.items():
            if not isinstance(values, (list, tuple)) or len(values) != n:
                got = f"{type(values).__name__} of length {len(values)}" if hasattr(values, "__len__") \
                    else type(values).__name__
                raise DataError(
                    f"Column {name!r} passed to a gritkit reward function is a {got}, but there are {n} "
                    "completions.\nTRL passes every dataset column as a list aligned with the completions; "
                    "call the function the same way: fn(completions=[...], answer=[...], ...).")
        if self.required:
            check_columns(columns, self.reader.columns, self.required, where="the dataset",
                          fix=_COLUMNS_FIX)
        prompts = kwargs.get("prompts")
        completion_ids = kwargs.get("completion_ids")
        results = [try_parse(completion_text(c, self.think_tags), self.grammar) for c in completions]
        samples = []
        for i in range(n):
            record = {name: values[i] for name, values in columns.items()}
            question = None
            if prompts is not None and i < len(prompts) and "question" not in record:
                question = prompt_question(prompts[i])
            ids = completion_ids[i] if completion_ids is not None and i < len(completion_ids) else None
            samples.append(self.reader.sample(record, i, question=question, completion_ids=ids))
        return results, samples

    def _log(self, results: list, kwargs: dict, judged: Any = None) -> None:
        if not results:
            return
        log_metric = kwargs.get("log_metric")
        if self.log_parse_errors and callable(log_metric):
            rate = sum(1 for r in results if not r.ok) / len(results)
            _safe(log_metric, PARSE_ERROR_METRIC, float(rate))
        if judged is not None and judged.asked and callable(log_metric):
            _safe(log_metric, JUDGE_FAILURE_METRIC, float(judged.failure_rate))
        log_extra = kwargs.get("log_extra")
        if self.parse_error_column and callable(log_extra):
            _safe(log_extra, PARSE_ERROR_COLUMN,
                  ["" if r.ok or r.error is None else f"{r.error.line}:{r.error.column} {r.error.message}"
                   for r in results])


def _think_tags(grammar: Any) -> tuple[str, str]:
    # The tags that wrap reasoning a chat parser moved out of ``content``: the grammar's own.
    from gritkit.grammar import load_grammar

    try:
        g = grammar if hasattr(grammar, "open_tag") else load_grammar(grammar)
        return g.open_tag("think"), g.close_tag("think")
    except Exception:  # a grammar without a think section
        return THINK_TAGS


def _safe(fn: Callable, *args) -> None:
    # A logging hook must never take a training step down.
    try:
        fn(*args)
    except Exception as exc:  # pragma: no cover - depends on the trainer's logger
        logger.warning("gritkit: logging through %r failed: %s", fn, exc)


class GritReward:
    """One gritkit reward as a TRL reward function (``rewards/<name>/mean`` in the logs).

    Attributes:
        __name__: the component's name (TRL's display name).
        weight: the weight from the config (returned by :func:`to_trl` in ``reward_weights``).
        batch: the shared :class:`TrlBatch`; the function returns its component's column.
    """

    def __init__(self, name: str, weight: float, batch: TrlBatch):
        self.__name__ = name
        self.weight = float(weight)
        self.batch = batch

    def __repr__(self) -> str:
        return f"<gritkit reward {self.__name__!r} weight={self.weight}>"

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[Optional[float]]:
        self.batch.warn_if_async_grpo(kwargs)
        kwargs["prompts"], kwargs["completions"] = prompts, completions
        return list(self.batch.scores(kwargs)[1][self.__name__])


class GritAsyncReward(GritReward):
    """:class:`GritReward` for a component whose reward is ``async`` (e.g. an LLM judge).

    TRL sees the ``async def __call__`` and runs it concurrently with its other async
    reward functions; the batch is scored on a worker thread meanwhile.
    """

    async def __call__(self, prompts: Any = None, completions: Any = None,  # type: ignore[override]
                       **kwargs: Any) -> list[Optional[float]]:
        self.batch.warn_if_async_grpo(kwargs)
        kwargs["prompts"], kwargs["completions"] = prompts, completions
        _, values = await asyncio.to_thread(self.batch.scores, kwargs)
        return list(values[self.__name__])


class GritTotalReward:
    """Every configured reward summed into one TRL reward function (``combine=True``).

    The value is ``sum(weight * value)`` over the rewards that apply
    (:meth:`gritkit.compose.Composer.totals`); ``None`` when none applies. Each
    component's batch mean goes to ``log_metric`` as ``grit/<name>``, and with
    ``log_components=True`` each one's values to ``log_extra`` as a column.
    """

    def __init__(self, batch: TrlBatch, name: str = "gritkit", log_components: bool = False):
        self.batch = batch
        self.__name__ = name
        self.weight = 1.0
        self.log_components = log_components

    def __repr__(self) -> str:
        return f"<gritkit total reward {self.__name__!r} of {', '.join(self.batch.composer.names)}>"

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[Optional[float]]:
        kwargs["prompts"], kwargs["completions"] = prompts, completions
        _, values = self.batch.scores(kwargs)
        log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
        for name, vals in values.items():
            applicable = [v for v in vals if v is not None]
            if callable(log_metric) and applicable:
                _safe(log_metric, f"grit/{name}", sum(applicable) / len(applicable))
            if self.log_components and callable(log_extra):
                _safe(log_extra, f"grit_{name}", list(vals))
        return self.batch.composer.totals(values)


def _reference_pixels(processor: Any, min_pixels: Optional[int], max_pixels: Optional[int],
                      config: Any) -> tuple[Optional[int], Optional[int]]:
    lo, hi = pixels_from_processor(processor)
    lo = min_pixels or lo or getattr(config, "min_pixels", None)
    hi = max_pixels or hi or getattr(config, "max_pixels", None)
    if lo is None or hi is None:
        warnings.warn(
            "Qwen2.5-VL writes boxes in pixels of the image *as resized by its processor*, which depends on "
            "the processor's min_pixels/max_pixels, but to_trl() got neither a processor nor "
            "min_pixels/max_pixels; the qwen2_5_vl convention falls back to the released processor's "
            "budget (3136..12,845,056 pixels). Pass processor=<the trainer's processor> to match your run "
            "(GRIT trained with max_pixels=200,704).", stacklevel=3)
    return lo, hi


def to_trl(config_or_preset: Any = "grit", *, combine: bool = False, columns: Any = None,
           box_format: Optional[str] = None, model_family: Any = None, processor: Any = None,
           min_pixels: Optional[int] = None, max_pixels: Optional[int] = None, image_root: Optional[str] = None,
           grammar: Optional[str] = None, log_parse_errors: bool = True, parse_error_column: bool = False,
           log_components: bool = False, name: Optional[str] = None,
           require_columns: Optional[Sequence[str]] = None) -> tuple[list, list[float]]:
    """Turn a gritkit reward config into TRL ``GRPOTrainer`` reward functions and weights.

    Args:
        config_or_preset: a preset name (``"grit"``, ``"grit-official"``, ``"r1"``), a
            config file path, a dict, a ``RewardConfig`` or a ``Composer``.
        combine: return one function giving the weighted total instead of one per reward.
        columns: how dataset columns map to the ``Sample`` (a ``gritkit.config.ColumnMap``
            or a dict of its fields); default: the config's, else GRIT's schema
            (``answer``/``gt_answer``, ``bboxs``/``gt_boxes``, ``width``, ``height``,
            ``dataset``, ``image``).
        box_format: the coordinate convention completions write boxes in; overrides the
            rows' ``box_format`` column, the config's ``box_format`` and the model family
            (in that order of precedence otherwise).
        model_family: a family (``"qwen2_5_vl"``), a hub id or local model folder, a
            model or its config; decides the convention: Qwen2.5-VL →
            ``qwen2_5_vl`` (pixels of the processor-resized image), Qwen2-VL /
            Qwen3-VL / InternVL → ``norm_1000``, any other → ``xyxy`` pixels. Inferred
            from ``processor`` when not given.
        processor: the trainer's processor (or image processor); its ``min_pixels`` /
            ``max_pixels`` define Qwen2.5-VL's resized frame.
        min_pixels, max_pixels: override the processor's pixel budget (a row's own
            ``min_pixels``/``max_pixels`` columns still win).
        image_root: folder that relative image paths in the dataset resolve against
            (used to read an image's size when no width/height column exists).
        grammar: the grammar to parse with (default: the config's, else ``"grit"``).
        log_parse_errors: log ``grit/parse_error_rate`` through ``log_metric``.
        parse_error_column: add a ``grit_parse_error`` column to TRL's completions table.
        log_components: with ``combine=True``, also log each reward's values as a column.
        name: the combined function's name (default ``"gritkit"``).
        require_columns: ``Sample`` fields whose columns must be in the dataset (a
            ``DataError`` names them otherwise); default: those the configured rewards
            declare with ``register(..., requires=...)`` (built-ins: ``answer`` for
            answer_match/judge/bleu/count, ``gt_boxes`` for iou); ``()`` checks nothing.

    Returns:
        ``(reward_funcs, reward_weights)``: pass them as ``GRPOTrainer(reward_funcs=...)``
        and ``GRPOConfig(reward_weights=...)``.

    Raises:
        ConfigError: an unknown preset or reward, invalid options or column map.

    Example:
        >>> config = {"rewards": [{"name": "format", "options": {"mode": "paper"}},
        ...                       {"name": "iou", "weight": 0.5}]}
        >>> funcs, weights = to_trl(config, model_family="qwen2_vl")
        >>> [f.__name__ for f in funcs], weights
        (['format', 'iou'], [1.0, 0.5])
        >>> text = "<think>the cup (100, 200, 500, 600)</think><rethink>ok</rethink><answer>yes"
        >>> [f(prompts=["q"], completions=[[{"role": "assistant", "content": text}]],
        ...    bboxs=[[[10, 20, 50, 60]]], width=[100], height=[100]) for f in funcs]
        [[1.5], [1.0]]
    """
    config, composer = _composer(config_or_preset)
    family = infer_family(model_family, processor)
    default_fmt = getattr(config, "box_format", None) or (box_format_for(family) if family else None)
    lo = hi = None
    if "qwen2_5_vl" in (box_format, default_fmt):
        lo, hi = _reference_pixels(processor, min_pixels, max_pixels, config)
    if not composer.components:
        raise ConfigError("The reward config has no rewards; add at least one under [[rewards]].")
    needed = composer.requires if require_columns is None else \
        {f: ["(require_columns)"] for f in require_columns}
    reader = RecordReader.from_config(config, columns=columns, box_format=box_format,
                                      default_box_format=default_fmt, min_pixels=lo, max_pixels=hi,
                                      image_root=image_root, fix=_COLUMNS_FIX)
    batch = TrlBatch(composer=composer, reader=reader,
                     grammar=_grammar_name(grammar or getattr(composer, "grammar", None)
                                           or getattr(config, "grammar", None) or "grit"),
                     log_parse_errors=log_parse_errors, parse_error_column=parse_error_column,
                     required=needed)
    if combine:
        return [GritTotalReward(batch, name=name or "gritkit", log_components=log_components)], [1.0]
    funcs = [(GritAsyncReward if c.is_async and c.skip_reason is None else GritReward)(c.name, c.weight, batch)
             for c in composer.components]
    return funcs, [f.weight for f in funcs]


def _grammar_name(grammar: Any) -> str:
    # A name pickles small and try_parse loads (and caches) the grammar by name.
    return grammar if isinstance(grammar, str) else getattr(grammar, "name", "grit")


def _composer(config_or_preset: Any) -> tuple[Any, Any]:
    if hasattr(config_or_preset, "components") and hasattr(config_or_preset, "score"):
        return getattr(config_or_preset, "config", None), config_or_preset  # already a Composer
    return load_composer(config_or_preset)

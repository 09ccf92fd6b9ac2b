"""Evaluation: GRIT's metrics over a file of model outputs, per dataset and overall.

:func:`evaluate` reads JSON Lines in GRIT's data schema (``output`` plus
``answer``, ``bboxs``, ``width``, ``height``, ``dataset``, ``image``,
``question``), scores every record with the built-in reward plugins and
aggregates:

=====================  ==================================================================
key                    meaning
=====================  ==================================================================
``n``                  unique samples (duplicates of the same dataset, image, question and
                       answer are counted once; the first copy is kept)
``duplicates``         copies dropped by that rule
``accuracy``           mean of ``answer_match`` (or of ``judge`` when the config has one)
``grounding_iou``      GRIT's grounding IoU: IoU of the union of predicted boxes with the
                       union of ground-truth boxes, original frame; samples without
                       ground-truth boxes skipped, no predicted box scores 0
``matched_iou``        one-to-one (Hungarian) matching, mean IoU over matched pairs, with
                       unmatched boxes counting 0
``f1_50``              F1 of that matching at IoU >= 0.5
``format_ok``          share of outputs that follow the grammar
``boxes_per_sample``   mean number of boxes written (all sections)
``invalid_box_rate``   share of all written boxes that are invalid (not finite, x1 >= x2,
                       y1 >= y2) or outside the image (``box_in_image``)
``n_with_gt``          unique samples with ground-truth boxes (the grounding metrics' n)
``n_accuracy``         unique samples the accuracy reward applied to
=====================  ==================================================================

None of the arithmetic of a metric lives here: each per-sample value comes from
the reward of the same name (:mod:`gritkit.builtin`), called through
:class:`gritkit.compose.Composer`; this module chooses their options, removes
duplicates, averages and bootstraps. See docs/evaluation.md for how each metric
differs from GRIT's own script and why.

Example:
    >>> from gritkit.evaluate import evaluate  # doctest: +SKIP
    >>> report = evaluate("examples/data/sample_outputs.jsonl")  # doctest: +SKIP
    >>> round(report.overall["accuracy"], 3), report.overall["duplicates"]  # doctest: +SKIP
    (0.643, 1)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from gritkit.errors import ConfigError, DataError
from gritkit.io import read_records
from gritkit.records import RecordReader

METRICS = ("accuracy", "grounding_iou", "matched_iou", "f1_50", "format_ok",
           "boxes_per_sample", "invalid_box_rate")
"""The metric keys of every group, in table order."""

UNKNOWN_DATASET = "unknown"
"""The dataset name of records without a ``dataset`` field."""

DEFAULT_SEED = 0
"""The default seed of :func:`bootstrap_ci` (the same figures on every run)."""


# --------------------------------------------------------------------------- per-record results
@dataclass(frozen=True)
class RecordMetrics:
    """The per-sample values of one evaluated record.

    Attributes:
        index: the record's 0-based position in the input.
        dataset: its dataset name (``"unknown"`` when absent).
        key: the duplicate key ``(dataset, image, question, answer)``, or ``None``
            when the record has neither ``image`` nor ``question`` (then it is
            never treated as a duplicate).
        format_ok: the output follows the grammar.
        accuracy: the accuracy reward's value, ``None`` when not applicable.
        grounding_iou: union IoU, ``None`` without ground-truth boxes.
        matched_iou: one-to-one matched IoU, ``None`` without ground-truth boxes.
        f1_50: F1 at IoU 0.5, ``None`` without ground-truth boxes.
        n_boxes: boxes written in the output.
        n_bad_boxes: how many of them are invalid or outside the image. Validity
            (conversion, finite, ``x1 < x2``, ``y1 < y2``) is always judged; being
            inside the image only when the image size is known.
        n_unsized_boxes: valid boxes whose inside-the-image check could not be
            made (the record has no image size).
    """

    index: int
    dataset: str
    key: Optional[tuple]
    format_ok: bool
    accuracy: Optional[float]
    grounding_iou: Optional[float]
    matched_iou: Optional[float]
    f1_50: Optional[float]
    n_boxes: int
    n_bad_boxes: float
    n_unsized_boxes: int = 0


@dataclass(frozen=True)
class RecordError:
    """A record that could not be evaluated (bad JSON, no output, a bad field)."""

    index: int
    message: str


def duplicate_key(record: Mapping[str, Any], dataset: str, answer: Any) -> Optional[tuple]:
    """The key GRIT's metric script de-duplicates on: dataset, image, question, answer.

    Records with neither an image nor a question get no key: without them two
    different samples with the same answer would look like copies.

    Example:
        >>> duplicate_key({"image": "a.jpg", "question": "Q?"}, "vsr", "Yes")
        ('vsr', 'a.jpg', 'Q?', 'Yes')
        >>> duplicate_key({}, "vsr", "Yes") is None
        True
    """
    image, question = record.get("image"), record.get("question")
    if image is None and question is None:
        return None
    return (dataset, _hashable(image), _hashable(question), _hashable(answer))


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # 7 and "7" are the same answer, as GRIT's str(answer)
    return value


def deduplicate(records: Sequence[RecordMetrics]) -> tuple[list[RecordMetrics], dict[str, int]]:
    """Keep the first copy of each duplicate key.

    Returns:
        The unique records, in input order, and the number of dropped copies per
        dataset.

    Example:
        >>> a = RecordMetrics(0, "vsr", ("vsr", "i", "q", "Yes"), True, 1.0, None, None, None, 0, 0)
        >>> b = RecordMetrics(1, "vsr", ("vsr", "i", "q", "Yes"), True, 0.0, None, None, None, 0, 0)
        >>> unique, dropped = deduplicate([a, b])
        >>> [r.index for r in unique], dropped
        ([0], {'vsr': 1})
    """
    seen: set = set()
    unique: list[RecordMetrics] = []
    dropped: dict[str, int] = {}
    for r in records:
        if r.key is not None:
            if r.key in seen:
                dropped[r.dataset] = dropped.get(r.dataset, 0) + 1
                continue
            seen.add(r.key)
        unique.append(r)
    return unique, dropped


# --------------------------------------------------------------------------- aggregation
def _mean(values: Iterable[Optional[float]]) -> tuple[Optional[float], int]:
    vals = [float(v) for v in values if v is not None and not _isnan(v)]
    return (sum(vals) / len(vals) if vals else None), len(vals)


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def aggregate(records: Sequence[RecordMetrics], duplicates: int = 0) -> dict[str, Any]:
    """Average the per-sample values of one group of unique records.

    Means skip ``None`` (not applicable); ``invalid_box_rate`` pools all boxes
    of the group (bad boxes / boxes written), ``None`` when no box was written;
    ``boxes_unsized`` counts the valid boxes whose inside-the-image check could not
    be made (records without an image size).
    Every metric is ``None`` for an empty group.

    Example:
        >>> r = [RecordMetrics(0, "d", None, True, 1.0, 0.5, 0.5, 1.0, 2, 1),
        ...      RecordMetrics(1, "d", None, False, 0.0, None, None, None, 2, 0)]
        >>> g = aggregate(r)
        >>> g["n"], g["accuracy"], g["grounding_iou"], g["format_ok"], g["invalid_box_rate"]
        (2, 0.5, 0.5, 0.5, 0.25)
    """
    acc, n_acc = _mean(r.accuracy for r in records)
    giou, n_gt = _mean(r.grounding_iou for r in records)
    miou, _ = _mean(r.matched_iou for r in records)
    f1, _ = _mean(r.f1_50 for r in records)
    fmt, _ = _mean(float(r.format_ok) for r in records)
    boxes = sum(r.n_boxes for r in records)
    bad = sum(r.n_bad_boxes for r in records)
    return {
        "n": len(records),
        "accuracy": acc,
        "grounding_iou": giou,
        "matched_iou": miou,
        "f1_50": f1,
        "format_ok": fmt,
        "boxes_per_sample": (boxes / len(records)) if records else None,
        "invalid_box_rate": (bad / boxes) if boxes else None,
        "boxes_unsized": sum(r.n_unsized_boxes for r in records),
        "duplicates": duplicates,
        "n_with_gt": n_gt,
        "n_accuracy": n_acc,
    }


def _columns(records: Sequence[RecordMetrics]):
    import numpy as np

    def col(name):
        return np.array([np.nan if getattr(r, name) is None else float(getattr(r, name))
                         for r in records], dtype=float)

    return {
        "accuracy": col("accuracy"),
        "grounding_iou": col("grounding_iou"),
        "matched_iou": col("matched_iou"),
        "f1_50": col("f1_50"),
        "format_ok": col("format_ok"),
        "n_boxes": col("n_boxes"),
        "n_bad_boxes": col("n_bad_boxes"),
    }


def bootstrap_ci(records: Sequence[RecordMetrics], n_resamples: int, seed: int = DEFAULT_SEED,
                 level: float = 0.95) -> dict[str, Optional[list[float]]]:
    """Percentile bootstrap confidence intervals of every metric of one group.

    The group's unique records are resampled with replacement ``n_resamples``
    times (numpy ``default_rng(seed)``, so a seed gives the same intervals on
    every run and machine); each metric is recomputed on every resample exactly
    as :func:`aggregate` computes it (means over the applicable records,
    ``invalid_box_rate`` pooled), and the interval is the ``(1 - level) / 2``
    and ``(1 + level) / 2`` percentiles of those values. A metric with no
    applicable record gets ``None``. Resamples in which a metric has no
    applicable record are left out of that metric's percentiles.

    Args:
        records: the group's unique records.
        n_resamples: number of bootstrap resamples (e.g. 1000).
        seed: the random seed.
        level: the confidence level.

    Returns:
        ``{metric: [low, high] or None}`` for every name in :data:`METRICS`.

    Example:
        >>> r = [RecordMetrics(i, "d", None, True, float(i % 2), None, None, None, 1, 0)
        ...      for i in range(10)]
        >>> ci = bootstrap_ci(r, 200, seed=1)
        >>> 0.0 <= ci["accuracy"][0] <= 0.5 <= ci["accuracy"][1] <= 1.0
        True
    """
    import numpy as np

    if n_resamples < 1:
        raise ConfigError(f"--bootstrap must be at least 1, got {n_resamples}.")
    if not 0 < level < 1:
        raise ConfigError(f"The confidence level must be between 0 and 1, got {level}.")
    out: dict[str, Optional[list[float]]] = {m: None for m in METRICS}
    n = len(records)
    if n == 0:
        return out
    cols = _columns(records)
    rng = np.random.default_rng(seed)
    stats: dict[str, list] = {m: [] for m in METRICS}
    chunk = max(1, 2_000_000 // n)  # bound memory: at most ~2M indices per block
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        for m in ("accuracy", "grounding_iou", "matched_iou", "f1_50", "format_ok"):
            vals = cols[m][idx]
            cnt = np.sum(~np.isnan(vals), axis=1)
            sums = np.nansum(vals, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                stats[m].append(np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan))
        boxes = cols["n_boxes"][idx].sum(axis=1)
        bad = cols["n_bad_boxes"][idx].sum(axis=1)
        stats["boxes_per_sample"].append(boxes / n)
        with np.errstate(invalid="ignore", divide="ignore"):
            stats["invalid_box_rate"].append(np.where(boxes > 0, bad / np.maximum(boxes, 1), np.nan))
        done += b
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    for m in METRICS:
        vals = np.concatenate(stats[m])
        vals = vals[~np.isnan(vals)]
        if vals.size:
            lo, hi = np.percentile(vals, [lo_q, hi_q])
            out[m] = [float(lo), float(hi)]
    return out


def summarize(records: Sequence[RecordMetrics], bootstrap: int = 0, seed: int = DEFAULT_SEED,
              dedupe: bool = True) -> dict[str, Any]:
    """Group evaluated records by dataset and aggregate each group and the whole.

    Args:
        records: per-record values, in input order.
        bootstrap: number of bootstrap resamples for 95% intervals (0: none).
        seed: the bootstrap seed.
        dedupe: drop duplicates (see :func:`deduplicate`) before aggregating.

    Returns:
        ``{"datasets": {name: group}, "overall": group}``; each group has the
        keys of :func:`aggregate`, and ``ci95`` (``{metric: [low, high]}``) when
        ``bootstrap`` is positive. Datasets are sorted by name.
    """
    if dedupe:
        unique, dropped = deduplicate(records)
    else:
        unique, dropped = list(records), {}
    by_ds: dict[str, list[RecordMetrics]] = OrderedDict()
    for r in sorted(unique, key=lambda r: r.dataset):
        by_ds.setdefault(r.dataset, []).append(r)
    datasets = {}
    for name, group in by_ds.items():
        datasets[name] = aggregate(group, dropped.get(name, 0))
    for name, cnt in dropped.items():  # a dataset whose every record was a duplicate cannot exist
        datasets.setdefault(name, aggregate([], cnt))
    overall = aggregate(unique, sum(dropped.values()))
    if bootstrap:
        for name, group in by_ds.items():
            datasets[name]["ci95"] = bootstrap_ci(group, bootstrap, seed)
        overall["ci95"] = bootstrap_ci(unique, bootstrap, seed)
    return {"datasets": datasets, "overall": overall}


# --------------------------------------------------------------------------- scoring
#: The reward components evaluation scores with (component name -> reward and options).
#: ``accuracy`` is replaced by the config's ``judge`` (or ``answer_match``) when one is given.
METRIC_REWARDS: dict[str, dict[str, Any]] = {
    "accuracy": {"name": "answer_match"},
    "grounding_iou": {"name": "iou", "options": {"method": "union"}},
    "matched_iou": {"name": "iou", "options": {"method": "hungarian"}},
    "f1_50": {"name": "iou", "options": {"method": "f1", "threshold": 0.5}},
    # Invalid or outside the image only: duplicates and whole-image boxes are reward-hacking
    # signs (`gritkit report`), not invalid boxes.
    "box_valid": {"name": "box_in_image", "options": {"duplicate_iou": None, "whole_image_fraction": None}},
}

BATCH = 64
"""Records scored per :meth:`~gritkit.compose.Composer.score_many` call (async judges run
concurrently within a batch)."""


def metric_config(config=None, *, accuracy: Optional[str] = None, binarize_judge: bool = False):
    """The :class:`~gritkit.config.RewardConfig` evaluation scores with.

    Every metric is one component of it: ``accuracy`` (``answer_match``, or the
    ``judge`` of ``config`` with its options and fallback when ``config`` has
    one, else ``config``'s ``answer_match`` options), ``grounding_iou``,
    ``matched_iou``, ``f1_50`` (the ``iou`` reward with ``method`` ``union``,
    ``hungarian`` and ``f1``) and ``box_valid`` (``box_in_image``). The
    grammar, box format, pixel budget, column map and error policy come from
    ``config``.

    Args:
        config: a preset name, config path, dict or ``RewardConfig`` (``None``:
            the defaults).
        accuracy: force the accuracy reward (``"answer_match"`` or ``"judge"``).
        binarize_judge: the judge's ``binarize`` option, whatever the config
            says. A judge that cannot run (no endpoint) falls back to
            ``answer_match`` unless the config names another fallback. By default evaluation reads the judge's **raw** score, as GRIT's
            paper reports ACC (the official trainer binarises it, > 0 counting
            as 1, only for the reward; GRIT issue #10).

    Example:
        >>> [r.component for r in metric_config().rewards]
        ['accuracy', 'grounding_iou', 'matched_iou', 'f1_50', 'box_valid']
    """
    from gritkit.config import SKIP, RewardConfig, load_config

    base = load_config(config) if config is not None else None
    specs = {k: dict(v) for k, v in METRIC_REWARDS.items()}
    if base is not None:
        by_name = {s.name: s for s in base.rewards}
        chosen = by_name.get(accuracy) if accuracy else (by_name.get("judge") or by_name.get("answer_match"))
        if chosen is not None:
            spec = {"name": chosen.name, "options": dict(chosen.options)}
            if chosen.fallback is not None:
                spec["fallback"] = chosen.fallback
                if chosen.fallback_options:
                    spec["fallback_options"] = dict(chosen.fallback_options)
            specs["accuracy"] = spec
        elif accuracy:
            specs["accuracy"] = {"name": accuracy}
        if "box_in_image" in by_name:  # the config's tolerance (and the like) apply
            specs["box_valid"]["options"] = {**by_name["box_in_image"].options, **specs["box_valid"]["options"]}
    elif accuracy:
        specs["accuracy"] = {"name": accuracy}
    if specs["accuracy"]["name"] == "judge":
        if _has_option("judge", "binarize"):
            specs["accuracy"]["options"] = {**specs["accuracy"].get("options", {}), "binarize": binarize_judge}
        if specs["accuracy"].get("fallback") in (None, SKIP):
            # A judge without an endpoint must not leave accuracy empty: answer_match stands
            # in, and the composer's notice says so.
            specs["accuracy"]["fallback"] = "answer_match"
            specs["accuracy"].pop("fallback_options", None)
    rewards = [{"as": k, **v} for k, v in specs.items()]
    data: dict[str, Any] = {"rewards": rewards}
    if base is not None:
        data.update(box_format=base.box_format, columns=base.columns, on_error=base.on_error,
                    min_pixels=base.min_pixels, max_pixels=base.max_pixels, grammar=base.grammar,
                    description=f"evaluation metrics ({base.source or 'config'})")
    return RewardConfig.model_validate(data)


def _has_option(reward: str, option: str) -> bool:
    from gritkit.plugins import get_plugin_manager

    try:
        info = get_plugin_manager().get_reward(reward)
    except ConfigError:
        return False  # the composer reports the unknown name
    return info.options is not None and option in info.options.model_fields


def ensure_dir(path: Union[str, Path]) -> Path:
    """Create the output folder ``path`` (and its parents); ``DataError`` when that fails."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"Cannot create the output folder {p}: {exc.strerror or exc}.\n"
                        "Choose another folder with --out.") from exc
    return p


def error_text(exc: BaseException) -> str:
    """An error's message on one line, without the record dump some messages carry."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    return " ".join(ln for ln in lines if ln and not ln.startswith("record:"))





@dataclass
class EvalReport:
    """The result of :func:`evaluate`.

    Attributes:
        datasets: per-dataset groups (see :func:`summarize`).
        overall: the whole file's group.
        records: the per-record values, in input order (duplicates included).
        errors: records that could not be evaluated.
        notices: notices from building the rewards (e.g. a judge falling back).
        accuracy_reward: which reward gave ``accuracy``.
        bootstrap: resamples used for the intervals (0: none); ``seed`` their seed.
    """

    datasets: dict[str, dict[str, Any]]
    overall: dict[str, Any]
    records: list[RecordMetrics] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    accuracy_reward: str = "answer_match"
    bootstrap: int = 0
    seed: int = DEFAULT_SEED

    def to_json(self) -> dict[str, Any]:
        """``{"datasets": {...}, "overall": {...}, "errors": [...], "meta": {...}}``."""
        return {
            "datasets": self.datasets,
            "overall": self.overall,
            "errors": [{"record": e.index, "message": e.message} for e in self.errors],
            "meta": {"accuracy_reward": self.accuracy_reward, "bootstrap": self.bootstrap,
                     "seed": self.seed if self.bootstrap else None, "confidence": 0.95 if self.bootstrap else None,
                     "records": len(self.records) + len(self.errors), "notices": list(self.notices)},
        }


class Evaluator:
    """Scores records in GRIT's data schema into :class:`RecordMetrics`.

    Args:
        config: a preset name, config path, dict or ``RewardConfig`` whose
            ``judge`` or ``answer_match``, box format, grammar and column map
            evaluation follows (``None``: the defaults).
        box_format: the coordinate convention of every record (overrides the
            records' ``box_format`` and the config's).
        renames: column renames, ``{file column: gritkit field}``.
        accuracy: force the accuracy reward (``"answer_match"`` or ``"judge"``).
        binarize_judge: score accuracy with the judge's binarised value (see
            :func:`metric_config`); default: its raw score.

    Example:
        >>> ev = Evaluator()
        >>> m = ev.evaluate_records([(0, {"output": "<think>(0, 0, 10, 10)</think><rethink>.</rethink>"
        ...                                        "<answer>Yes", "answer": "Yes", "bboxs": [[0, 0, 10, 10]],
        ...                                        "width": 20, "height": 20})])[0]
        >>> m.accuracy, m.grounding_iou, m.n_boxes
        (1.0, 1.0, 1)
    """

    def __init__(self, config=None, *, box_format: Optional[str] = None,
                 renames: Optional[Mapping[str, str]] = None, accuracy: Optional[str] = None,
                 binarize_judge: bool = False) -> None:
        import warnings

        from gritkit.compose import Composer

        self.config = metric_config(config, accuracy=accuracy, binarize_judge=binarize_judge)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # notices are reported with the results instead
            self.composer = Composer(self.config)
        self.notices = list(self.composer.notices)
        self.accuracy_reward = self.composer.components[0].reward
        self.box_format = box_format
        if box_format is not None:
            from gritkit.plugins import get_plugin_manager

            get_plugin_manager().get_box_format(box_format)  # unknown name: ConfigError now
        self.renames = dict(renames or {})
        self.reader = RecordReader.from_config(self.config, renames=self.renames, box_format=box_format)

    def _prepare(self, index: int, record: dict):
        text, sample = self.reader.read(record, index)
        return self.composer.parse(text), sample

    def evaluate_records(self, items: Iterable[tuple[int, Optional[dict]]],
                         errors: Optional[list[RecordError]] = None,
                         progress: Optional[Callable[[int], None]] = None) -> list[RecordMetrics]:
        """Score ``(index, record)`` pairs; records that cannot be used go to ``errors``.

        A ``None`` record is skipped silently (its problem was reported by the
        reader). ``progress(n)`` is called as ``n`` more records are done.
        """
        errors = errors if errors is not None else []
        out: list[RecordMetrics] = []
        batch: list[tuple[int, Any, Any]] = []

        def flush():
            if not batch:
                return
            scores = self.composer.score_many([r for _, r, _ in batch], [s for _, _, s in batch],
                                              offset=[i for i, _, _ in batch])
            for (i, result, sample), score in zip(batch, scores):
                out.append(self._metrics(i, result, sample, score.rewards))
            if progress is not None:
                progress(len(batch))
            batch.clear()

        for index, record in items:
            if record is None:
                if progress is not None:
                    progress(1)
                continue
            try:
                result, sample = self._prepare(index, record)
            except DataError as exc:
                errors.append(RecordError(index, error_text(exc)))
                if progress is not None:
                    progress(1)
                continue
            batch.append((index, result, sample))
            if len(batch) >= BATCH:
                flush()
        flush()
        return out

    @staticmethod
    def _metrics(index: int, result, sample, r: Mapping[str, Optional[float]]) -> RecordMetrics:
        dataset = sample.dataset or UNKNOWN_DATASET
        has_gt = bool(sample.gt_boxes)
        n_boxes = len(result.boxes)
        valid = r.get("box_valid")
        # box_in_image gives the share of boxes that pass; the rest are invalid or outside.
        n_bad = n_boxes * (1.0 - valid) if (n_boxes and valid is not None) else 0.0
        n_unsized = 0
        if n_boxes and valid is None and sample.image_size is None:
            # no image size: box_in_image cannot run, but validity needs no size
            from gritkit.boxes import check_boxes

            try:
                verdicts = check_boxes(result.boxes, sample, duplicate_iou=None, whole_image_fraction=None)
            except ConfigError:
                verdicts = []
            n_bad = float(sum(1 for v in verdicts if v.kind == "invalid"))
            n_unsized = sum(1 for v in verdicts if v.kind == "no_image_size")
        return RecordMetrics(
            index=index, dataset=dataset,
            key=duplicate_key({"image": sample.image, "question": sample.question}, dataset, sample.answer),
            format_ok=bool(result.ok), accuracy=r.get("accuracy"),
            grounding_iou=r.get("grounding_iou") if has_gt else None,
            matched_iou=r.get("matched_iou") if has_gt else None,
            f1_50=r.get("f1_50") if has_gt else None,
            n_boxes=n_boxes, n_bad_boxes=round(n_bad, 9), n_unsized_boxes=n_unsized)


def evaluate(path: Union[str, Path], config=None, *, box_format: Optional[str] = None,
             renames: Optional[Mapping[str, str]] = None, bootstrap: int = 0, seed: int = DEFAULT_SEED,
             dedupe: bool = True, accuracy: Optional[str] = None, binarize_judge: bool = False,
             progress: Optional[Callable[[int], None]] = None) -> EvalReport:
    """Evaluate a JSON Lines file of model outputs (see the module docs).

    Args:
        path: the file (GRIT's data schema plus ``output``).
        config: preset name, config path, dict or ``RewardConfig`` (see :class:`Evaluator`).
        box_format: the coordinate convention of every record (else each
            record's ``box_format``, else the config's, else absolute pixels).
        renames: column renames ``{file column: gritkit field}``.
        bootstrap: resamples for 95% confidence intervals (0: none).
        seed: the bootstrap seed.
        dedupe: count duplicates of one (dataset, image, question, answer) once.
        accuracy: force the accuracy reward (``"answer_match"`` or ``"judge"``).
        binarize_judge: use the judge's binarised value instead of its raw score.
        progress: called with the number of records done since the last call.

    Returns:
        An :class:`EvalReport`.

    Raises:
        DataError: the file cannot be read.
        ConfigError: the config, box format or a reward option is wrong.
    """
    evaluator = Evaluator(config, box_format=box_format, renames=renames, accuracy=accuracy,
                          binarize_judge=binarize_judge)
    errors: list[RecordError] = []

    def items():
        for line in read_records(path):
            if line.error:
                errors.append(RecordError(line.index, line.problem))
            yield line.index, line.record

    records = evaluator.evaluate_records(items(), errors, progress)
    errors.sort(key=lambda e: e.index)
    summary = summarize(records, bootstrap=bootstrap, seed=seed, dedupe=dedupe)
    return EvalReport(summary["datasets"], summary["overall"], records, errors, evaluator.notices,
                      evaluator.accuracy_reward, bootstrap, seed)

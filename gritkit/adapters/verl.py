"""gritkit rewards as a verl custom reward function.

verl (volcengine/verl, tested with 0.9.1) loads a function by module or file path.
Its reward loop (``RewardLoopManager``, the ``naive`` and ``gdpo`` reward
managers) calls it once per response, in executor threads of Ray actors::

    compute_score(data_source=, solution_str=, ground_truth=, extra_info=, **reward_kwargs)

and the legacy batch reward manager once per batch, with plural names::

    compute_score(data_sources=, solution_strs=, ground_truths=, extra_infos=, **reward_kwargs)

which gets a list of dicts back, one per response. Point verl at this module
(the YAML docs/training.md shows is the one the tests run)::

    reward:
      custom_reward_function:
        path: pkg://gritkit.adapters.verl
        name: compute_score
        reward_kwargs:
          config: grit              # a preset, a config file, or the config itself (a mapping)
          model_family: qwen2_5_vl  # or box_format: norm_1000; decides the coordinate frame
          max_pixels: 200704        # Qwen2.5-VL's processor budget used in the rollout

The returned dict's ``score`` is the weighted total (verl's ``rm_scores``); every
other key is one reward (verl's ``reward_extra_info``: validation metrics
``val-aux/<data_source>/<key>/mean@N``, rollout dumps, and the per-key inputs of
``algorithm.adv_estimator=gdpo``). Reward kwargs written inline in verl's YAML
arrive as OmegaConf ``DictConfig``/``ListConfig``; they are converted here.

Where the row's data comes from: ``ground_truth`` (the row's
``reward_model.ground_truth``) is the reference answer, or a dict / JSON object
string with GRIT's fields (``answer``, ``bboxs`` or ``boxes``, ``width``,
``height`` or ``size``); ``extra_info`` (a dict) may carry the same fields and the
``question``; ``data_source`` fills ``dataset`` when neither does. verl passes no
images, so put ``width``/``height`` in ``ground_truth`` or ``extra_info`` for the
geometric rewards.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from gritkit.adapters._common import box_format_for, cached_composer, normalize_family
from gritkit.errors import DataError
from gritkit.records import RecordReader, clean_text, finite_or_none, parse_ground_truth, to_plain

__all__ = ["compute_score", "score_record", "score_records", "DEFAULT_CONFIG_ENV", "NAN_NONE_VALUE_WARNING"]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_ENV = "GRITKIT_CONFIG"
"""Environment variable naming the config (preset or file) when ``reward_kwargs`` gives none."""


NAN_NONE_VALUE_WARNING = (
    "none_value is NaN: a reward that is not applicable to a row is reported as NaN. verl averages the extra "
    "keys with numpy (NaN metrics), and with algorithm.adv_estimator=gdpo one NaN in a key makes every "
    "advantage NaN. Keep the default none_value=0.0 for training; use NaN only to inspect rollout dumps.")
"""The warning given (once per process) when ``none_value`` is NaN."""

_warned_nan = False


def _warn_nan_none_value(none_value: float) -> None:
    global _warned_nan
    if not _warned_nan and isinstance(none_value, float) and math.isnan(none_value):
        _warned_nan = True
        warnings.warn(NAN_NONE_VALUE_WARNING, RuntimeWarning, stacklevel=3)


def _settings(config: Any, preset: Any, model_family: Any) -> tuple[Any, Optional[str]]:
    source = config or preset or os.environ.get(DEFAULT_CONFIG_ENV) or "grit"
    if isinstance(source, (Mapping, Sequence)) and not isinstance(source, str):
        source = to_plain(source)  # an OmegaConf DictConfig from verl's / EasyR1's YAML
    family = normalize_family(model_family or os.environ.get("GRITKIT_MODEL_FAMILY"))
    return source, (box_format_for(family) if family else None)


def score_records(texts: Sequence[Any], records: Sequence[Mapping[str, Any]], *, config: Any = None,
                  preset: Any = None, model_family: Any = None, box_format: Optional[str] = None,
                  min_pixels: Any = None, max_pixels: Any = None, columns: Any = None,
                  none_value: float = 0.0, total_key: str = "score",
                  where: Union[str, Sequence[str]] = "") -> list[dict[str, float]]:
    """Score responses against their rows in one batch; the shared core of verl and EasyR1.

    The rows become samples through :class:`gritkit.records.RecordReader`, and the
    whole batch is scored by one :meth:`gritkit.compose.Composer.values` call (each
    reward once per response, batched rewards once, async ones concurrently).

    Args:
        texts: the decoded responses (anything; garbage scores the floor).
        records: the rows in GRIT's schema (or as ``columns`` maps them).
        config, preset: the reward config; default ``$GRITKIT_CONFIG``, else ``"grit"``.
        model_family, box_format, min_pixels, max_pixels: the coordinate frame, as in
            :func:`gritkit.adapters.trl.to_trl` (also from ``$GRITKIT_MODEL_FAMILY`` /
            ``$GRITKIT_BOX_FORMAT``). For Qwen2.5-VL give the rollout processor's
            ``max_pixels`` (GRIT: 200704); without it the released processor's budget is assumed.
        columns: a column map (dict or ``ColumnMap``).
        none_value: what a "not applicable" (``None``) reward is reported as; trainers
            average these keys with numpy, where ``None`` or NaN would break the mean,
            and verl's GDPO normalises each key (a NaN makes every advantage NaN, so
            a NaN here is warned about once). The total already leaves such rewards out.
        total_key: the key of the total (``"score"`` for verl, ``"overall"`` for EasyR1).
        where: what the rows are, for error messages (one string, or one per row).

    Returns:
        One ``{total_key: total, reward_name: value, ...}`` per response, all floats.
    """
    _warn_nan_none_value(none_value)
    source, family_fmt = _settings(config, preset, model_family)
    cfg, composer = cached_composer(source)
    reader = RecordReader.from_config(
        cfg, columns=columns, box_format=box_format or os.environ.get("GRITKIT_BOX_FORMAT"),
        default_box_format=getattr(cfg, "box_format", None) or family_fmt,
        min_pixels=int(min_pixels) if min_pixels else getattr(cfg, "min_pixels", None),
        max_pixels=int(max_pixels) if max_pixels else getattr(cfg, "max_pixels", None))
    samples = []
    for i, record in enumerate(records):
        here = where if isinstance(where, str) else where[i]
        samples.append(reader.sample(record, fix=f"(in {here or 'a row'}; fix the row's ground_truth / "
                                                    "extra_info, or map its fields with reward_kwargs.columns)"))
    scores = composer.score_many([clean_text(t) for t in texts], samples)
    out = []
    for score in scores:
        row = {total_key: finite_or_none(score.total)}
        if row[total_key] is None:
            row[total_key] = 0.0
        for name, value in score.rewards.items():
            v = finite_or_none(value)
            row[name] = none_value if v is None else v
        out.append(row)
    return out


def score_record(text: Any, record: Mapping[str, Any], **kwargs: Any) -> dict[str, float]:
    """Score one response against one row: :func:`score_records` for a batch of one."""
    return score_records([text], [record], **kwargs)[0]


def compute_score(data_source: Any = None, solution_str: Any = None, ground_truth: Any = None,
                  extra_info: Any = None, *, data_sources: Any = None, solution_strs: Any = None,
                  ground_truths: Any = None, extra_infos: Any = None, config: Any = None, preset: Any = None,
                  model_family: Any = None, box_format: Optional[str] = None, min_pixels: Any = None,
                  max_pixels: Any = None, columns: Any = None, none_value: float = 0.0,
                  **kwargs: Any) -> Union[dict[str, float], list[dict[str, float]]]:
    """verl's custom reward function: score one response (or, called with plural names, a batch).

    Args:
        data_source: the row's data source (``data.reward_fn_key``); used as the
            ``dataset`` when the row carries none.
        solution_str: the decoded response.
        ground_truth: the row's ``reward_model.ground_truth``: the reference answer,
            or a dict / JSON object string with ``answer``, ``bboxs``/``boxes``,
            ``width``/``height``/``size``, ``dataset``.
        extra_info: the row's ``extra_info`` dict (same fields, plus ``question``).
        data_sources, solution_strs, ground_truths, extra_infos: the batch reward
            manager's call (``verl/workers/reward_manager/batch.py``): one list each;
            the result is then a list with one dict per response.
        config, preset, model_family, box_format, min_pixels, max_pixels, columns,
            none_value: from ``custom_reward_function.reward_kwargs``; see
            :func:`score_record`. Mappings and lists may be OmegaConf objects.
        **kwargs: anything else verl passes (``reward_router_address``, …); ignored.

    Returns:
        ``{"score": total, "<reward>": value, ...}``; a list of them for the plural call.

    Raises:
        DataError: a row whose fields the column map rejects, or plural lists of different lengths.

    Example:
        >>> config = {"rewards": [{"name": "format", "options": {"mode": "paper"}}, {"name": "count"}]}
        >>> compute_score("tallyqa", "<think>(1, 2, 30, 40)</think><rethink>ok</rethink><answer>1",
        ...               '{"answer": "1", "bboxs": [[0, 0, 30, 40]], "width": 64, "height": 64}',
        ...               {"question": "How many cats?", "index": 0}, config=config)
        {'score': 2.0, 'format': 1.5, 'count': 0.5}
        >>> compute_score(data_sources=["vsr"], solution_strs=["<answer>Yes"], ground_truths=["Yes"],
        ...               extra_infos=[{}], config={"rewards": [{"name": "answer_match"}]})
        [{'score': 1.0, 'answer_match': 1.0}]
    """
    if kwargs:
        logger.debug("gritkit verl compute_score ignores %s", sorted(kwargs))
    options = dict(config=config, preset=preset, model_family=model_family, box_format=box_format,
                   min_pixels=min_pixels, max_pixels=max_pixels, columns=columns, none_value=none_value)
    if solution_strs is not None:
        return _score_batch(data_sources, solution_strs, ground_truths, extra_infos, options)
    return _score_one(data_source, solution_str, ground_truth, extra_info, options)


def _record(data_source: Any, ground_truth: Any, extra_info: Any) -> dict[str, Any]:
    record = parse_ground_truth(to_plain(ground_truth))
    if isinstance(extra_info, Mapping):
        for key, value in to_plain(dict(extra_info)).items():
            record.setdefault(key, value)
    if data_source is not None and "dataset" not in record:
        record["dataset"] = str(to_plain(data_source))
    return record


def _score_one(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any,
               options: dict[str, Any]) -> dict[str, float]:
    return score_record(solution_str, _record(data_source, ground_truth, extra_info), total_key="score",
                        where=f"the verl row of {data_source!r}", **options)


def _score_batch(data_sources: Any, solution_strs: Any, ground_truths: Any, extra_infos: Any,
                 options: dict[str, Any]) -> list[dict[str, float]]:
    texts = list(solution_strs)
    n = len(texts)
    columns = {}
    for name, values in (("data_sources", data_sources), ("ground_truths", ground_truths),
                         ("extra_infos", extra_infos)):
        values = [None] * n if values is None else list(values)
        if len(values) != n:
            raise DataError(
                f"verl's batch call passed {n} solution_strs but {len(values)} {name}.\n"
                "Every list of the batch reward manager's call must have one entry per response; check "
                "the reward manager (verl/workers/reward_manager/batch.py) and the batch's non_tensor_batch.")
        columns[name] = values
    sources = columns["data_sources"]
    records = [_record(sources[i], columns["ground_truths"][i], columns["extra_infos"][i]) for i in range(n)]
    return score_records(texts, records, total_key="score",
                         where=[f"row {i} of verl's batch (data source {sources[i]!r})" for i in range(n)],
                         **options)

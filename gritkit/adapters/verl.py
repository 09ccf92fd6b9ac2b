"""gritkit rewards as a verl custom reward function.

verl (volcengine/verl) loads a function by file path and calls it once per
response (the default ``naive`` reward manager)::

    compute_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)

Point verl at this file::

    custom_reward_function:
      # python -c "import gritkit.adapters.verl as m; print(m.__file__)"
      path: <site-packages>/gritkit/adapters/verl.py
      name: compute_score
      reward_kwargs:
        config: grit              # a preset name or a config file; default: $GRITKIT_CONFIG, else "grit"
        model_family: qwen2_5_vl  # or box_format: norm_1000; decides the coordinate frame
        max_pixels: 200704        # Qwen2.5-VL's processor budget used in the rollout

The returned dict's ``score`` is the weighted total; every other key is one reward
(verl logs them as ``reward_extra_info``).

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
import os
from collections.abc import Mapping
from typing import Any, Optional, Sequence, Union

from gritkit.adapters._common import box_format_for, cached_composer, normalize_family
from gritkit.records import RecordReader, clean_text, finite_or_none, parse_ground_truth, to_plain

__all__ = ["compute_score", "score_record", "score_records", "DEFAULT_CONFIG_ENV"]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_ENV = "GRITKIT_CONFIG"
"""Environment variable naming the config (preset or file) when ``reward_kwargs`` gives none."""


def _settings(config: Any, preset: Any, model_family: Any) -> tuple[Any, Optional[str]]:
    source = config or preset or os.environ.get(DEFAULT_CONFIG_ENV) or "grit"
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
            average these keys with numpy, where ``None`` or NaN would break the mean.
            The total already leaves such rewards out.
        total_key: the key of the total (``"score"`` for verl, ``"overall"`` for EasyR1).
        where: what the rows are, for error messages (one string, or one per row).

    Returns:
        One ``{total_key: total, reward_name: value, ...}`` per response, all floats.
    """
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
        reader.fix = (f"(in {here or 'a row'}; fix the row's ground_truth / extra_info, or map its fields "
                      "with reward_kwargs.columns)")
        samples.append(reader.sample(record))
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
                  extra_info: Any = None, *, config: Any = None, preset: Any = None, model_family: Any = None,
                  box_format: Optional[str] = None, min_pixels: Any = None, max_pixels: Any = None,
                  columns: Any = None, none_value: float = 0.0, **kwargs: Any) -> dict[str, float]:
    """verl's custom reward function: score one response with a gritkit config.

    Args:
        data_source: the row's data source (``data.reward_fn_key``); used as the
            ``dataset`` when the row carries none.
        solution_str: the decoded response.
        ground_truth: the row's ``reward_model.ground_truth``: the reference answer,
            or a dict / JSON object string with ``answer``, ``bboxs``/``boxes``,
            ``width``/``height``/``size``, ``dataset``.
        extra_info: the row's ``extra_info`` dict (same fields, plus ``question``).
        config, preset, model_family, box_format, min_pixels, max_pixels, columns,
            none_value: from ``custom_reward_function.reward_kwargs``; see
            :func:`score_record`.
        **kwargs: anything else verl passes; ignored.

    Returns:
        ``{"score": total, "<reward>": value, ...}``.

    Example:
        >>> config = {"rewards": [{"name": "format", "options": {"mode": "paper"}}, {"name": "count"}]}
        >>> compute_score("tallyqa", "<think>(1, 2, 30, 40)</think><rethink>ok</rethink><answer>1",
        ...               '{"answer": "1", "bboxs": [[0, 0, 30, 40]], "width": 64, "height": 64}',
        ...               {"question": "How many cats?", "index": 0}, config=config)
        {'score': 2.0, 'format': 1.5, 'count': 0.5}
    """
    if kwargs:
        logger.debug("gritkit verl compute_score ignores %s", sorted(kwargs))
    record = parse_ground_truth(to_plain(ground_truth))
    if isinstance(extra_info, Mapping):
        for key, value in to_plain(dict(extra_info)).items():
            record.setdefault(key, value)
    if data_source is not None and "dataset" not in record:
        record["dataset"] = str(to_plain(data_source))
    return score_record(solution_str, record, config=config, preset=preset, model_family=model_family,
                        box_format=box_format, min_pixels=min_pixels, max_pixels=max_pixels, columns=columns,
                        none_value=none_value, total_key="score", where=f"the verl row of {data_source!r}")

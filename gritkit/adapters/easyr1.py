"""gritkit rewards as an EasyR1 reward function (batch calling; the sequential module is beside it).

EasyR1 (hiyouga/EasyR1) loads ``worker.reward.reward_function=<file.py>:<name>``
(default name ``main``) with importlib, binds ``reward_function_kwargs`` with
``functools.partial``, and picks how it calls the function from the module
constant ``REWARD_TYPE`` (its default ``"batch"``; it prints ``REWARD_NAME``).
The config key ``worker.reward.reward_type`` no longer exists (removed from EasyR1
in November 2025): the module decides. So there are two files:

* this one, ``REWARD_TYPE = "batch"``: ``fn(reward_inputs: list[dict]) -> list[dict]``;
* :mod:`gritkit.adapters.easyr1_sequential`, ``REWARD_TYPE = "sequential"``:
  ``fn(reward_input: dict) -> dict``.

The YAML (``examples/trainers/easyr1_grit.yaml``, the one the tests load)::

    worker:
      reward:
        # python -c "import gritkit.adapters.easyr1 as m; print(m.__file__)"
        reward_function: <site-packages>/gritkit/adapters/easyr1.py:compute_score
        reward_function_kwargs:
          config: grit               # a preset or config file; default $GRITKIT_CONFIG, else "grit"
          model_family: qwen2_5_vl   # or box_format: norm_1000
          max_pixels: 200704

Each input dict has ``response`` (str), ``response_length`` (int) and
``ground_truth`` (str), and nothing else (no ``data_source``, no image size: pack
those into ``ground_truth``); keys a later EasyR1 adds are read as extra row
fields. ``ground_truth`` is the reference answer, or a JSON object string with
GRIT's fields (``answer``, ``bboxs``/``boxes``, ``width``, ``height``/``size``,
``dataset``, ``question``). Each output dict has ``overall`` (the weighted total,
EasyR1's reward, placed on the last token) and one key per reward; EasyR1
averages every key and logs it as ``reward/<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from gritkit.adapters.verl import score_records
from gritkit.errors import DataError
from gritkit.records import parse_ground_truth, to_plain

__all__ = ["compute_score", "compute_score_one", "main", "REWARD_NAME", "REWARD_TYPE"]

REWARD_NAME = "gritkit"
"""The name EasyR1 prints for this reward function."""
REWARD_TYPE = "batch"
"""EasyR1 calls this module's function once per batch with a list of inputs."""

#: what to tell a user whose EasyR1 calls a function in the other style than it expects.
_CALL_STYLE_FIX = (
    "EasyR1 picks batch or sequential calling from the module constant REWARD_TYPE (the worker.reward.reward_type "
    "key was removed): use worker.reward.reward_function=<site-packages>/gritkit/adapters/easyr1.py:compute_score "
    "for batch calling, or .../gritkit/adapters/easyr1_sequential.py:compute_score for sequential calling.")

_RESERVED = ("response", "response_length", "ground_truth")


def _record(reward_input: Mapping[str, Any]) -> dict[str, Any]:
    record = parse_ground_truth(to_plain(reward_input.get("ground_truth")))
    for key, value in reward_input.items():
        if key not in _RESERVED:
            record.setdefault(key, to_plain(value))
    if "dataset" not in record and reward_input.get("data_source") is not None:
        record["dataset"] = str(reward_input["data_source"])
    return record


def compute_score_one(reward_input: Mapping[str, Any], *, config: Any = None, preset: Any = None,
                      model_family: Any = None, box_format: Optional[str] = None, min_pixels: Any = None,
                      max_pixels: Any = None, columns: Any = None, none_value: float = 0.0,
                      index: Optional[int] = None, **kwargs: Any) -> dict[str, float]:
    """Score one ``{"response", "response_length", "ground_truth"}`` (EasyR1's sequential call).

    EasyR1 calls it through :mod:`gritkit.adapters.easyr1_sequential` (whose
    ``REWARD_TYPE`` is ``"sequential"``). Keyword arguments are those of :func:`compute_score`.

    Example:
        >>> compute_score_one({"response": "<answer>Yes", "response_length": 3, "ground_truth": "Yes"},
        ...                   config={"rewards": [{"name": "answer_match"}]})
        {'overall': 1.0, 'answer_match': 1.0}
    """
    where = _where(reward_input, index)
    return score_records([reward_input.get("response")], [_record(reward_input)], config=config, preset=preset,
                         model_family=model_family, box_format=box_format, min_pixels=min_pixels,
                         max_pixels=max_pixels, columns=columns, none_value=none_value, total_key="overall",
                         where=where)[0]


def _where(reward_input: Any, index: Optional[int]) -> str:
    where = "the EasyR1 reward input" + (f" {index}" if index is not None else "")
    if not isinstance(reward_input, Mapping):
        raise DataError(
            f"{where} is a {type(reward_input).__name__}; expected a dict with 'response', 'response_length' "
            f"and 'ground_truth'.\n{_CALL_STYLE_FIX}")
    return where


def compute_score(reward_inputs: Any, *, config: Any = None, preset: Any = None, model_family: Any = None,
                  box_format: Optional[str] = None, min_pixels: Any = None, max_pixels: Any = None,
                  columns: Any = None, none_value: float = 0.0, **kwargs: Any) -> list[dict[str, float]]:
    """EasyR1's batch reward function: one output dict per input dict.

    Args:
        reward_inputs: a list of ``{"response", "response_length", "ground_truth", ...}``.
        config, preset: the reward config (default ``$GRITKIT_CONFIG``, else ``"grit"``).
        model_family, box_format, min_pixels, max_pixels: the coordinate frame
            (see :func:`gritkit.adapters.trl.to_trl`).
        columns: a column map for the ground-truth fields.
        none_value: how a "not applicable" reward is reported (EasyR1 averages
            every key with numpy); the total already leaves it out.
        **kwargs: anything else EasyR1 binds; ignored.

    Returns:
        ``[{"overall": total, "<reward>": value, ...}, ...]``.

    Example:
        >>> compute_score([{"response": "<think>a</think><answer>No", "response_length": 9,
        ...                 "ground_truth": '{"answer": "No", "dataset": "vsr"}'}],
        ...               config={"rewards": [{"name": "format", "options": {"mode": "paper"}},
        ...                                   {"name": "answer_match", "as": "answer"}]})
        [{'overall': 1.5, 'format': 0.5, 'answer': 1.0}]
    """
    if isinstance(reward_inputs, Mapping):
        raise DataError(
            "EasyR1 passed one dict to the batch reward function gritkit.adapters.easyr1:compute_score.\n"
            + _CALL_STYLE_FIX)
    inputs = list(reward_inputs)
    where = [_where(item, i) for i, item in enumerate(inputs)]
    return score_records([item.get("response") for item in inputs], [_record(item) for item in inputs],
                         config=config, preset=preset, model_family=model_family, box_format=box_format,
                         min_pixels=min_pixels, max_pixels=max_pixels, columns=columns,
                         none_value=none_value, total_key="overall", where=where)


main = compute_score
"""EasyR1's default function name (``reward_function=<file>`` without ``:name``)."""

"""What the trainer adapters share: model families, their coordinate frames, composers.

Turning a trainer's row into text and a :class:`~gritkit.models.Sample` is
:mod:`gritkit.records`' job. Nothing here imports a trainer, torch or transformers.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Optional

# ---------------------------------------------------------------------------
# Model families and coordinate frames
# ---------------------------------------------------------------------------

#: model type (``config.model_type``, normalised) → box convention it writes.
FAMILY_BOX_FORMATS: dict[str, str] = {
    "qwen2_5_vl": "qwen2_5_vl",
    "qwen2_vl": "norm_1000",
    "qwen3_vl": "norm_1000",
    "qwen3_vl_moe": "norm_1000",
    "internvl": "norm_1000",
    "internvl_chat": "norm_1000",
    "deepseek_vl2": "norm_999",
}

_ALIASES = {
    "qwen25vl": "qwen2_5_vl", "qwen2.5vl": "qwen2_5_vl", "qwen2.5-vl": "qwen2_5_vl",
    "qwen2vl": "qwen2_vl", "qwen2-vl": "qwen2_vl", "qwen3vl": "qwen3_vl", "qwen3-vl": "qwen3_vl",
    "internvl3": "internvl", "internvl2": "internvl", "internvl2_5": "internvl",
}


def normalize_family(family_or_id: Optional[str]) -> Optional[str]:
    """Map a family name, model type, class name or hub id to a model type.

    Examples:
        >>> normalize_family("Qwen/Qwen2.5-VL-3B-Instruct")
        'qwen2_5_vl'
        >>> normalize_family("Qwen2VLForConditionalGeneration")
        'qwen2_vl'
        >>> normalize_family("OpenGVLab/InternVL3-2B")
        'internvl'
        >>> normalize_family("HuggingFaceTB/SmolVLM-256M-Instruct")
        'smolvlm'
    """
    if not family_or_id:
        return None
    raw = str(family_or_id).strip().rstrip("/")
    name = raw.rsplit("/", 1)[-1].lower()
    key = name.replace("-", "_").replace(".", "_")
    if key in FAMILY_BOX_FORMATS:
        return key
    squashed = key.replace("_", "")
    for needle, family in (("qwen25vl", "qwen2_5_vl"), ("qwen2_5_vl", "qwen2_5_vl"),
                           ("qwen3vlmoe", "qwen3_vl_moe"), ("qwen3vl", "qwen3_vl"), ("qwen2vl", "qwen2_vl"),
                           ("internvl", "internvl"), ("smolvlm", "smolvlm"), ("idefics3", "idefics3"),
                           ("gemma3", "gemma3"), ("llavanext", "llava_next"), ("llavaonevision", "llava_onevision"),
                           ("llava", "llava"), ("deepseekvl2", "deepseek_vl2")):
        if needle in squashed or needle in key:
            return family
    return _ALIASES.get(name, key)


def family_of_model_dir(path: str) -> Optional[str]:
    """The ``model_type`` in ``path/config.json``, when ``path`` is a local model folder."""
    cfg = Path(path) / "config.json"
    if cfg.is_file():
        try:
            return json.loads(cfg.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError):
            return None
    return None


def infer_family(model_family: Any = None, processor: Any = None) -> Optional[str]:
    """The model type, from an explicit family / model id / model / config, else the processor's class."""
    if model_family is not None:
        if isinstance(model_family, (str, os.PathLike)):  # a family, a hub id, or a model folder (str or Path)
            model_family = os.fspath(model_family)
            return normalize_family(family_of_model_dir(model_family) or model_family)
        config = getattr(model_family, "config", model_family)
        model_type = getattr(config, "model_type", None)
        if model_type:
            return normalize_family(model_type)
        return normalize_family(type(model_family).__name__)
    if processor is not None:
        name = type(processor).__name__
        for family in ("qwen2_5_vl", "qwen2_vl", "qwen3_vl", "internvl", "smolvlm", "idefics3", "gemma3",
                       "llava_next", "llava"):
            if family.replace("_", "") in name.lower().replace("_", ""):
                return family
    return None


def box_format_for(family: Optional[str]) -> str:
    """The coordinate convention a family writes boxes in (``xyxy`` pixels when unknown).

    Examples:
        >>> box_format_for("qwen2_5_vl"), box_format_for("qwen2_vl"), box_format_for("llava")
        ('qwen2_5_vl', 'norm_1000', 'xyxy')
    """
    return FAMILY_BOX_FORMATS.get(family or "", "xyxy")


def pixels_from_processor(processor: Any) -> tuple[Optional[int], Optional[int]]:
    """``(min_pixels, max_pixels)`` of a Qwen-style processor or image processor, else ``(None, None)``."""
    if processor is None:
        return None, None
    ip = getattr(processor, "image_processor", processor)
    lo = getattr(ip, "min_pixels", None)
    hi = getattr(ip, "max_pixels", None)
    size = getattr(ip, "size", None)
    if isinstance(size, Mapping) or hasattr(size, "get"):
        try:
            lo = lo or size.get("shortest_edge") or size.get("min_pixels")
            hi = hi or size.get("longest_edge") or size.get("max_pixels")
        except Exception:  # an odd SizeDict
            pass
    try:
        return (int(lo) if lo else None), (int(hi) if hi else None)
    except (TypeError, ValueError):
        return None, None


# ---------------------------------------------------------------------------
# Config and composer
# ---------------------------------------------------------------------------

_COMPOSERS: "OrderedDict[str, tuple[Any, Any]]" = OrderedDict()
_COMPOSERS_LOCK = threading.Lock()


def load_composer(config_or_preset: Any) -> tuple[Any, Any]:
    """``(RewardConfig, Composer)`` for a preset name, path, dict or ``RewardConfig``, for training.

    A judge that does not set ``on_failure`` gets ``"none"``: in a training run one
    failed judge call leaves that completion's judge value out (the trainer's
    ``None``) and is counted (``grit/judge_failure_rate``), instead of ending the run.
    """
    from gritkit.builtin.judge import for_training
    from gritkit.compose import Composer
    from gritkit.config import load_config

    config = for_training(load_config(config_or_preset))
    return config, Composer(config)


def cached_composer(config_or_preset: Any) -> tuple[Any, Any]:
    """:func:`load_composer`, memoised for hashable sources (per-sample trainer hooks call it often)."""
    if isinstance(config_or_preset, (str, os.PathLike)):
        key = os.fspath(config_or_preset)
    elif isinstance(config_or_preset, Mapping):
        from gritkit.records import to_plain

        key = json.dumps(to_plain(config_or_preset), sort_keys=True, default=repr)
    else:
        return load_composer(config_or_preset)
    with _COMPOSERS_LOCK:
        hit = _COMPOSERS.get(key)
        if hit is not None:
            _COMPOSERS.move_to_end(key)
            return hit
    value = load_composer(config_or_preset)
    with _COMPOSERS_LOCK:
        _COMPOSERS[key] = value
        while len(_COMPOSERS) > 16:
            _COMPOSERS.popitem(last=False)
    return value

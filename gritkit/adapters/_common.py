"""What the trainer adapters share: config resolution, model families, text, images, samples.

Nothing here imports a trainer, torch or transformers. Every helper that reads
model output tolerates garbage (non-strings, invalid UTF-8, odd message shapes);
every helper that reads user input raises a :class:`~gritkit.errors.ConfigError`
or :class:`~gritkit.errors.DataError` that says what, where, and how to fix it.
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from gritkit.errors import ConfigError, DataError

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
        if isinstance(model_family, str):
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
    """``(RewardConfig, Composer)`` for a preset name, path, dict or ``RewardConfig``."""
    from gritkit.compose import Composer
    from gritkit.config import load_config

    config = load_config(config_or_preset)
    return config, Composer(config)


def cached_composer(config_or_preset: Any) -> tuple[Any, Any]:
    """:func:`load_composer`, memoised for hashable sources (per-sample trainer hooks call it often)."""
    if isinstance(config_or_preset, (str, os.PathLike)):
        key = os.fspath(config_or_preset)
    elif isinstance(config_or_preset, Mapping):
        key = json.dumps(config_or_preset, sort_keys=True, default=repr)
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


def column_map(columns: Any = None, config: Any = None) -> Any:
    """A :class:`gritkit.config.ColumnMap` from ``None`` (the config's, else GRIT's schema), a dict or a ColumnMap."""
    from gritkit.config import ColumnMap

    if columns is None:
        columns = getattr(config, "columns", None)
        if columns is None:
            return ColumnMap()
    if isinstance(columns, ColumnMap):
        return columns
    if isinstance(columns, Mapping):
        try:
            return ColumnMap.model_validate(dict(columns))
        except Exception as exc:
            raise ConfigError(
                f"Invalid column map {dict(columns)!r}: {exc}\n"
                f"Expected the fields of gritkit.config.ColumnMap: {', '.join(ColumnMap.model_fields)}.") from exc
    raise ConfigError(f"columns must be a dict or a gritkit.config.ColumnMap, not {type(columns).__name__}.")


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------

def clean_text(value: Any) -> str:
    """A valid-UTF-8 ``str`` for any value: lone surrogates become U+FFFD, bytes are decoded leniently."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8", "replace")
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return clean_text(str(value))


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or a list of blocks (text blocks joined)."""
    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, Mapping):
        return clean_text(content.get("text") or "")
    if isinstance(content, (list, tuple)):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type", "text") == "text" and block.get("text"):
                parts.append(str(block["text"]))
        return clean_text("".join(parts))
    return clean_text(content)


def completion_text(completion: Any) -> str:
    """The text of one TRL completion, standard (``str``) or conversational (list of messages).

    Conversational completions join the contents of their assistant messages (tool
    turns are skipped). Anything else becomes its string form; never raises.

    Examples:
        >>> completion_text("<answer>7")
        '<answer>7'
        >>> completion_text([{"role": "assistant", "content": "<answer>7"}])
        '<answer>7'
        >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "<answer>7"}]}])
        '<answer>7'
    """
    if isinstance(completion, str):
        return clean_text(completion)
    if isinstance(completion, Mapping):
        return content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        texts = [content_text(m.get("content")) for m in completion
                 if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"]
        if not texts and completion and not isinstance(completion[0], Mapping):
            return content_text(completion)
        return "".join(texts)
    return clean_text(completion)


def prompt_question(prompt: Any) -> Optional[str]:
    """The text of the last user message of a prompt (string or conversational), or ``None``."""
    if prompt is None:
        return None
    if isinstance(prompt, str):
        return clean_text(prompt)
    if isinstance(prompt, (list, tuple)):
        for message in reversed(prompt):
            if isinstance(message, Mapping) and message.get("role") == "user":
                return content_text(message.get("content"))
    return None


def finite_or_none(value: Any) -> Optional[float]:
    """``float(value)``, or ``None`` for ``None``/NaN/±inf/non-numbers (TRL turns ``None`` into "not applicable")."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------

_SIZES: "OrderedDict[str, Optional[tuple[int, int]]]" = OrderedDict()
_SIZES_LOCK = threading.Lock()


def _size_of_path(path: str) -> Optional[tuple[int, int]]:
    with _SIZES_LOCK:
        if path in _SIZES:
            return _SIZES[path]
    size = None
    try:
        from PIL import Image

        with Image.open(path) as im:  # reads the header only
            size = (int(im.width), int(im.height))
    except Exception:
        size = None
    with _SIZES_LOCK:
        _SIZES[path] = size
        while len(_SIZES) > 65536:
            _SIZES.popitem(last=False)
    return size


def image_size(value: Any, image_root: Optional[str] = None) -> Optional[tuple[int, int]]:
    """``(width, height)`` of an image column value, or ``None`` when it cannot be told.

    Accepts a PIL image, a path (relative paths resolve against ``image_root``),
    a dict (``width``/``height``, or ``bytes``/``path`` as ``datasets`` stores
    undecoded images), or a list of those (the first image; TRL's ``images``).
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return image_size(value[0], image_root) if value else None
    width, height = getattr(value, "width", None), getattr(value, "height", None)
    if isinstance(width, int) and isinstance(height, int) and not isinstance(value, Mapping):
        return (width, height) if width > 0 and height > 0 else None
    if isinstance(value, Mapping):
        w, h = value.get("width"), value.get("height")
        if w and h:
            try:
                return int(w), int(h)
            except (TypeError, ValueError):
                pass
        data = value.get("bytes")
        if data:
            try:
                from PIL import Image

                with Image.open(io.BytesIO(data)) as im:
                    return int(im.width), int(im.height)
            except Exception:
                pass
        return image_size(value.get("path"), image_root) if value.get("path") else None
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if image_root and not os.path.isabs(path):
            path = os.path.join(image_root, path)
        return _size_of_path(path)
    return None


# ---------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------

#: registered reward name → the Sample field it cannot work without (checked against the columns).
REQUIRED_FIELDS: dict[str, str] = {
    "answer_match": "answer", "judge": "answer", "bleu": "answer", "count": "answer", "iou": "gt_boxes",
}


def required_fields(components: Iterable[Any]) -> dict[str, list[str]]:
    """Sample field → the components that need it (built-in rewards only; see :data:`REQUIRED_FIELDS`)."""
    out: dict[str, list[str]] = {}
    for comp in components:
        if getattr(comp, "skip_reason", None):
            continue
        field = REQUIRED_FIELDS.get(getattr(comp, "reward", None) or getattr(comp, "__name__", ""))
        if field:
            out.setdefault(field, []).append(getattr(comp, "__name__", "?"))
    return out


def check_columns(present: Iterable[str], cmap: Any, needed: Mapping[str, list[str]], *, where: str,
                  fix: str) -> None:
    """Raise :class:`DataError` when a field some reward needs has none of its columns present."""
    present = set(present)
    for field, users in needed.items():
        columns = tuple(getattr(cmap, field, ()) or ())
        if columns and not present.intersection(columns):
            raise DataError(
                f"The reward(s) {', '.join(map(repr, users))} need the sample's {field!r}, but {where} has "
                f"none of its columns ({', '.join(map(repr, columns))}).\n"
                f"Columns present: {', '.join(sorted(present)) or '(none)'}.\n{fix}")


def build_sample(record: Mapping[str, Any], cmap: Any, *, box_format: Optional[str] = None,
                 default_box_format: Optional[str] = None, min_pixels: Optional[int] = None,
                 max_pixels: Optional[int] = None, completion_ids: Any = None, question: Optional[str] = None,
                 image_root: Optional[str] = None, index: Optional[int] = None, fix: str = "") -> Any:
    """Build one :class:`~gritkit.models.Sample` from a row (column name → value).

    The column map turns the row into a ``Sample`` (``ColumnMap.to_sample``); then
    what the row leaves open is filled in: the image size from the ``image`` /
    ``images`` column (a PIL image, a path, or a dict), the coordinate
    convention (``box_format`` argument > the row's own ``box_format`` >
    ``default_box_format``), the pixel budget (the row's, else ``min_pixels`` /
    ``max_pixels``), the completion's token ids and the question.

    Raises:
        DataError: when the column map rejects the row (with ``fix`` appended).
    """
    from gritkit.models import ImageSize

    try:
        sample = cmap.to_sample(dict(record), default_box_format=default_box_format,
                                default_min_pixels=min_pixels, default_max_pixels=max_pixels, index=index)
    except DataError as exc:
        raise DataError(f"{exc}\n{fix}" if fix else str(exc)) from exc
    update: dict[str, Any] = {}
    if sample.image_size is None:
        for key in ("image", "images"):
            if record.get(key) is not None:
                size = image_size(record[key], image_root)
                if size is not None:
                    update["image_size"] = ImageSize(width=size[0], height=size[1])
                break
    if box_format and box_format != sample.box_format:
        update["box_format"] = box_format
    if completion_ids is not None and sample.completion_ids is None:
        try:
            update["completion_ids"] = tuple(map(int, completion_ids))
        except (TypeError, ValueError):
            pass
    if question and sample.question is None:
        update["question"] = question
    return sample.model_copy(update=update) if update else sample


def parse_ground_truth(ground_truth: Any) -> dict[str, Any]:
    """A row dict from a trainer's ``ground_truth``: a dict, a JSON object string, or a plain answer.

    Examples:
        >>> parse_ground_truth("7")
        {'answer': '7'}
        >>> parse_ground_truth('{"answer": "Yes", "bboxs": [[0, 0, 5, 5]], "width": 10, "height": 10}')["width"]
        10
        >>> parse_ground_truth({"answer": 3})
        {'answer': 3}
    """
    if ground_truth is None:
        return {}
    if isinstance(ground_truth, Mapping):
        return _gt_aliases(dict(ground_truth))
    if isinstance(ground_truth, (bytes, bytearray)):
        ground_truth = bytes(ground_truth).decode("utf-8", "replace")
    if isinstance(ground_truth, str):
        text = ground_truth.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if isinstance(value, dict):
                return _gt_aliases(value)
        return {"answer": ground_truth}
    if isinstance(ground_truth, (int, float)) and not isinstance(ground_truth, bool):
        return {"answer": ground_truth}
    if hasattr(ground_truth, "tolist"):  # numpy scalars / arrays from parquet
        return parse_ground_truth(ground_truth.tolist())
    return {"answer": str(ground_truth)}


def _gt_aliases(value: dict) -> dict:
    # Common spellings in verl/EasyR1 data: boxes / size → GRIT's bboxs / width, height.
    out = dict(value)
    if "boxes" in out and "bboxs" not in out and "gt_boxes" not in out:
        out["bboxs"] = out.pop("boxes")
    size = out.pop("size", None) if "width" not in out else None
    if isinstance(size, (list, tuple)) and len(size) == 2:
        out["width"], out["height"] = size
    elif isinstance(size, Mapping):
        out.setdefault("width", size.get("width"))
        out.setdefault("height", size.get("height"))
    return out


def to_plain(value: Any) -> Any:
    """numpy arrays/scalars (parquet rows in verl) → lists/Python numbers, recursively."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        try:
            return value.tolist()
        except Exception:
            return value
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value

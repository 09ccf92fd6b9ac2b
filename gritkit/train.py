"""GRPO training of a Hugging Face image-text-to-text model with gritkit rewards, GRIT's way.

:func:`train` reads a dataset in GRIT's schema (JSON Lines: ``question``,
``answer``, ``image``, ``width``, ``height``, ``bboxs``, ``dataset``; images in a
folder), builds GRIT's prompt (the question plus GRIT's exact instruction suffix,
with the image before the text), turns a preset or reward config into TRL reward
functions (:func:`gritkit.adapters.trl.to_trl`), and runs TRL's ``GRPOTrainer``
with GRIT's defaults: learning rate 2e-6 (cosine), KL beta 0.01, 4 generations
per prompt, 1000-token completions, temperature 0.9. bf16 on a GPU, fp32 on a
CPU; LoRA through peft and vLLM generation are options.

``gritkit train`` is the command-line front end (see ``gritkit train --help``).

Example:
    >>> from gritkit.train import train  # doctest: +SKIP
    >>> run = train("Qwen/Qwen2.5-VL-3B-Instruct", "data/vsr_cot_train_10.jsonl", "data/images",
    ...             preset="grit", output_dir="runs/grit-qwen", max_steps=200)  # doctest: +SKIP
    >>> run.reward_means["format"][-1]  # doctest: +SKIP

    A tiny random model, offline on a CPU, to check the wiring:

    >>> run = train(None, "examples/data/train.jsonl", "examples/data/images", tiny="qwen2_5_vl",
    ...             output_dir="/tmp/grit-demo", max_steps=2)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from gritkit.errors import ConfigError, DataError

__all__ = ["GRIT_PROMPT_SUFFIX", "GRIT_DEFAULTS", "TrainResult", "grit_prompt", "load_grit_records",
           "build_dataset", "train", "reward_means", "format_reward_table", "TINY_NOTICE"]

GRIT_PROMPT_SUFFIX = (
    " First, think between <think> and </think> while output necessary coordinates needed to answer the "
    "question in JSON with key 'bbox_2d'. Then, based on the thinking contents and coordinates, rethink "
    "between <rethink> </rethink> and then answer the question after <answer>.\n"
)
"""GRIT's instruction suffix for grounded reasoning (setting ``…add_grounded_reasoning…_think_rethink``), exact."""

GRIT_DEFAULTS: dict[str, Any] = {
    "learning_rate": 2e-6,
    "lr_scheduler_type": "cosine",
    "beta": 0.01,
    "num_generations": 4,
    "max_completion_length": 1000,
    "temperature": 0.9,
    "top_p": 1.0,
    "min_pixels": 3136,
    "max_pixels": 200704,
}
"""GRIT's training settings (official scripts): what :func:`train` uses unless told otherwise."""

#: ``max_completion_length`` with ``tiny=...`` (a random model never stops; 1000 tokens on a CPU is slow).
TINY_MAX_COMPLETION_LENGTH = 32

TINY_NOTICE = (
    "NOTE: this model is a tiny RANDOMLY INITIALISED {family} built offline by gritkit.tiny; "
    "its completions are noise and its rewards mean nothing.\n"
    "      This run only proves the wiring: GRIT data -> processor -> generation -> gritkit rewards -> "
    "GRPO update."
)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        trainer: the ``GRPOTrainer`` (its ``model``, ``state.log_history``, ...).
        output_dir: where checkpoints, logs and the final model went.
        model: the model path or id that was trained.
        reward_names: the reward functions' names, in order.
        reward_weights: their weights.
        log_history: the trainer's log entries.
        reward_means: reward name → its logged batch mean at each logged step.
        random_model: the model was a tiny random one (``tiny=...``).
        seconds: wall time of ``trainer.train()``.
    """

    trainer: Any
    output_dir: Path
    model: str
    reward_names: list[str]
    reward_weights: list[float]
    log_history: list[dict] = field(default_factory=list)
    reward_means: dict[str, list[float]] = field(default_factory=dict)
    random_model: bool = False
    seconds: float = 0.0


def grit_prompt(question: str, suffix: str = GRIT_PROMPT_SUFFIX) -> list[dict]:
    """The conversational prompt GRIT trains with: the image, then ``"\\nQuestion: " + question + suffix``.

    Example:
        >>> p = grit_prompt("Is the truck beneath the cat?")
        >>> p[0]["content"][0], p[0]["content"][1]["text"][:41]
        ({'type': 'image'}, '\\nQuestion: Is the truck beneath the cat? ')
    """
    return [{"role": "user", "content": [{"type": "image"},
                                         {"type": "text", "text": f"\nQuestion: {question}{suffix}"}]}]


def load_grit_records(path: Union[str, os.PathLike], *, limit: Optional[int] = None) -> list[dict]:
    """Read a JSON Lines file in GRIT's schema; a bad line is a :class:`DataError` naming it.

    Blank lines are skipped. Each record needs ``question`` and ``image``;
    ``answer``, ``bboxs``, ``width``, ``height`` and ``dataset`` are what the
    rewards use.
    """
    from gritkit.io import read_jsonl

    path = Path(path)
    if not path.is_file():
        raise DataError(f"The training data file {str(path)!r} does not exist (looked at {path.resolve()}).\n"
                        "Pass --data FILE.jsonl with one JSON object per line in GRIT's schema.")
    records = []
    for line in read_jsonl(path):
        if line.record is None:
            if "blank line" in (line.error or ""):
                continue
            raise DataError(f"{path}: {line.error}.\nEvery line must be one JSON object in GRIT's schema, e.g. "
                            '{"question": "...", "answer": "Yes", "image": "x.jpg", "width": 640, '
                            '"height": 480, "bboxs": [[x1, y1, x2, y2]], "dataset": "vsr"}.')
        rec = line.record
        for key in ("question", "image"):
            if not isinstance(rec.get(key), str) or not rec.get(key):
                raise DataError(f"{path}, line {line.line}: the record has no {key!r} string "
                                f"(keys: {', '.join(sorted(rec)) or 'none'}).\n"
                                "A training record needs at least 'question' and 'image' (a path in --images).")
        records.append(rec)
        if limit is not None and len(records) >= limit:
            break
    if not records:
        raise DataError(f"{path} holds no records.")
    return records


def _open_image(path: Path, where: str):
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"{where}: the image {str(path)!r} does not exist.\n"
                        "Pass --images DIR, the folder that the records' 'image' paths are relative to.") from None
    except Exception as exc:
        raise DataError(f"{where}: cannot read the image {str(path)!r}: {exc}") from exc


def build_dataset(records: Sequence[dict], images: Optional[Union[str, os.PathLike]], *,
                  prompt_suffix: str = GRIT_PROMPT_SUFFIX, source: str = "the data"):
    """A ``datasets.Dataset`` TRL's GRPOTrainer can train on, from GRIT-schema records.

    Columns: ``prompt`` (conversational, image block first), ``image`` (the PIL
    image at its original size), ``question``, ``answer`` (text, as GRIT's
    ``gt_answer``), ``bboxs``, ``width``, ``height``, ``dataset``, ``image_path``,
    and every other scalar field of the records (as text when types vary).
    """
    from datasets import Dataset

    root = Path(images) if images else None
    if root is not None and not root.is_dir():
        raise DataError(f"The image folder {str(root)!r} does not exist (looked at {root.resolve()}).")
    rows = []
    for i, rec in enumerate(records):
        where = f"{source}, record {i + 1}"
        rel = Path(rec["image"])
        path = rel if rel.is_absolute() or root is None else root / rel
        image = _open_image(path, where)
        row = {
            "prompt": grit_prompt(str(rec["question"]), prompt_suffix),
            "image": image,
            "question": str(rec["question"]),
            "answer": None if rec.get("answer", rec.get("gt_answer")) is None
            else str(rec.get("answer", rec.get("gt_answer"))),
            "bboxs": [[float(v) for v in box] for box in (rec.get("bboxs") or rec.get("gt_boxes") or [])],
            "width": int(rec.get("width") or image.width),
            "height": int(rec.get("height") or image.height),
            "dataset": str(rec.get("dataset") or ""),
            "image_path": str(rec["image"]),
        }
        for key, value in rec.items():
            if key not in row and key not in ("gt_answer", "gt_boxes", "prompt"):
                row[key] = value
        rows.append(row)
    _unify_extra_columns(rows)
    return Dataset.from_list(rows)


def _unify_extra_columns(rows: list[dict]) -> None:
    # Arrow needs one type per column: extra fields whose types differ become JSON text.
    fixed = {"prompt", "image", "question", "answer", "bboxs", "width", "height", "dataset", "image_path"}
    keys = {k for row in rows for k in row} - fixed
    for key in keys:
        kinds = {type(row.get(key)) for row in rows} - {type(None)}
        if len(kinds) > 1 or kinds & {dict, list}:
            for row in rows:
                v = row.get(key)
                row[key] = v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for row in rows:
            row.setdefault(key, None)


def reward_means(log_history: Sequence[dict]) -> dict[str, list[float]]:
    """Reward name → its logged batch mean at each logged step (``rewards/<name>/mean``)."""
    out: dict[str, list[float]] = {}
    for entry in log_history:
        for key, value in entry.items():
            if key.startswith("rewards/") and key.endswith("/mean"):
                out.setdefault(key[len("rewards/"):-len("/mean")], []).append(
                    float("nan") if value is None else float(value))
    return out


def format_reward_table(log_history: Sequence[dict], names: Sequence[str], weights: Sequence[float]) -> str:
    """A plain-text table of each reward's logged mean per step, plus the total and the parse-error rate."""
    steps = [e for e in log_history if any(k.startswith("rewards/") for k in e)]
    if not steps:
        return "(no reward was logged)"
    # With combine=True the components are logged through log_metric as grit/<name>.
    parts = sorted({k for e in steps for k in e if k.startswith("grit/") and k != "grit/parse_error_rate"})
    cols = (["step"] + [f"{n} (x{w:g})" for n, w in zip(names, weights)]
            + [f"{k[len('grit/'):]} (part)" for k in parts] + ["reward"])
    has_rate = any("grit/parse_error_rate" in e for e in steps)
    if has_rate:
        cols.append("parse errors")
    lines = []
    for e in steps:
        cells = [str(e.get("step", "?"))]
        for n in names:
            v = e.get(f"rewards/{n}/mean")
            cells.append(_num(v))
        cells.extend(_num(e.get(k)) for k in parts)
        cells.append(_num(e.get("reward")))
        if has_rate:
            rate = e.get("grit/parse_error_rate")
            cells.append("n/a" if rate is None else f"{rate:.0%}")
        lines.append(cells)
    widths = [max(len(c), *(len(row[i]) for row in lines)) for i, c in enumerate(cols)]
    fmt = "  ".join("{:>%d}" % w for w in widths)
    return "\n".join([fmt.format(*cols), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in lines])


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}"


def _family_of(model: str) -> Optional[str]:
    from gritkit.adapters._common import family_of_model_dir, normalize_family

    return normalize_family(family_of_model_dir(model) or model)


def _precision() -> dict[str, Any]:
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"use_cpu": False, "bf16": bf16, "fp16": not bf16,
                "model_init_kwargs": {"dtype": "bfloat16" if bf16 else "float16"}}
    return {"use_cpu": True, "bf16": False, "fp16": False, "model_init_kwargs": {"dtype": "float32"}}


def _peft_config(lora_r: int, lora_alpha: int, lora_dropout: float, target_modules: Optional[Sequence[str]]):
    if importlib.util.find_spec("peft") is None:
        raise ConfigError("LoRA needs peft: pip install peft (or gritkit[train]).")
    from peft import LoraConfig

    targets = list(target_modules) if target_modules else ["q_proj", "k_proj", "v_proj", "o_proj"]
    if targets == ["all-linear"]:
        targets = "all-linear"
    return LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=targets,
                      task_type="CAUSAL_LM")


def _truthy_env(*names: str) -> bool:
    return any(os.environ.get(n, "").strip().upper() in ("1", "ON", "YES", "TRUE") for n in names)


def _looks_like_path(model: str) -> bool:
    # a hub id is "name" or "owner/name"; anything else (./x, /x, ~/x, a/b/c, x/) is a folder
    return (model.startswith((".", "/", "~", os.sep)) or model.endswith(("/", os.sep))
            or model.count("/") > 1 or (os.sep != "/" and os.sep in model))


def check_model(model: str) -> None:
    """Fail early, with the fix, when ``model`` cannot be loaded: a folder that does not
    exist, or (offline, ``HF_HUB_OFFLINE=1``) a hub id that is not in the local cache.

    Raises:
        ConfigError: the model cannot be found; the message says how to get it.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return
    if path.exists() or _looks_like_path(model):
        what = "is a file, not a model folder" if path.exists() else "does not exist"
        raise ConfigError(f"The model folder {model!r} {what} (looked at {path.resolve()}).\n"
                          "Pass --model with a local model folder or a Hugging Face hub id "
                          "(e.g. Qwen/Qwen2.5-VL-3B-Instruct), or --tiny qwen2_5_vl for a tiny random model.")
    offline = _truthy_env("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return
    offline = offline or bool(getattr(constants, "HF_HUB_OFFLINE", False))
    if not offline:
        return
    try:
        cached = try_to_load_from_cache(model, "config.json")
    except Exception:  # an id the hub library refuses (bad characters): the loader says why
        cached = None
    if not isinstance(cached, str):
        raise ConfigError(
            f"The model {model!r} is not a local folder and is not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}), and the hub is offline (HF_HUB_OFFLINE=1).\n"
            f"Fix: download it once while online (`hf download {model}`, or run without "
            "HF_HUB_OFFLINE), or pass --model with a local model folder, or --tiny qwen2_5_vl for a tiny "
            "random model.")


def _check_numbers(**values: Any) -> None:
    """Each ``name=(value, minimum, flag, why)``: ``value`` is ``None`` (the default) or at least ``minimum``."""
    for name, (value, minimum, flag, why) in values.items():
        if value is not None and value < minimum:
            raise ConfigError(f"{name} must be at least {minimum} (got {value}){why}.\n"
                              f"Pass {flag} {max(minimum, 1)} or more, or leave it out for the default.")


def _load_error(model: str, exc: BaseException) -> ConfigError:
    return ConfigError(f"Cannot load the model {model!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}\n"
                       "Check the folder or hub id (and the network, or the Hugging Face cache when offline); "
                       "`hf download ID` fetches a hub model once.")


def train(model: Optional[Union[str, os.PathLike]], data: Union[str, os.PathLike, Sequence[dict]],
          images: Optional[Union[str, os.PathLike]] = None, *, preset: Optional[str] = None, config: Any = None,
          output_dir: Union[str, os.PathLike] = "gritkit-grpo", max_steps: int = -1,
          num_train_epochs: float = 1.0, learning_rate: Optional[float] = None, beta: Optional[float] = None,
          num_generations: Optional[int] = None, max_completion_length: Optional[int] = None,
          temperature: Optional[float] = None, per_device_train_batch_size: Optional[int] = None,
          gradient_accumulation_steps: int = 1, lora: bool = False, lora_r: int = 16, lora_alpha: int = 32,
          lora_dropout: float = 0.05, lora_target_modules: Optional[Sequence[str]] = None,
          use_vllm: bool = False, vllm_mode: str = "colocate", min_pixels: Optional[int] = None,
          max_pixels: Optional[int] = None, box_format: Optional[str] = None, combine: bool = False,
          tiny: Optional[str] = None, seed: int = 0, logging_steps: int = 1, save_steps: int = 0,
          save_final: Optional[bool] = None, report_to: str = "none", log_completions: bool = False,
          limit: Optional[int] = None, prompt_suffix: str = GRIT_PROMPT_SUFFIX, processor: Any = None,
          grpo_kwargs: Optional[dict] = None, callbacks: Optional[list] = None,
          print_fn: Optional[Callable[[str], None]] = print) -> TrainResult:
    """GRPO-train ``model`` on GRIT-schema data with gritkit rewards.

    Args:
        model: a local model folder or hub id of an image-text-to-text model (any
            family TRL supports). ``None`` with ``tiny``.
        data: a JSON Lines file in GRIT's schema, or the records themselves.
        images: the folder the records' ``image`` paths are relative to.
        preset, config: the rewards: a preset name (default ``"grit"``) or a config
            (file path, dict, ``RewardConfig``). Give one.
        output_dir: where logs, checkpoints and the final model go (and the tiny model).
        max_steps: optimiser steps (``-1``: ``num_train_epochs`` epochs).
        num_train_epochs: epochs when ``max_steps`` is ``-1``.
        learning_rate, beta, num_generations, max_completion_length, temperature:
            default to GRIT's (:data:`GRIT_DEFAULTS`).
        per_device_train_batch_size: completions per device per step (default
            ``num_generations``: one prompt per device per step).
        gradient_accumulation_steps: as in transformers.
        lora, lora_r, lora_alpha, lora_dropout, lora_target_modules: train LoRA
            adapters through peft instead of the full model.
        use_vllm, vllm_mode: generate with vLLM (``"colocate"`` or ``"server"``).
        min_pixels, max_pixels: the Qwen processor's pixel budget (GRIT: 3136 and
            200,704); also the frame Qwen2.5-VL's boxes are read in.
        box_format: override the coordinate convention the rewards assume.
        combine: log one summed reward instead of one per component.
        tiny: build a tiny random model of this family (``qwen2_5_vl``, ``qwen2_vl``,
            ``llava``) into ``output_dir`` and train it (proves the wiring only).
        seed: the random seed.
        logging_steps: log every N steps.
        save_steps: also save a checkpoint every N steps (0: none).
        save_final: save the final model to ``output_dir`` (default: yes, except tiny).
        report_to: ``"none"``, ``"wandb"``, ``"tensorboard"``, ...
        log_completions: print and save TRL's completions table.
        limit: use only the first N records.
        prompt_suffix: the instruction appended to each question.
        processor: a processor object to use instead of loading one.
        grpo_kwargs: more ``GRPOConfig`` fields (they win over everything above).
        callbacks: transformers ``TrainerCallback`` objects.
        print_fn: where progress lines go (``None``: silent).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError: inconsistent settings (both preset and config, a number out
            of range, batch sizes, a missing optional dependency), or a model that
            cannot be found (a missing folder; offline, a hub id not in the cache).
        DataError: unreadable data or images.

    Arguments, the data file, the image folder and every image are checked before
    any model is built or loaded.
    """
    say = print_fn or (lambda _msg: None)
    if preset and config:
        raise ConfigError("Give either a preset or a config, not both.")
    if tiny is not None and model is not None:
        raise ConfigError("Give either a model or tiny=FAMILY, not both.")
    if tiny is None and model is None:
        raise ConfigError("No model: pass a local folder or hub id (--model), or tiny='qwen2_5_vl' (--tiny).")
    _check_numbers(
        num_generations=(num_generations, 2, "--num-generations",
                         ": GRPO compares each prompt's completions with each other"),
        per_device_train_batch_size=(per_device_train_batch_size, 1, "--batch-size", ""),
        gradient_accumulation_steps=(gradient_accumulation_steps, 1, "--grad-accum", ""),
        max_completion_length=(max_completion_length, 1, "--max-completion-length", ""),
        limit=(limit, 1, "--limit", ""), save_steps=(save_steps, 0, "--save-steps", ""),
        logging_steps=(logging_steps, 1, "logging_steps", ""))
    if max_steps == 0 or max_steps < -1:
        raise ConfigError(f"max_steps must be a positive number of steps, or -1 for epochs (got {max_steps}).\n"
                          "Pass --max-steps N with N >= 1, or leave it out to train --epochs epochs.")
    if max_steps == -1 and not num_train_epochs > 0:
        raise ConfigError(f"num_train_epochs must be above 0 (got {num_train_epochs}).\nPass --epochs 1 (or more).")
    if temperature is not None and not temperature > 0:
        raise ConfigError(f"temperature must be above 0 (got {temperature}); GRPO samples its completions.\n"
                          "Pass --temperature 0.9 (GRIT's), or leave it out.")
    reward_source = config or preset or "grit"
    random_model = tiny is not None
    output_dir = Path(output_dir)
    grpo_kwargs = dict(grpo_kwargs or {})

    num_generations = num_generations or GRIT_DEFAULTS["num_generations"]
    per_device_train_batch_size = per_device_train_batch_size or num_generations
    if (per_device_train_batch_size * gradient_accumulation_steps) % num_generations:
        raise ConfigError(
            f"per_device_train_batch_size x gradient_accumulation_steps = "
            f"{per_device_train_batch_size} x {gradient_accumulation_steps} is not a multiple of "
            f"num_generations ({num_generations}); each prompt's {num_generations} completions must fit in "
            f"one generation batch. Use a batch size of {num_generations} (or a multiple).")
    if use_vllm and importlib.util.find_spec("vllm") is None:
        raise ConfigError("use_vllm needs vLLM on a CUDA machine: pip install vllm (or drop --use-vllm).")
    if model is not None:
        model = os.fspath(model)
        check_model(model)

    # Data: the file, the image folder and every image, before any model is built or loaded
    records = load_grit_records(data, limit=limit) if isinstance(data, (str, os.PathLike)) else list(data)[:limit]
    dataset = build_dataset(records, images, prompt_suffix=prompt_suffix, source=str(data)
                            if isinstance(data, (str, os.PathLike)) else "the records")
    say(f"Dataset: {len(dataset)} prompts from {data if isinstance(data, (str, os.PathLike)) else 'records'}.")
    output_dir.mkdir(parents=True, exist_ok=True)

    if tiny is not None:
        from gritkit.tiny import make_tiny_vlm

        family = tiny.replace("-", "_").replace(".", "_").lower()
        model_path = output_dir / f"tiny-{family}-random"
        say(TINY_NOTICE.format(family=family))
        make_tiny_vlm(family, model_path, seed=seed)
        model = str(model_path)
        say(f"Built the tiny random {family} model in {model_path}.")
    assert model is not None
    family = _family_of(model)
    if not random_model:
        from gritkit.tiny import is_tiny_random

        if is_tiny_random(model):
            random_model = True
            say(TINY_NOTICE.format(family=family))

    if max_completion_length is None:
        max_completion_length = TINY_MAX_COMPLETION_LENGTH if random_model else GRIT_DEFAULTS["max_completion_length"]

    # Processor
    if processor is None:
        from gritkit.tiny import load_processor

        pixel_kwargs = {}
        if not random_model and family in ("qwen2_5_vl", "qwen2_vl"):
            pixel_kwargs = {"size": {"shortest_edge": min_pixels or GRIT_DEFAULTS["min_pixels"],
                                     "longest_edge": max_pixels or GRIT_DEFAULTS["max_pixels"]}}
        try:
            processor = load_processor(model, **pixel_kwargs)
        except OSError as exc:  # not found online, a broken folder, no network
            raise _load_error(model, exc) from exc

    # Rewards
    from gritkit.adapters.trl import to_trl

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reward_funcs, reward_weights = to_trl(reward_source, combine=combine, model_family=family or model,
                                              processor=processor, box_format=box_format,
                                              image_root=os.fspath(images) if images else None)
    for w in caught:  # e.g. "the judge has no endpoint; answer_match stands in": say it plainly
        if print_fn is not None and type(w.message).__name__ == "FallbackNotice":
            say(f"Note: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    names = [f.__name__ for f in reward_funcs]
    say(f"Rewards ({reward_source}): " + ", ".join(f"{n} x{w:g}" for n, w in zip(names, reward_weights)))

    # Trainer
    from trl import GRPOConfig, GRPOTrainer

    precision = _precision()
    settings: dict[str, Any] = dict(
        output_dir=str(output_dir), max_steps=max_steps, num_train_epochs=num_train_epochs,
        learning_rate=learning_rate if learning_rate is not None else GRIT_DEFAULTS["learning_rate"],
        lr_scheduler_type=GRIT_DEFAULTS["lr_scheduler_type"],
        beta=beta if beta is not None else GRIT_DEFAULTS["beta"],
        num_generations=num_generations, max_completion_length=max_completion_length,
        temperature=temperature if temperature is not None else GRIT_DEFAULTS["temperature"],
        top_p=GRIT_DEFAULTS["top_p"], per_device_train_batch_size=per_device_train_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps, reward_weights=reward_weights,
        logging_steps=logging_steps, save_strategy="steps" if save_steps else "no",
        report_to=report_to, log_completions=log_completions, seed=seed, dataloader_num_workers=0,
        use_vllm=use_vllm, **precision)
    # transformers >= 5.x renamed gradient_checkpointing (TRL's GRPO default: on) to activation_checkpointing.
    ckpt = "activation_checkpointing" if "activation_checkpointing" in GRPOConfig.__dataclass_fields__ \
        else "gradient_checkpointing"
    settings[ckpt] = not random_model  # a tiny model needs no memory saving; checkpointing only slows it
    if save_steps:
        settings["save_steps"] = save_steps
    if use_vllm:
        settings["vllm_mode"] = vllm_mode
    if ckpt == "activation_checkpointing":
        for old_name, new_name in (("gradient_checkpointing", "activation_checkpointing"),
                                   ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs")):
            if old_name in grpo_kwargs:  # the deprecated name would lose to the new one set above
                grpo_kwargs.setdefault(new_name, grpo_kwargs.pop(old_name))
    settings.update(grpo_kwargs)
    try:
        args = GRPOConfig(**settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Invalid GRPO settings: {exc}") from exc
    peft_config = _peft_config(lora_r, lora_alpha, lora_dropout, lora_target_modules) if lora else None
    try:
        trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=reward_funcs, args=args,
                              train_dataset=dataset, peft_config=peft_config, callbacks=callbacks)
    except OSError as exc:  # the weights: missing from the folder or the cache, or no network
        raise _load_error(model, exc) from exc
    device = "CPU (fp32)" if precision["use_cpu"] else f"GPU ({'bf16' if precision['bf16'] else 'fp16'})"
    say(f"Training {model} on {device}: {max_steps if max_steps > 0 else num_train_epochs} "
        f"{'steps' if max_steps > 0 else 'epochs'}, {num_generations} generations x "
        f"{max_completion_length} tokens, lr {args.learning_rate:g}, beta {args.beta:g}"
        f"{', LoRA' if lora else ''}{', vLLM' if use_vllm else ''}.")
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    if save_final if save_final is not None else not random_model:
        trainer.save_model(str(output_dir))
        say(f"Saved the model to {output_dir}.")
    history = list(trainer.state.log_history)
    result = TrainResult(trainer=trainer, output_dir=output_dir, model=model, reward_names=names,
                         reward_weights=list(reward_weights), log_history=history,
                         reward_means=reward_means(history), random_model=random_model, seconds=seconds)
    say(f"Trained {trainer.state.global_step} step(s) in {seconds:.1f} s. Logged reward means:")
    say(format_reward_table(history, names, reward_weights))
    if random_model:
        say("Reminder: the model is random; these numbers only show that every reward was computed and logged.")
    return result


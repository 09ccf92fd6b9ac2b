"""The supervised warm start, in plain PyTorch.

GRPO needs a policy whose samples already differ in reward: a random model never
writes a box, so every group would score the same and learn nothing. The warm
start teaches the format and rough localisation in two phases (AdamW, linear
warm-up then cosine decay per phase, loss on the completion tokens only):

1. ``steps_clean`` steps on the true boxes, the first ``locate_first`` of them on
   the ``locate`` task alone (a curriculum: on both tasks from the start the model
   had not learned to use the image after 300 steps, on ``locate`` alone it had
   by step 400);
2. ``steps_noisy`` steps where, with probability ``noise``, the target writes a
   distractor's box instead of a red square's.

The second phase leaves a model that knows the format and localises squares but
often boxes the wrong one: the flaw GRPO with a box reward can fix (the reference
experiment found GRPO could *not* improve a clean warm start's precision).

Batches draw fresh images every step (``random.Random(seed + step)``), half of
each task. ``torch.set_num_threads(1)`` is the caller's business (see
:func:`gritkit.learning.experiment.run_experiment`).
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from gritkit.learning.tasks import TASKS, make_example, target_text


@dataclass(frozen=True)
class WarmStartConfig:
    """Settings of :func:`warm_start` (the defaults are the full experiment's)."""

    steps_clean: int = 500
    locate_first: int = 300
    steps_noisy: int = 200
    lr_clean: float = 1e-3
    lr_noisy: float = 5e-4
    noise: float = 0.5
    batch_size: int = 32
    warmup: int = 20
    seed: int = 0
    tasks: tuple[str, ...] = TASKS

    def key(self) -> str:
        """A short name for the cache folder, unique to these settings."""
        import hashlib
        import json

        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def prompt_text(processor, question: str) -> str:
    """The chat-templated prompt string for ``question`` (GRIT's prompt layout, no suffix)."""
    from gritkit.train import grit_prompt

    return processor.apply_chat_template(grit_prompt(question, ""), add_generation_prompt=True, tokenize=False)


def sft_batch(processor, batch: Sequence[dict], targets: Sequence[str]) -> dict:
    """Model inputs for ``batch`` with ``targets`` as completions: left-padded prompts, right-padded
    completions ending in EOS, labels on the completion only, positions from the attention mask."""
    import torch

    tok = processor.tokenizer
    enc = processor(images=[ex["image"] for ex in batch], text=[prompt_text(processor, ex["question"])
                                                                   for ex in batch],
                    padding=True, return_tensors="pt")
    comp = [tok(t, add_special_tokens=False).input_ids + [tok.eos_token_id] for t in targets]
    width = max(map(len, comp))
    pad = tok.pad_token_id
    comp_ids = torch.tensor([c + [pad] * (width - len(c)) for c in comp])
    comp_mask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in comp])
    input_ids = torch.cat([enc["input_ids"], comp_ids], dim=1)
    attention = torch.cat([enc["attention_mask"], comp_mask], dim=1)
    labels = torch.full_like(input_ids, -100)
    labels[:, enc["input_ids"].shape[1]:] = torch.where(comp_mask.bool(), comp_ids, torch.full_like(comp_ids, -100))
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": input_ids, "attention_mask": attention, "pixel_values": enc["pixel_values"],
            "labels": labels, "position_ids": positions}


def _noisy_boxes(ex: dict, rng: random.Random) -> list:
    boxes = [list(b) for b in ex["bboxs"]]
    if ex["distractors"]:
        boxes[rng.randrange(len(boxes))] = list(rng.choice(ex["distractors"]))
    return sorted(boxes) if ex["dataset"] == "count" else boxes


def _lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def warm_start(model, processor, config: WarmStartConfig = WarmStartConfig(), *,
               log: Optional[Callable[[str], None]] = None, log_every: int = 50) -> list[dict]:
    """Train ``model`` in place; returns the loss history (``{"phase", "step", "loss", "seconds"}``)."""
    import torch

    say = log or (lambda _m: None)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr_clean, weight_decay=0.0)
    history = []
    start = time.perf_counter()
    step_global = 0
    for phase, steps, peak in (("clean", config.steps_clean, config.lr_clean),
                               ("noisy", config.steps_noisy, config.lr_noisy)):
        running = []
        for step in range(steps):
            rng = random.Random(config.seed * 1_000_003 + step_global)
            tasks = ("locate",) if phase == "clean" and step < config.locate_first else config.tasks
            batch = [make_example(tasks[i % len(tasks)], rng, index=i) for i in range(config.batch_size)]
            if phase == "noisy":
                targets = [target_text(ex, _noisy_boxes(ex, rng)) if rng.random() < config.noise
                           else target_text(ex) for ex in batch]
            else:
                targets = [target_text(ex) for ex in batch]
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, steps, peak, config.warmup)
            loss = model(**sft_batch(processor, batch, targets)).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            running.append(loss.item())
            step_global += 1
            if (step + 1) % log_every == 0 or step + 1 == steps:
                entry = {"phase": phase, "step": step + 1, "loss": sum(running) / len(running),
                         "seconds": time.perf_counter() - start}
                history.append(entry)
                say(f"warm start {phase} {step + 1}/{steps}: loss {entry['loss']:.3f} "
                    f"({entry['seconds']:.0f} s)")
                running = []
    model.eval()
    return history


def cached_warm_start(cache_dir: Union[str, os.PathLike], config: WarmStartConfig = WarmStartConfig(), *,
                      log: Optional[Callable[[str], None]] = None, rebuild: bool = False) -> tuple[Path, dict]:
    """The warm-started model folder for ``config``, trained and saved on first use, reused after.

    Returns:
        ``(folder, info)``; ``info`` has ``cached`` (bool), ``seconds`` and ``history``.
    """
    import json

    from gritkit.learning.model import build_model

    folder = Path(cache_dir) / f"warmstart-{config.key()}"
    info_path = folder / "warmstart.json"
    if info_path.is_file() and not rebuild:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        info["cached"] = True
        return folder, info
    start = time.perf_counter()
    _, model, processor = build_model(folder, seed=config.seed)
    history = warm_start(model, processor, config, log=log)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    info = {"config": asdict(config), "seconds": time.perf_counter() - start, "history": history}
    info_path.write_text(json.dumps(info, indent=1), encoding="utf-8")
    info["cached"] = False
    return folder, info

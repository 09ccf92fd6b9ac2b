"""One GRPO arm: TRL's ``GRPOTrainer`` with gritkit rewards from :func:`gritkit.adapters.trl.to_trl`.

The recipe (from the reference CPU experiment): learning rate 1e-4, constant
after 5 warm-up steps, no KL (``beta`` 0), 8 generations per prompt, 4 prompts
per step (32 completions), temperature 1.0, top-p 1.0, ``loss_type="dapo"``,
``scale_rewards="group"``. GRIT's learning rate (2e-6) moves nothing at these
step counts.

Every arm also logs ``true_iou`` (weight 0): Hungarian IoU against the *true*
boxes, so the control's training curve is measured against the truth too.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional, Sequence

from gritkit.learning.designs import PROBE, is_control, reward_config
from gritkit.learning.tasks import TASKS, examples


@dataclass(frozen=True)
class GRPOSettings:
    """GRPO settings of one arm run (defaults: the experiment's recipe)."""

    steps: int = 40
    learning_rate: float = 1e-4
    warmup_steps: int = 5
    num_generations: int = 8
    prompts_per_step: int = 4
    temperature: float = 1.0
    max_completion_length: int = 48
    train_prompts: int = 512
    tasks: tuple[str, ...] = TASKS


def train_rows(n: int, seed: int, *, tasks: Sequence[str] = TASKS, shuffle_truth: bool = False) -> list[dict]:
    """GRPO training rows (TRL's columns) from fresh examples; ``shuffle_truth`` permutes the
    ground truth (boxes and answer together) across rows, keeping ``true_bboxs``."""
    from gritkit.train import grit_prompt

    exs = examples(n, seed=10_000 + seed, tasks=tasks)
    truth = [(ex["bboxs"], ex["answer"]) for ex in exs]
    if shuffle_truth:
        random.Random(seed).shuffle(truth)
    rows = []
    for ex, (boxes, answer) in zip(exs, truth):
        rows.append({"prompt": grit_prompt(ex["question"], ""), "image": ex["image"], "question": ex["question"],
                     "answer": answer, "bboxs": [[float(v) for v in b] for b in boxes],
                     "true_bboxs": [[float(v) for v in b] for b in ex["bboxs"]],
                     "width": ex["width"], "height": ex["height"], "dataset": ex["dataset"]})
    return rows


def reward_functions(arm: str, processor) -> tuple[list, list[float]]:
    """The arm's TRL reward functions and weights, plus the weight-0 ``true_iou`` probe."""
    import warnings

    from gritkit.adapters.trl import to_trl
    from gritkit.learning.rewards import register

    register()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the grit preset's "no judge endpoint" notice
        funcs, weights = to_trl(reward_config(arm), model_family="llava", processor=processor)
        probe, probe_w = to_trl(PROBE, model_family="llava", processor=processor,
                                columns={"gt_boxes": "true_bboxs"})
    return funcs + probe, list(weights) + list(probe_w)


def run_arm(arm: str, seed: int, model, processor, settings: GRPOSettings = GRPOSettings(), *,
            log: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    """Train ``model`` in place with ``arm``'s rewards; returns ``{"curve", "seconds", "reward_names"}``.

    ``curve`` is one entry per step: ``step``, ``reward`` (the weighted total),
    each reward's batch mean, ``frac_reward_zero_std``.
    """
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    say = log or (lambda _m: None)
    funcs, weights = reward_functions(arm, processor)
    rows = train_rows(settings.train_prompts, seed, tasks=settings.tasks, shuffle_truth=is_control(arm))
    dataset = Dataset.from_list(rows)
    with tempfile.TemporaryDirectory(prefix="gritkit-learn-") as tmp:
        args = GRPOConfig(
            output_dir=tmp, max_steps=settings.steps, learning_rate=settings.learning_rate,
            lr_scheduler_type="constant_with_warmup", warmup_steps=settings.warmup_steps, beta=0.0,
            num_generations=settings.num_generations,
            per_device_train_batch_size=settings.num_generations * settings.prompts_per_step,
            temperature=settings.temperature, top_p=1.0, max_completion_length=settings.max_completion_length,
            loss_type="dapo", scale_rewards="group", reward_weights=weights, logging_steps=1,
            save_strategy="no", report_to="none", use_cpu=True, bf16=False, fp16=False, seed=seed,
            data_seed=seed, dataloader_num_workers=0, activation_checkpointing=False, disable_tqdm=True,
            log_completions=False)
        trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=funcs, args=args,
                              train_dataset=dataset)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # the per-step dicts; the curve is returned instead
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    names = [f.__name__ for f in funcs]
    curve = []
    for entry in trainer.state.log_history:
        if "reward" not in entry:
            continue
        point = {"step": entry.get("step"), "reward": entry.get("reward"),
                 "frac_reward_zero_std": entry.get("frac_reward_zero_std")}
        for n in names:
            point[n] = entry.get(f"rewards/{n}/mean")
        curve.append(point)
    last = curve[-1] if curve else {}
    say(f"  {arm} seed {seed}: {settings.steps} GRPO steps in {seconds:.0f} s; last reward "
        f"{last.get('reward', float('nan')):.3f}, true IoU {last.get('true_iou') or float('nan'):.3f}")
    model.eval()
    return {"curve": curve, "seconds": seconds, "reward_names": names, "settings": asdict(settings)}

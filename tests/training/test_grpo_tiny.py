"""End to end: TRL's GRPOTrainer runs 2 steps on tiny random VLMs of six families with gritkit rewards.

Each run goes through :func:`gritkit.train.train` (the ``gritkit train`` entry
point): GRIT-schema JSON Lines + images → GRIT prompt → processor → generation →
gritkit rewards (one TRL reward function per component) → GRPO update.
"""

from __future__ import annotations

import math
import pickle

import pytest

from _training_data import RECORDS, TRAIN_CONFIG

from gritkit.adapters._common import pixels_from_processor

# transformers' own deprecation notices, raised inside TRL.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

FAMILIES = {
    # family: (box convention its rewards must use, name fragment of its vision tower's parameters)
    "qwen2_5_vl": ("qwen2_5_vl", "visual"),
    "qwen2_vl": ("norm_1000", "visual"),
    "qwen3_vl": ("norm_1000", "visual"),
    "internvl": ("norm_1000", "vision_tower"),
    "llava": ("xyxy", "vision_tower"),
    "gemma3": ("xyxy", "vision_tower"),
}
COMPONENTS = [r.get("as", r["name"]) for r in TRAIN_CONFIG["rewards"]]

#: A known box: ground truth (2, 20, 30, 40) in a 100×50 image, as each frame writes it.
KNOWN_BOX = {
    "xyxy": (2, 20, 30, 40),                 # original pixels
    "norm_1000": (20, 400, 300, 800),        # 0..1000 of the image
    # pixels of the image as the tiny processor resizes it (smart_resize, 28·28·4 px budget): 56×28
    "qwen2_5_vl": (1.12, 11.2, 16.8, 22.4),
}


@pytest.fixture(scope="module")
def trainer_runs():
    return {}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_grpo_two_steps(family, tiny_model, grit_data, probe_composer, probe_seen, trainer_runs):
    import torch
    from transformers import AutoModelForImageTextToText

    from gritkit.train import train

    folder = tiny_model(family)
    data, images = grit_data
    run = train(folder, data, images, config=probe_composer, output_dir=folder.parent / "run", max_steps=2,
                num_generations=4, max_completion_length=16, learning_rate=1e-3, save_final=False,
                print_fn=None, seed=0)
    trainer = run.trainer
    trainer_runs[family] = run

    # Two optimiser steps, every component logged under its own name, plus the parse-error rate.
    assert trainer.state.global_step == 2
    keys = {k for entry in run.log_history for k in entry}
    for name in COMPONENTS:
        assert f"rewards/{name}/mean" in keys, (name, sorted(keys))
    assert "grit/parse_error_rate" in keys
    assert run.reward_names == COMPONENTS
    assert run.reward_weights == [r.get("weight", 1.0) for r in TRAIN_CONFIG["rewards"]]
    means = run.reward_means["completion_chars"]
    assert means and all(math.isfinite(m) and m > 0 for m in means)

    # The dataset's columns reached the rewards, in the family's coordinate frame.
    expected_fmt, vision = FAMILIES[family]
    assert len(probe_seen) == 2 * 4  # 2 steps x 1 prompt x 4 generations
    records = {q: (str(a), d, size) for q, a, d, size, _ in RECORDS}
    for seen in probe_seen:
        answer, dataset, size = records[seen["question"]]
        assert seen["answer"] == answer and seen["dataset"] == dataset and seen["image_size"] == size
        assert seen["box_format"] == expected_fmt
        assert seen["has_ids"]
        assert {"image", "image_path", "split"} <= set(seen["extra"])
        if family == "qwen2_5_vl":  # Qwen2.5-VL's frame is the processor's resized image
            assert (seen["min_pixels"], seen["max_pixels"]) == pixels_from_processor(trainer.processing_class)
            assert seen["max_pixels"] == 28 * 28 * 4

    # The trainer's own iou reward reads a known box in the family's frame, and only there.
    iou = next(f for f in trainer.reward_funcs if f.__name__ == "iou")
    frames = [expected_fmt] + [f for f in KNOWN_BOX if f != expected_fmt]
    texts = [f"<think>the car {KNOWN_BOX[f]}</think><rethink>one car</rethink><answer>1</answer>" for f in frames]
    scores = iou(prompts=[[{"role": "user", "content": "How many cars?"}]] * len(texts),
                 completions=[[{"role": "assistant", "content": t}] for t in texts],
                 completion_ids=[[1, 2]] * len(texts), trainer_state=trainer.state, log_extra=lambda *a: None,
                 log_metric=lambda *a: None, answer=["1"] * len(texts), bboxs=[[[2.0, 20.0, 30.0, 40.0]]] * len(texts),
                 width=[100] * len(texts), height=[50] * len(texts), dataset=["tallyqa"] * len(texts),
                 question=["How many cars?"] * len(texts))
    assert scores[0] == pytest.approx(1.0), (family, expected_fmt, scores)
    assert all(s < 0.9 for s in scores[1:]), (family, list(zip(frames, scores)))

    # Weights moved, the vision tower's included (images went through the encoder and got gradients).
    initial = AutoModelForImageTextToText.from_pretrained(folder)
    before = dict(initial.named_parameters())
    after = dict(trainer.model.named_parameters())
    assert set(before) == set(after)
    changed = {n for n in after if not torch.equal(after[n].detach().cpu(), before[n].detach())}
    vision_params = [n for n in after if vision in n]
    vision_changed = [n for n in vision_params if n in changed]
    assert len(changed) >= 0.9 * len(after), sorted(set(after) - changed)
    assert vision_params and len(vision_changed) >= 0.9 * len(vision_params), \
        sorted(set(vision_params) - changed)


def test_reward_functions_survive_pickle(trainer_runs, probe_seen):
    if not trainer_runs:
        pytest.skip("no trainer run in this session")
    run = next(iter(trainer_runs.values()))
    funcs = run.trainer.reward_funcs
    copies = pickle.loads(pickle.dumps(funcs))
    assert [f.__name__ for f in copies] == [f.__name__ for f in funcs] == COMPONENTS
    batch = dict(
        prompts=[[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many?"}]}]] * 2,
        completions=[[{"role": "assistant", "content": "<think>cars (2, 20, 30, 40)</think>"
                                                       "<rethink>one</rethink><answer>1</answer>"}],
                     [{"role": "assistant", "content": "\ufffd<thi garbage"}]],
        completion_ids=[[1, 2, 3], [4]], trainer_state=None, log_extra=lambda *a: None,
        log_metric=lambda *a: None, answer=["1", "Yes"], bboxs=[[[2.0, 20.0, 30.0, 40.0]], []],
        width=[100, 80], height=[50, 60], dataset=["tallyqa", "vsr"], question=["How many?", "Is it?"])
    for original, copy in zip(funcs, copies):
        assert original(**batch) == copy(**batch)


def test_lora_and_combined_reward(tiny_model, grit_data, probe_composer):
    """LoRA through peft, with every component summed into one TRL reward (``combine=True``)."""
    import torch
    from peft import PeftModel

    from gritkit.train import format_reward_table, train

    folder = tiny_model("qwen2_vl")
    data, images = grit_data
    before = {}
    run = train(folder, data, images, config=probe_composer, output_dir=folder.parent / "lora-run", max_steps=2,
                max_completion_length=8, learning_rate=1e-2, lora=True, lora_r=4, combine=True,
                save_final=False, print_fn=None,
                callbacks=[_Snapshot(before)])
    model = run.trainer.model
    assert isinstance(model, PeftModel)
    assert run.reward_names == ["gritkit"] and run.reward_weights == [1.0]
    keys = {k for entry in run.log_history for k in entry}
    assert "rewards/gritkit/mean" in keys and {f"grit/{n}" for n in COMPONENTS} <= keys
    lora = {n: p for n, p in model.named_parameters() if "lora_" in n}
    assert lora and all(p.requires_grad for p in lora.values())
    assert all(not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)
    changed = [n for n, p in lora.items() if not torch.equal(p.detach(), before[n])]
    assert len(changed) >= 0.9 * len(lora)
    assert "completion_chars (part)" in format_reward_table(run.log_history, run.reward_names, run.reward_weights)


class _Snapshot:
    """A TrainerCallback that copies the trainable parameters when training starts."""

    def __init__(self, into: dict):
        self.into = into

    def __getattr__(self, name):  # every other callback event: do nothing
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.into.update({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})

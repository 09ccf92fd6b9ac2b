"""The grounding experiment (gritkit.learning): exact tasks, the anti-hedging reward, the
statistics, an end-to-end run in the results schema, the GPU recipe on a tiny model, and
a check that GRPO with the real ground truth learns where the shuffled control does not.

Everything is offline, CPU-only and seeded. The learning test starts from a committed
warm start (tests/fixtures/learning-warmstart, rebuilt by
``python -m gritkit.learning.fixture``).
"""

from __future__ import annotations

import json
import random
import runpy
import sys
from pathlib import Path

import pytest

import gritkit
from gritkit.learning import tasks
from gritkit.learning.rewards import center_iou_reward
from gritkit.models import Sample

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "learning-warmstart"


# --------------------------------------------------------------------------- tasks
def test_heldout_is_fixed_by_seed():
    a, b = tasks.heldout(5), tasks.heldout(5)
    assert [(r["answer"], r["bboxs"], r["distractors"]) for r in a] == \
           [(r["answer"], r["bboxs"], r["distractors"]) for r in b]
    assert a[0]["image"].tobytes() == b[0]["image"].tobytes()
    assert [r["dataset"] for r in a] == ["locate"] * 5 + ["count"] * 5
    other = tasks.heldout(5, seed=tasks.HELDOUT_SEED + 1)
    assert [r["bboxs"] for r in other] != [r["bboxs"] for r in a]


@pytest.mark.parametrize("task", tasks.TASKS)
def test_examples_have_exact_ground_truth(task):
    from gritkit.compose import Composer
    from gritkit.records import RecordReader

    composer = Composer({"rewards": [{"name": "format", "options": {"mode": "paper"}},
                                     {"name": "iou", "options": {"method": "hungarian"}},
                                     {"name": "answer_match"}, {"name": "count"}]})
    rng = random.Random(3)
    for i in range(40):
        ex = tasks.make_example(task, rng, index=i)
        px = ex["image"].load()
        boxes = ex["bboxs"] + ex["distractors"]
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            assert 0 <= x1 < x2 <= ex["width"] and 0 <= y1 < y2 <= ex["height"]
            colour = px[x1, y1]
            assert (colour == tasks.RED) == (k < len(ex["bboxs"]))
            assert px[x2 - 1, y2 - 1] == colour  # the box is exactly the square
        n_red = sum(1 for x in range(ex["width"]) for y in range(ex["height"]) if px[x, y] == tasks.RED)
        assert n_red == sum((b[2] - b[0]) * (b[3] - b[1]) for b in ex["bboxs"])
        if task == "locate":
            cx = (ex["bboxs"][0][0] + ex["bboxs"][0][2]) / 2
            assert ex["answer"] == ("left" if cx < ex["width"] / 2 else "right")
        else:
            assert ex["answer"] == str(len(ex["bboxs"])) and 1 <= len(ex["bboxs"]) <= 3
        score = composer.score(tasks.target_text(ex), RecordReader().sample(ex))
        assert score.rewards["format"] == 1.5 and score.rewards["iou"] == 1.0
        assert score.rewards["answer_match"] == 1.0
        assert score.rewards["count"] == (0.5 if task == "count" else None)


def test_tokenizer_writes_numbers_digit_by_digit():
    from gritkit.learning.model import build_tokenizer

    tok = build_tokenizer()
    assert tok.tokenize("(12,40,21,55)") == ["(", "1", "2", ",", "4", "0", ",", "2", "1", ",", "5", "5", ")"]
    assert tok.decode(tok("<think>(1,2,3,4)</think>").input_ids, skip_special_tokens=True) == "<think>(1,2,3,4)</think>"


# --------------------------------------------------------------------------- rewards and statistics
@pytest.mark.parametrize("boxes, expected", [
    ("(10,10,20,20)", 1.0),                    # committed and right
    ("(12,12,22,22)", pytest.approx(64 / 136)),  # right object, imprecise: its IoU
    ("(0,0,56,56)", 0.0),                      # the hedge: centre outside the red square
    ("(30,30,40,40)", 0.0),                    # the wrong object
    ("(10,10,20,20)(30,30,40,40)", 0.5),        # an extra box is an unmatched prediction
    ("", 0.0),                                 # no box
])
def test_center_iou_pays_committed_boxes_only(boxes, expected):
    result = gritkit.try_parse(f"<think>{boxes}</think><rethink></rethink><answer>left</answer>")
    assert center_iou_reward(result, Sample(gt_boxes=[(10, 10, 20, 20)])) == expected


def test_center_iou_is_a_registered_reward():
    from gritkit.compose import Composer
    from gritkit.learning.rewards import register

    register()
    register()  # idempotent
    score = Composer({"rewards": [{"name": "center_iou"}]}).score(
        "<think>(10,10,20,20)</think>", Sample(gt_boxes=[(10, 10, 20, 20)]))
    assert score.rewards["center_iou"] == 1.0


def test_wrong_object_counts_boxes_on_distractors():
    from gritkit.learning.evaluation import wrong_object_counts

    sample = Sample(gt_boxes=[(10, 10, 20, 20)])
    result = gritkit.try_parse("<think>(30,30,40,40)(11,11,20,20)(0,40,5,45)</think>")
    assert wrong_object_counts(result, sample, [(30, 30, 40, 40)]) == (1, 3)


def test_standard_errors_and_comparisons():
    from gritkit.learning.experiment import compare, mean_se

    assert mean_se([1.0, 2.0, 3.0]) == (2.0, pytest.approx(1 / 3 ** 0.5))
    assert mean_se([0.5]) == (0.5, 0.0) and mean_se([None]) == (None, None)
    up = compare([0.5, 0.6, 0.7], [0.1, 0.2, 0.1], paired=False, lower_is_better=False)
    assert up["diff"] == pytest.approx(0.4667, abs=1e-3) and up["beats_2se"]
    noisy = compare([0.5, 0.1, 0.9], [0.4, 0.5, 0.3], paired=False, lower_is_better=False)
    assert not noisy["beats_2se"]
    drop = compare([0.1, 0.1], [0.3, 0.32], paired=True, lower_is_better=True)
    assert drop["diff"] == pytest.approx(0.21) and drop["beats_2se"]


# --------------------------------------------------------------------------- end to end
torch_needed = pytest.mark.skipif(
    any(__import__("importlib").util.find_spec(m) is None for m in ("torch", "trl", "matplotlib")),
    reason="needs gritkit[train,report]")


@torch_needed
def test_experiment_runs_end_to_end_and_writes_the_schema(tmp_path):
    from gritkit.learning.experiment import ExperimentConfig, run_experiment
    from gritkit.learning.grpo import GRPOSettings
    from gritkit.learning.warmstart import WarmStartConfig

    config = ExperimentConfig(arms=("real", "control", "grit", "center_iou"), seeds=(0,),
                              grpo=GRPOSettings(steps=2, train_prompts=16, max_completion_length=16),
                              warm=WarmStartConfig(steps_clean=6, locate_first=3, steps_noisy=2, batch_size=4),
                              heldout_per_task=3, max_new_tokens=16, jobs=1)
    run_experiment(tmp_path / "out", config, cache_dir=tmp_path / "cache", log=None)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert list(results) == ["runs"]
    assert [(r["arm"], r["seed"], r["steps"]) for r in results["runs"]] == \
           [("real", 0, 2), ("control", 0, 2), ("grit", 0, 2), ("center_iou", 0, 2)]
    keys = ["iou_sampled", "iou_greedy", "accuracy", "wrong_object", "format_rate"]
    for run in results["runs"]:
        assert sorted(run) == ["after", "arm", "before", "seed", "steps"]
        for phase in ("before", "after"):
            assert list(run[phase]) == keys
            assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in run[phase].values())
    for name in ("summary.md", "details.json", "learning_curves.png", "before_after.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "| real |" in (tmp_path / "out" / "summary.md").read_text()
    details = json.loads((tmp_path / "out" / "details.json").read_text())
    assert all(len(r["curve"]) == 2 and "true_iou" in r["curve"][0] for r in details["runs"])
    # the cache is reused on the second run
    from gritkit.learning.warmstart import cached_warm_start

    assert cached_warm_start(tmp_path / "cache", config.warm)[1]["cached"] is True


@torch_needed
def test_gpu_recipe_runs_end_to_end_on_cpu_with_a_tiny_model(tmp_path, monkeypatch, capsys):
    out = tmp_path / "recipe"
    monkeypatch.setattr(sys, "argv", [
        "grit_gpu_recipe.py", "--tiny", "qwen2_5_vl", "--data", str(ROOT / "examples/data/train.jsonl"),
        "--images", str(ROOT / "examples/data/images"), "--eval-data", str(ROOT / "examples/data/train.jsonl"),
        "--eval-limit", "3", "--max-steps", "1", "--max-new-tokens", "8", "--out", str(out)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(ROOT / "examples/grit_gpu_recipe.py"), run_name="__main__")
    assert done.value.code == 0
    outputs = [json.loads(line) for line in (out / "outputs.jsonl").read_text().splitlines()]
    assert len(outputs) == 3 and all(isinstance(r["output"], str) for r in outputs)
    assert {r["box_format"] for r in outputs} == {"qwen2_5_vl"}
    report = json.loads((out / "eval.json").read_text())
    assert report["overall"]["n"] == 3 and report["errors"] == []
    text = capsys.readouterr().out
    assert "1. GRPO" in text and "2. Generate" in text and "3. Evaluate" in text


# --------------------------------------------------------------------------- learning
LEARN_STEPS = 30
LEARN_HELDOUT = 100
LEARN_SEEDS = (0, 1, 2)


@torch_needed
def test_grpo_with_the_real_truth_improves_grounding_and_the_shuffled_control_does_not():
    """From the committed warm start (it boxes squares, often imprecisely or the wrong one),
    30 GRPO steps with format + Hungarian IoU on the true boxes end above the same run with
    the ground truth shuffled across prompts, for every seed, and raise greedy held-out IoU
    on average; the control lowers it.

    Measured (greedy IoU on 100 fixed images): before 0.178; real 0.246, 0.131, 0.278
    (seeds 0, 1, 2); control 0.121, 0.071, 0.196. Single runs vary a lot (seed 1 of the
    real arm ends below the warm start), so the claims are per-seed gaps and seed means.
    """
    import torch

    from gritkit.learning.evaluation import HeldOutScorer, generate_outputs
    from gritkit.learning.grpo import GRPOSettings, run_arm
    from gritkit.learning.model import load

    torch.set_num_threads(1)
    held = tasks.heldout(LEARN_HELDOUT, tasks=("locate",))
    scorer = HeldOutScorer()
    settings = GRPOSettings(steps=LEARN_STEPS, tasks=("locate",))

    def greedy_iou(model, processor):
        outputs = generate_outputs(held, model, processor, temperature=0.0, seed=0, max_new_tokens=48)
        return scorer.score(outputs)["overall"]["iou"]

    before = greedy_iou(*load(FIXTURE))
    after: dict[str, list[float]] = {"real": [], "control": []}
    for seed in LEARN_SEEDS:
        for arm in after:
            model, processor = load(FIXTURE)
            run = run_arm(arm, seed, model, processor, settings)
            assert len(run["curve"]) == LEARN_STEPS
            after[arm].append(greedy_iou(model, processor))
    print(f"greedy held-out IoU: before {before:.3f}, after {after}")
    real, control = (sum(v) / len(v) for v in (after["real"], after["control"]))
    assert all(r > c + 0.03 for r, c in zip(after["real"], after["control"])), (before, after)
    assert real > control + 0.05, (before, after)
    assert real > before + 0.01, (before, after)
    assert control < before - 0.02, (before, after)


def test_a_failed_job_is_reported_and_the_other_runs_are_kept(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from gritkit.learning import experiment, warmstart

    metrics = {"iou_sampled": 0.1, "iou_greedy": 0.2, "accuracy": 0.5, "wrong_object": 0.1, "format_rate": 1.0}
    group = {"overall": {"iou": 0.2, "accuracy": 0.5, "wrong_object": 0.1}, "locate": {"iou": 0.2}}
    evaluation = {"summary": metrics, "greedy": group, "sampled": group}

    def fake_arm(folder, arm, seed, settings, n, tokens):
        if arm == "control":
            raise RuntimeError("boom")
        curve = [{"step": 1, "reward": 1.0, "true_iou": 0.1, "format": 1.5}]
        return {"arm": arm, "seed": seed, "after": evaluation,
                "run": {"seconds": 1.0, "eval_seconds": 1.0, "curve": curve, "reward_names": ["format"]}}

    monkeypatch.setattr(warmstart, "cached_warm_start",
                        lambda cache, config, **kw: (tmp_path / "ws", {"cached": True, "seconds": 0.0}))
    monkeypatch.setattr(experiment, "before_job", lambda *a: evaluation)
    monkeypatch.setattr(experiment, "arm_job", fake_arm)
    config = experiment.ExperimentConfig(arms=("real", "control"), seeds=(0, 1), jobs=1)
    details = experiment.run_experiment(tmp_path / "out", config, cache_dir=tmp_path, log=None)
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [(r["arm"], r["seed"]) for r in runs] == [("real", 0), ("real", 1)]
    assert [(f["key"], f["error"]) for f in details["failures"]] == \
           [(["control", 0], "RuntimeError: boom"), (["control", 1], "RuntimeError: boom")]
    assert "RuntimeError: boom" in (tmp_path / "out" / "summary.md").read_text()

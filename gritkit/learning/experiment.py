"""The grounding experiment: warm start, GRPO arms over seeds, held-out before/after, results.

:func:`run_experiment` is what ``gritkit experiment grounding`` (and ``make
learn``) runs. It writes into ``out_dir``:

* ``results.json``: exactly ``{"runs": [{"arm", "seed", "steps", "before": {...},
  "after": {...}}]}`` with the metric keys of
  :data:`gritkit.learning.evaluation.METRIC_KEYS`;
* ``details.json``: everything else (per-task and sampled metrics, training
  curves, timings, settings, the machine's load);
* ``summary.md``: the table (mean and standard error over seeds), the
  comparisons of the real arm against the control and against its own
  before-state, and timings;
* ``learning_curves.png`` and ``before_after.png``.

Runs are independent jobs (an arm and a seed), each loading the warm-started
model afresh; with ``jobs`` > 1 they run in that many worker processes, each on
one thread. Every job is deterministic for its seed.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from gritkit.learning.designs import ARMS
from gritkit.learning.evaluation import METRIC_KEYS
from gritkit.learning.grpo import GRPOSettings
from gritkit.learning.warmstart import WarmStartConfig

#: Metrics where lower is better.
LOWER_IS_BETTER = frozenset({"wrong_object"})


@dataclass(frozen=True)
class ExperimentConfig:
    """What :func:`run_experiment` runs (defaults: the full ``make learn``)."""

    arms: tuple[str, ...] = ARMS
    seeds: tuple[int, ...] = (0, 1, 2)
    grpo: GRPOSettings = GRPOSettings(steps=40)
    warm: WarmStartConfig = WarmStartConfig()
    heldout_per_task: int = 100
    max_new_tokens: int = 48
    jobs: int = 2


FULL = ExperimentConfig()
"""The full experiment (``make learn``)."""

QUICK = ExperimentConfig(arms=("real", "control", "center_iou"), seeds=(0, 1), grpo=GRPOSettings(steps=25),
                         heldout_per_task=50)
"""The reduced experiment (``make learn QUICK=1``): fewer arms, seeds, steps and held-out images."""

QUICK_WARM = WarmStartConfig(steps_clean=420, locate_first=300, steps_noisy=100)
"""The warm start QUICK trains when the full one is not cached."""


def _threads() -> None:
    import torch

    torch.set_num_threads(1)  # on shared cores, 2 threads was 5-8x slower than 1 (docs/learning.md)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def _quiet_trainer_logs() -> None:
    import logging

    for name in ("transformers", "trl"):
        logging.getLogger(name).setLevel(logging.ERROR)


# --------------------------------------------------------------------------- jobs
def _load(folder: str):
    from gritkit.learning.model import load

    return load(folder)


def before_job(folder: str, seed: int, heldout_per_task: int, max_new_tokens: int) -> dict[str, Any]:
    """Held-out metrics of the warm start itself, with ``seed``'s sampling."""
    _threads()
    from gritkit.learning.evaluation import evaluate_model
    from gritkit.learning.tasks import heldout

    model, processor = _load(folder)
    start = time.perf_counter()
    ev = evaluate_model(model, processor, heldout(heldout_per_task), seed=seed, max_new_tokens=max_new_tokens)
    ev["seconds"] = time.perf_counter() - start
    return ev


def arm_job(folder: str, arm: str, seed: int, settings: GRPOSettings, heldout_per_task: int,
            max_new_tokens: int) -> dict[str, Any]:
    """Train one arm from the warm start with ``seed`` and evaluate it on the held-out set."""
    _threads()
    _quiet_trainer_logs()
    from gritkit.learning.evaluation import evaluate_model
    from gritkit.learning.grpo import run_arm
    from gritkit.learning.tasks import heldout

    model, processor = _load(folder)
    run = run_arm(arm, seed, model, processor, settings)
    start = time.perf_counter()
    ev = evaluate_model(model, processor, heldout(heldout_per_task), seed=seed, max_new_tokens=max_new_tokens)
    run["eval_seconds"] = time.perf_counter() - start
    return {"arm": arm, "seed": seed, "run": run, "after": ev}


def _pool(jobs: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


# --------------------------------------------------------------------------- statistics
def mean_se(values: Sequence[Optional[float]]) -> tuple[Optional[float], Optional[float]]:
    """Mean and standard error (sample std / sqrt(n); 0 for one value) of the non-missing values."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return None, None
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, 0.0
    var = sum((v - m) ** 2 for v in vals) / (len(vals) - 1)
    return m, math.sqrt(var / len(vals))


def compare(a: Sequence[float], b: Sequence[float], *, paired: bool, lower_is_better: bool) -> dict[str, Any]:
    """``a`` minus ``b`` (signed so that positive is better), its standard error, and whether it exceeds 2 SE."""
    if paired:
        diffs = [x - y for x, y in zip(a, b)]
        d, se = mean_se(diffs)
    else:
        ma, sa = mean_se(a)
        mb, sb = mean_se(b)
        d = None if ma is None or mb is None else ma - mb
        se = None if sa is None or sb is None else math.sqrt(sa ** 2 + sb ** 2)
    if d is None:
        return {"diff": None, "se": None, "beats_2se": False}
    if lower_is_better:
        d = -d
    return {"diff": d, "se": se, "beats_2se": bool(se is not None and d > 2 * se and d > 0)}


def arm_table(runs: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """Per arm: seeds, steps, and mean/SE of every before and after metric."""
    out: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(r["arm"] for r in runs):
        rows = [r for r in runs if r["arm"] == arm]
        entry: dict[str, Any] = {"seeds": [r["seed"] for r in rows], "steps": rows[0]["steps"]}
        for phase in ("before", "after"):
            entry[phase] = {k: mean_se([r[phase][k] for r in rows]) for k in METRIC_KEYS}
        out[arm] = entry
    return out


def comparisons(runs: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """The claims the issue asks about: real vs control (after) and real after vs real before, per metric."""
    real = sorted((r for r in runs if r["arm"] == "real"), key=lambda r: r["seed"])
    control = sorted((r for r in runs if r["arm"] == "control"), key=lambda r: r["seed"])
    out: dict[str, dict[str, Any]] = {}
    for k in METRIC_KEYS:
        low = k in LOWER_IS_BETTER
        entry = {}
        if real and control:
            entry["real_vs_control"] = compare([r["after"][k] for r in real], [r["after"][k] for r in control],
                                               paired=False, lower_is_better=low)
        if real:
            entry["real_vs_before"] = compare([r["after"][k] for r in real], [r["before"][k] for r in real],
                                              paired=True, lower_is_better=low)
        for arm in dict.fromkeys(r["arm"] for r in runs):
            if arm in ("real", "control"):
                continue
            rows = sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
            entry[f"{arm}_vs_before"] = compare([r["after"][k] for r in rows], [r["before"][k] for r in rows],
                                                paired=True, lower_is_better=low)
            if control:
                entry[f"{arm}_vs_control"] = compare([r["after"][k] for r in rows],
                                                     [r["after"][k] for r in control],
                                                     paired=False, lower_is_better=low)
        out[k] = entry
    return out


# --------------------------------------------------------------------------- the run
def run_experiment(out_dir: os.PathLike | str, config: ExperimentConfig = FULL, *,
                   cache_dir: os.PathLike | str = "out/cache/learn", quick: bool = False,
                   rebuild_warm_start: bool = False, log: Optional[Callable[[str], None]] = print) -> dict[str, Any]:
    """Run the experiment and write its files (see the module docs); returns ``details``."""
    say = log or (lambda _m: None)
    _threads()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None

    from gritkit.learning.warmstart import cached_warm_start

    warm = config.warm
    if quick and not rebuild_warm_start and not (Path(cache_dir) / f"warmstart-{warm.key()}" / "warmstart.json").is_file():
        say("No cached full warm start: QUICK trains a shorter one (cached too).")
        warm = QUICK_WARM
    say(f"Warm start ({warm.steps_clean} + {warm.steps_noisy} steps, cache {cache_dir}) ...")
    folder, warm_info = cached_warm_start(cache_dir, warm, log=say, rebuild=rebuild_warm_start)
    say(f"Warm start {'reused from the cache' if warm_info['cached'] else 'trained'}: {folder} "
        f"({warm_info['seconds']:.0f} s when trained).")
    folder_s = str(folder)

    jobs_before = list(config.seeds)
    jobs_arms = [(arm, seed) for seed in config.seeds for arm in config.arms]
    say(f"{len(jobs_arms)} GRPO runs ({', '.join(config.arms)} x seeds {list(config.seeds)}, "
        f"{config.grpo.steps} steps each) and {len(jobs_before)} before-evaluations, {config.jobs} worker(s).")
    before: dict[int, dict] = {}
    after: dict[tuple[str, int], dict] = {}
    failures: list[dict] = []
    args_common = (config.heldout_per_task, config.max_new_tokens)

    def keep(kind: str, key: Any, get: Callable[[], dict]) -> Optional[dict]:
        # One failed job is reported and left out; it does not take the other runs down.
        try:
            return get()
        except Exception as exc:  # noqa: BLE001 - any failure of one job
            failures.append({"job": kind, "key": key, "error": f"{type(exc).__name__}: {exc}"})
            say(f"  {kind} {key} FAILED: {type(exc).__name__}: {exc}")
            return None

    def done(key: tuple[str, int], job: Optional[dict]) -> None:
        if job is not None:
            after[key] = job
            if key[1] in before:
                _say_run(say, job, before[key[1]])

    if config.jobs <= 1:
        for seed in jobs_before:
            got = keep("before", seed, lambda: before_job(folder_s, seed, *args_common))
            if got is not None:
                before[seed] = got
        for arm, seed in jobs_arms:
            done((arm, seed), keep("run", [arm, seed],
                                   lambda: arm_job(folder_s, arm, seed, config.grpo, *args_common)))
    else:
        with _pool(config.jobs) as pool:
            fb = {pool.submit(before_job, folder_s, seed, *args_common): seed for seed in jobs_before}
            fa = {pool.submit(arm_job, folder_s, arm, seed, config.grpo, *args_common): (arm, seed)
                  for arm, seed in jobs_arms}
            for f, seed in fb.items():
                got = keep("before", seed, f.result)
                if got is not None:
                    before[seed] = got
            for f, key in fa.items():
                done(key, keep("run", list(key), f.result))

    runs = [{"arm": arm, "seed": seed, "steps": config.grpo.steps,
             "before": dict(before[seed]["summary"]), "after": dict(after[(arm, seed)]["after"]["summary"])}
            for arm, seed in jobs_arms if seed in before and (arm, seed) in after]
    if not runs:
        from gritkit.errors import GritError

        raise GritError("Every run of the experiment failed; the first failure: "
                        f"{failures[0]['job']} {failures[0]['key']}: {failures[0]['error']}")
    runs.sort(key=lambda r: (config.arms.index(r["arm"]), r["seed"]))
    seconds = time.perf_counter() - started
    details = {
        "config": {"arms": list(config.arms), "seeds": list(config.seeds), "grpo": asdict(config.grpo),
                   "warm_start": asdict(warm), "heldout_per_task": config.heldout_per_task,
                   "max_new_tokens": config.max_new_tokens, "jobs": config.jobs, "quick": quick},
        "warm_start": {"folder": folder.name, "cached": warm_info["cached"], "seconds": warm_info["seconds"],
                       "history": warm_info.get("history", [])},
        "before": {str(s): {k: v for k, v in b.items()} for s, b in before.items()},
        "runs": [{"arm": arm, "seed": seed, "train_seconds": a["run"]["seconds"],
                  "eval_seconds": a["run"]["eval_seconds"], "curve": a["run"]["curve"],
                  "reward_names": a["run"]["reward_names"], "after": a["after"]}
                 for (arm, seed), a in after.items() if seed in before],
        "table": arm_table(runs),
        "comparisons": comparisons(runs),
        "failures": failures,
        "seconds": seconds,
        "machine": {"cpus": os.cpu_count(), "load_start": load_start,
                    "load_end": os.getloadavg() if hasattr(os, "getloadavg") else None},
    }
    (out / "results.json").write_text(json.dumps({"runs": runs}, indent=1), encoding="utf-8")
    (out / "details.json").write_text(json.dumps(details, indent=1, default=str), encoding="utf-8")
    from gritkit.learning.report import plot_before_after, plot_curves, summary_markdown

    plot_curves(details, out / "learning_curves.png")
    plot_before_after(runs, out / "before_after.png")
    (out / "summary.md").write_text(summary_markdown(runs, details), encoding="utf-8")
    say(f"Done in {seconds:.0f} s: {out / 'results.json'}, {out / 'summary.md'}, plots in {out}.")
    return details


def _say_run(say, job: dict, before: dict) -> None:
    a, b = job["after"]["summary"], before["summary"]
    say(f"  {job['arm']:>10} seed {job['seed']}: greedy IoU {b['iou_greedy']:.3f} -> {a['iou_greedy']:.3f}, "
        f"sampled IoU {b['iou_sampled']:.3f} -> {a['iou_sampled']:.3f}, wrong object "
        f"{b['wrong_object']:.2f} -> {a['wrong_object']:.2f} ({job['run']['seconds']:.0f} s training)")


def config_with(base: ExperimentConfig, *, arms: Optional[Sequence[str]] = None, seeds: Optional[Sequence[int]] = None,
                steps: Optional[int] = None, jobs: Optional[int] = None,
                heldout_per_task: Optional[int] = None) -> ExperimentConfig:
    """``base`` with the given fields replaced (the CLI's overrides)."""
    cfg = base
    if arms:
        from gritkit.learning.designs import reward_config

        for a in arms:
            reward_config(a)  # unknown arm: ConfigError now
        cfg = replace(cfg, arms=tuple(arms))
    if seeds:
        cfg = replace(cfg, seeds=tuple(seeds))
    if steps:
        cfg = replace(cfg, grpo=replace(cfg.grpo, steps=steps))
    if jobs:
        cfg = replace(cfg, jobs=jobs)
    if heldout_per_task:
        cfg = replace(cfg, heldout_per_task=heldout_per_task)
    return cfg

"""Plots and the markdown summary of a grounding experiment (matplotlib, ``gritkit[report]``)."""

from __future__ import annotations

import os
from typing import Any, Sequence

from gritkit.learning.evaluation import METRIC_KEYS

LABELS = {"iou_sampled": "IoU (sampled)", "iou_greedy": "IoU (greedy)", "accuracy": "accuracy (greedy)",
          "wrong_object": "wrong object (greedy)", "format_rate": "format rate (greedy)"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curve_stats(runs: Sequence[dict], key: str) -> tuple[list[int], list[float], list[float]]:
    from gritkit.learning.experiment import mean_se

    steps = sorted({p["step"] for r in runs for p in r["curve"] if p.get("step") is not None})
    means, ses = [], []
    for s in steps:
        m, se = mean_se([p.get(key) for r in runs for p in r["curve"] if p.get("step") == s])
        means.append(float("nan") if m is None else m)
        ses.append(0.0 if se is None else se)
    return steps, means, ses


def _smooth(values: list[float], k: int = 5) -> list[float]:
    out = []
    for i in range(len(values)):
        window = [v for v in values[max(0, i - k + 1):i + 1] if v == v]
        out.append(sum(window) / len(window) if window else float("nan"))
    return out


def plot_curves(details: dict, path: os.PathLike | str) -> None:
    """Training curves per arm (mean over seeds, 5-step moving average): the true-box IoU probe and the format reward."""
    plt = _plt()
    arms = list(dict.fromkeys(r["arm"] for r in details["runs"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=80)
    for ax, key, title in ((axes[0], "true_iou", "training IoU vs the true boxes (Hungarian)"),
                           (axes[1], "format", "format reward (paper mode, max 1.5)")):
        for arm in arms:
            steps, means, _ = _curve_stats([r for r in details["runs"] if r["arm"] == arm], key)
            if steps:
                ax.plot(steps, _smooth(means), label=arm, linestyle="--" if arm == "control" else "-")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("GRPO step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_before_after(runs: Sequence[dict], path: os.PathLike | str) -> None:
    """Before/after bars per arm with standard-error bars, for greedy IoU, sampled IoU and wrong object."""
    from gritkit.learning.experiment import arm_table

    plt = _plt()
    table = arm_table(runs)
    arms = list(table)
    keys = ("iou_greedy", "iou_sampled", "wrong_object")
    fig, axes = plt.subplots(1, len(keys), figsize=(12, 3.6), dpi=80)
    width = 0.38
    for ax, key in zip(axes, keys):
        for j, phase in enumerate(("before", "after")):
            ms = [table[a][phase][key][0] or 0.0 for a in arms]
            es = [table[a][phase][key][1] or 0.0 for a in arms]
            ax.bar([i + (j - 0.5) * width for i in range(len(arms))], ms, width, yerr=es, capsize=3, label=phase,
                   color="#bbbbbb" if phase == "before" else "#3b75af")
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels(arms, rotation=35, ha="right", fontsize=8)
        ax.set_title(LABELS[key] + (" (lower is better)" if key == "wrong_object" else ""), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(ms: Any) -> str:
    m, se = ms
    return "n/a" if m is None else f"{m:.3f} ± {se:.3f}"


def summary_markdown(runs: Sequence[dict], details: dict) -> str:
    """The experiment's summary: table, comparisons, timings."""
    from gritkit.learning.experiment import arm_table

    table = arm_table(runs)
    cfg = details["config"]
    lines = ["# Grounding experiment: results", "",
             f"Arms {', '.join(cfg['arms'])}; seeds {cfg['seeds']}; {cfg['grpo']['steps']} GRPO steps each; "
             f"held-out {cfg['heldout_per_task']} images per task ({', '.join(cfg['grpo']['tasks'])}). "
             "Mean ± standard error over seeds. accuracy, wrong object and format rate are greedy.", "",
             "| arm | seeds | " + " | ".join(LABELS[k] + " before → after" for k in METRIC_KEYS) + " |",
             "|---|---|" + "---|" * len(METRIC_KEYS)]
    for arm, e in table.items():
        cells = [f"{_fmt(e['before'][k])} → {_fmt(e['after'][k])}" for k in METRIC_KEYS]
        lines.append(f"| {arm} | {len(e['seeds'])} | " + " | ".join(cells) + " |")
    lines += ["", "## Does the real arm beat the control and its own before-state by more than 2 SE?", "",
              "| metric | real − control (after) | real after − before (paired) |", "|---|---|---|"]
    for k in METRIC_KEYS:
        c = details["comparisons"][k]

        def cell(x):
            if not x or x["diff"] is None:
                return "n/a"
            return f"{x['diff']:+.3f} ± {x['se']:.3f} ({'yes' if x['beats_2se'] else 'no'})"

        lines.append(f"| {LABELS[k]} | {cell(c.get('real_vs_control'))} | {cell(c.get('real_vs_before'))} |")
    lines += ["", "Differences are signed so that positive is better (for wrong object: a drop).", ""]
    per_task = ["## Per task (greedy IoU / accuracy / wrong object, mean over seeds, after)", "",
                "| arm | " + " | ".join(cfg["grpo"]["tasks"]) + " |", "|---|" + "---|" * len(cfg["grpo"]["tasks"])]
    for arm in table:
        rows = [r for r in details["runs"] if r["arm"] == arm]
        cells = []
        for t in cfg["grpo"]["tasks"]:
            vals = [r["after"]["greedy"].get(t, {}) for r in rows]

            def avg(key):
                xs = [v.get(key) for v in vals if v.get(key) is not None]
                return sum(xs) / len(xs) if xs else float("nan")

            cells.append(f"{avg('iou'):.3f} / {avg('accuracy'):.3f} / {avg('wrong_object'):.2f}")
        per_task.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines += per_task
    ws = details["warm_start"]
    train_s = [r["train_seconds"] for r in details["runs"]]
    if details.get("failures"):
        lines += ["", "## Failed jobs (left out of every table)", ""]
        lines += [f"- {f['job']} {f['key']}: {f['error']}" for f in details["failures"]]
    lines += ["", "## Time and machine", "",
              f"- warm start: {'reused from the cache' if ws['cached'] else 'trained'} "
              f"({ws['seconds']:.0f} s when trained, {cfg['warm_start']['steps_clean']} + "
              f"{cfg['warm_start']['steps_noisy']} steps)",
              f"- GRPO per run: {min(train_s):.0f}–{max(train_s):.0f} s; {cfg['jobs']} worker process(es), one thread each",
              f"- whole experiment: {details['seconds']:.0f} s wall",
              f"- machine: {details['machine']['cpus']} CPUs; load average at start {details['machine']['load_start']}, "
              f"at end {details['machine']['load_end']}", ""]
    return "\n".join(lines)

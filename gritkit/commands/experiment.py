"""`gritkit experiment grounding`: show on a CPU that gritkit's rewards teach a tiny VLM to ground."""

from __future__ import annotations

import argparse

NAME = "experiment"
HELP = "run the synthetic grounding experiment (does GRPO with gritkit's rewards teach grounding?)"
DESCRIPTION = """\
The grounding experiment (docs/learning.md), offline on a CPU: synthetic
"where is the red square?" and "how many red squares?" tasks drawn on the fly,
a tiny LLaVA-style VLM with a digit-by-digit tokenizer, a supervised warm start
(cached under --cache), then GRPO through TRL's GRPOTrainer and gritkit's TRL
adapter for every arm and seed: the real ground truth, a control with the
ground truth shuffled, and reward designs side by side (IoU union, IoU
Hungarian, GIoU, F1@0.5, the grit preset, the anti-hedging center_iou).
Held-out images (fixed by seed) are evaluated before and after each run,
greedy and sampled, with gritkit's generate and eval.

Writes OUT/results.json ({"runs": [{"arm", "seed", "steps", "before", "after"}]}),
OUT/details.json, OUT/summary.md, OUT/learning_curves.png, OUT/before_after.png.
Needs the train and report extras: pip install 'gritkit[train,report]'.

examples:
  gritkit experiment grounding                      # the full run (make learn)
  gritkit experiment grounding --quick              # reduced (make learn QUICK=1)
  gritkit experiment grounding --arms real control --seeds 0 1 2 --steps 30
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=("grounding",), help="the experiment to run")
    parser.add_argument("--quick", action="store_true",
                        help="the reduced run: real, control and center_iou, 2 seeds, 25 steps, 50 held-out "
                             "images per task; reuses the cached full warm start, else trains a shorter one")
    parser.add_argument("--out", default="out/learn", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument("--cache", default="out/cache/learn", metavar="DIR",
                        help="warm-start cache folder (default: %(default)s)")
    parser.add_argument("--arms", nargs="+", metavar="ARM",
                        help="arms to run (real, control, iou_union, giou, f1_50, grit, center_iou)")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="N", help="seeds of every arm")
    parser.add_argument("--steps", type=int, metavar="N", help="GRPO steps per run")
    parser.add_argument("--heldout", type=int, metavar="N", help="held-out images per task")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="worker processes, one thread each (default 2; 1 runs everything in this process)")
    parser.add_argument("--rebuild-warm-start", action="store_true", help="retrain the warm start even if cached")


def run(args: argparse.Namespace) -> int:
    from gritkit.errors import ConfigError

    try:
        from gritkit.learning.experiment import FULL, QUICK, config_with, run_experiment
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(f"The experiment needs the training and report extras ({exc.name} is missing): "
                          "pip install 'gritkit[train,report]'.") from exc
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}.")
    config = config_with(QUICK if args.quick else FULL, arms=args.arms, seeds=args.seeds, steps=args.steps,
                         jobs=args.jobs, heldout_per_task=args.heldout)
    run_experiment(args.out, config, cache_dir=args.cache, quick=args.quick,
                   rebuild_warm_start=args.rebuild_warm_start)
    return 0

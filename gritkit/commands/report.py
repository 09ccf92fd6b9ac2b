"""`gritkit report`: reward distributions, means over steps and reward-hacking signs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "report"
HELP = "plot reward distributions (and means over training steps) and list reward-hacking signs"
DESCRIPTION = """\
Report on scored completions: a scored file (`gritkit score --json` output,
optionally with --outputs, the file it scored, to inspect the outputs), a JSON
Lines file of outputs, or TRL's logged completions (a training output directory,
its completions/ folder, or completions_<step>.parquet files).

Writes to --out (default: next to PATH, PATH's name + ".report"):
  reward_distributions.png   a histogram per reward
  reward_means.png           each reward's mean over steps (training logs)
  report.md                  statistics and the reward-hacking signs worth a look:
                             many boxes, whole-image boxes, duplicate boxes,
                             empty answers, answers that hedge between options

exit codes: 0 written, 1 some input lines or files could not be used, 2 usage or I/O error

examples:
  gritkit score outputs.jsonl --preset grit --json > scores.jsonl
  gritkit report scores.jsonl --outputs outputs.jsonl
  gritkit report runs/grit-qwen --out runs/grit-qwen/report
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="scored .jsonl, outputs .jsonl, TRL output dir, or .parquet file")
    p.add_argument("--out", metavar="DIR", help="output folder (default: PATH.report next to PATH)")
    p.add_argument("--outputs", metavar="FILE",
                   help="for a scored file: the outputs file it scored (joined on 'record'), "
                        "to check the outputs for reward-hacking signs")
    p.add_argument("--text-column", default="output", metavar="NAME",
                   help="the column holding the output text in JSON Lines (default: output); "
                        "unlike --field elsewhere, this is not a rename")
    p.add_argument("--rewards", metavar="A,B",
                   help="for parquet logs: the reward columns (default: every numeric column that "
                        "is not step, advantage or another bookkeeping column)")
    p.add_argument("--many-boxes", type=int, default=10, metavar="N",
                   help="flag outputs with more than N boxes (default 10)")
    p.add_argument("--whole-image", type=float, default=0.95, metavar="SHARE",
                   help="flag boxes covering at least this share of the image (default 0.95, "
                        "the box_in_image reward's; see gritkit.boxes)")
    p.add_argument("--grammar", default="grit", help="grammar the outputs are parsed with (default grit)")
    p.add_argument("--no-plots", action="store_true", help="write report.md only (no matplotlib)")


def default_out(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        return p / "report"
    return p.with_name(p.name + ".report")


def run(args: argparse.Namespace) -> int:
    from gritkit.commands._progress import progress_bar
    from gritkit.report import load_report_data, write_report

    rewards = [r.strip() for r in args.rewards.split(",") if r.strip()] if args.rewards else None
    data = load_report_data(args.path, outputs=args.outputs, field_name=args.text_column, rewards=rewards)
    out = Path(args.out) if args.out else default_out(args.path)
    with progress_bar(len(data.rows), "checking outputs") as advance:
        summary = write_report(data, out, many_boxes=args.many_boxes, whole_image=args.whole_image,
                               grammar=args.grammar, plots=not args.no_plots, progress=lambda: advance(1))
    print(summary.markdown)
    for problem in data.problems:
        print(f"gritkit report: {problem}", file=sys.stderr)
    for line, message in data.unscored:
        print(f"gritkit report: {args.path}: line {line}: not scored, no rewards ({message})", file=sys.stderr)
    print(f"wrote {', '.join(str(f) for f in summary.files)}", file=sys.stderr)
    return 1 if data.problems or data.unscored else 0

"""`gritkit eval`: GRIT's evaluation metrics per dataset and overall."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

NAME = "eval"
HELP = "accuracy, grounding IoU, matched IoU, F1@0.5 and format rates per dataset"
DESCRIPTION = """\
Evaluate model outputs in GRIT's data schema (JSON Lines: output, answer, bboxs,
width, height, dataset, image, question) with GRIT's metrics, per dataset and
overall:

  n                 unique samples (copies of one dataset/image/question/answer once)
  accuracy          answer_match (or the config's judge), mean
  grounding_iou     IoU of the union of predicted boxes with the union of GT boxes,
                    original frame; samples without GT boxes skipped; no box = 0
  matched_iou       one-to-one (Hungarian) matched IoU; f1_50: F1 at IoU 0.5
  format_ok         share of outputs that follow the grammar
  boxes_per_sample  boxes written per output
  invalid_box_rate  share of boxes invalid or outside the image

Boxes are read in --box-format, else each record's box_format, else the
config's, else absolute pixels of the original image. See docs/evaluation.md.

exit codes: 0 evaluated, 1 some records could not be evaluated, 2 usage or I/O error

examples:
  gritkit eval examples/data/sample_outputs.jsonl
  gritkit eval outputs.jsonl --preset grit-official --json --bootstrap 1000
  gritkit eval outputs.jsonl --box-format norm_1000 --field response=output
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="JSON Lines file of model outputs in GRIT's data schema")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", metavar="NAME",
                     help="take the accuracy reward (judge or answer_match), grammar, box format and "
                          "columns from this preset (grit, grit-official, r1)")
    src.add_argument("--config", metavar="FILE", help="the same from a reward config file")
    p.add_argument("--json", action="store_true",
                   help='print {"datasets": {...}, "overall": {...}} as JSON instead of a table')
    p.add_argument("--box-format", metavar="NAME",
                   help="coordinate convention of every box (e.g. norm_1000, qwen2_5_vl); "
                        "overrides the records' box_format")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="add 95%% percentile-bootstrap confidence intervals from N resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0: the same intervals every run)")
    p.add_argument("--field", action="append", default=[], metavar="OLD=NEW",
                   help="read the file's column OLD as field NEW (repeatable), e.g. --field response=output")
    p.add_argument("--binarize-judge", action="store_true",
                   help="with a judge: score accuracy as the trainer does (> 0 counts as 1) instead of "
                        "the raw judge score GRIT's paper reports")
    p.add_argument("--keep-duplicates", action="store_true",
                   help="count every record, also copies of the same dataset/image/question/answer")


def _cell(group: dict[str, Any], key: str, pct: bool = False) -> str:
    v = group.get(key)
    if v is None:
        return "-"
    text = f"{100 * v:.1f}" if pct else f"{v:.3f}"
    ci = (group.get("ci95") or {}).get(key)
    if ci:
        lo, hi = ci
        text += f" [{100 * lo:.1f}, {100 * hi:.1f}]" if pct else f" [{lo:.3f}, {hi:.3f}]"
    return text


def render_table(report, title: str = "") -> Any:
    """The rich table of an :class:`~gritkit.evaluate.EvalReport`."""
    from rich.table import Table

    t = Table(title=title or None, title_justify="left")
    t.add_column("dataset", no_wrap=True)
    for head in ("n", "dup", "acc %", "gIoU", "n gt", "mIoU", "F1@.5", "fmt %", "boxes", "bad box %"):
        t.add_column(head, justify="right", no_wrap=True)
    rows = list(report.datasets.items()) + [("overall", report.overall)]
    for i, (name, g) in enumerate(rows):
        t.add_row(name, str(g["n"]), str(g.get("duplicates", 0)), _cell(g, "accuracy", True),
                  _cell(g, "grounding_iou"), str(g.get("n_with_gt", 0)), _cell(g, "matched_iou"),
                  _cell(g, "f1_50"), _cell(g, "format_ok", True),
                  "-" if g["boxes_per_sample"] is None else f"{g['boxes_per_sample']:.2f}",
                  _cell(g, "invalid_box_rate", True),
                  end_section=(i == len(rows) - 2))
    return t


def run(args: argparse.Namespace) -> int:
    from gritkit.commands._progress import count_lines, progress_bar
    from gritkit.evaluate import evaluate
    from gritkit.records import parse_field_renames

    renames = parse_field_renames(args.field)
    config = args.config or args.preset
    with progress_bar(count_lines(args.path), "evaluating") as advance:
        report = evaluate(args.path, config, box_format=args.box_format, renames=renames,
                          bootstrap=args.bootstrap, seed=args.seed, dedupe=not args.keep_duplicates,
                          binarize_judge=args.binarize_judge, progress=advance)
    for notice in report.notices:
        print(f"gritkit eval: note: {notice}", file=sys.stderr)
    for e in report.errors:
        print(f"{args.path}: line {e.index + 1}: {e.message}", file=sys.stderr)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        console = Console()
        if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
            console = Console(width=200 if args.bootstrap else 110)
        ci = f", 95% CI from {args.bootstrap} bootstrap resamples (seed {args.seed})" if args.bootstrap else ""
        console.print(render_table(report, f"{args.path}: accuracy by {report.accuracy_reward}{ci}"))
        if report.errors:
            console.print(f"[red]{len(report.errors)} record(s) could not be evaluated[/red] (see above).")
    return 1 if report.errors else 0

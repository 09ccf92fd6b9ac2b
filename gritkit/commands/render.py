"""`gritkit render`: pictures of grounded reasoning, one PNG per record."""

from __future__ import annotations

import argparse
import sys

NAME = "render"
HELP = "draw each output's boxes on its image, numbered and coloured by section, beside its text"
DESCRIPTION = """\
Draw model outputs over their images: one PNG per record, with every predicted
box in the original image frame, coloured by the section it was written in
(think blue, rethink orange, answer green, outside any section purple),
numbered in the order written, and the ground-truth boxes dashed red; beside
it the text with [n] where box n was written, the answer, the ground truth and
the record's rewards.

A missing or unreadable image gives a message for that record and a picture on
a grey placeholder; the other records still render (exit code 1).

exit codes: 0 all rendered, 1 some records had problems, 2 usage or I/O error

examples:
  gritkit render examples/data/sample_outputs.jsonl --images examples/data/images --out out/render
  gritkit render outputs.jsonl --images imgs --out out --records 0,5,9 --html
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="JSON Lines file of model outputs in GRIT's data schema")
    p.add_argument("--images", required=True, metavar="DIR",
                   help="folder that the records' image paths are relative to")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for record_NNNN.png (created)")
    p.add_argument("--records", metavar="LIST",
                   help="0-based record indices and ranges to render, e.g. 0,5,9 or 2-4 (default: all)")
    p.add_argument("--box-format", metavar="NAME",
                   help="coordinate convention of every box (default: each record's box_format, "
                        "else absolute pixels)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", metavar="NAME", default=None,
                     help="preset whose rewards are listed for each record (default: grit)")
    src.add_argument("--config", metavar="FILE", help="reward config whose rewards are listed")
    src.add_argument("--no-rewards", action="store_true", help="do not score the records")
    p.add_argument("--field", action="append", default=[], metavar="OLD=NEW",
                   help="read the file's column OLD as field NEW (repeatable)")
    p.add_argument("--html", action="store_true",
                   help="also write OUT/index.html: one self-contained page of all rendered records")


def run(args: argparse.Namespace) -> int:
    from gritkit.commands._progress import count_lines, progress_bar
    from gritkit.records import parse_field_renames
    from gritkit.render import iter_render_file, parse_selection

    selection = parse_selection(args.records) if args.records else None
    config = None if args.no_rewards else (args.config or args.preset or "grit")
    total = len(selection) if selection else count_lines(args.path)
    # Streamed: each record is drawn, written and let go; only the problems are kept, to print.
    messages: list[str] = []
    written = on_placeholder = 0
    with progress_bar(total, "rendering") as advance:
        for r in iter_render_file(args.path, images=args.images, out=args.out, records=selection,
                                  box_format=args.box_format, config=config,
                                  renames=parse_field_renames(args.field), html_page=args.html,
                                  progress=lambda: advance(1)):
            written += r.path is not None
            if r.message:
                messages.append(r.message)
                on_placeholder += r.path is not None
    for message in messages:
        print(message, file=sys.stderr)
    print(f"{written} picture(s) written to {args.out}"
          + (f" ({on_placeholder} on a placeholder)" if messages else "")
          + (f"; {args.out.rstrip('/')}/index.html" if args.html else ""), file=sys.stderr)
    return 1 if messages else 0

"""`gritkit score`: score a JSON Lines file of completions with a preset or a reward config."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import deque
from typing import Any, Optional

NAME = "score"
HELP = "score completions in a JSON Lines file with a reward preset or config"
DESCRIPTION = """\
Score every completion of a JSON Lines file in GRIT's data schema: the text in
`output`, the reference answer in `answer` (or `gt_answer`), ground-truth boxes
in `bboxs` (or `gt_boxes`), `width`, `height`, `dataset`, `image`. Every other
column reaches the rewards as `Sample.extra`.

Boxes are read in the convention given by --box-format, else the record's
`box_format` field, else the config's `box_format`, else absolute pixels of
the original image.

With --json (or --out FILE) it writes exactly one JSON object per input line, in
order: {"record": i, "ok": parse ok, "total": weighted total, "rewards": {name:
value or null}}; a bad line (not JSON, no text, a bad value, a failing reward)
still gets its object, with an "error", and the exit code is then 1. Without
--json it prints a summary table: each reward's mean and the parse-ok rate.

examples:
  gritkit score outputs.jsonl --preset grit
  gritkit score outputs.jsonl --preset grit-official --json > scores.jsonl
  gritkit score outputs.jsonl --config rewards.toml --field completion=output --workers 4
"""

CHUNK = 256
PROGRESS_MIN_BYTES = 1 << 20


def _rename(text: str) -> str:
    from gritkit.errors import ConfigError
    from gritkit.records import parse_field_renames

    try:
        parse_field_renames([text])
    except ConfigError:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW (e.g. completion=output), got {text!r}") from None
    return text


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 worker, got {n}")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="JSON Lines file ('-' for standard input)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", metavar="NAME", help="a shipped preset: grit, grit-official, r1")
    which.add_argument("--config", metavar="FILE",
                       help="a reward config (.toml, .yaml, .json, or .py defining CONFIG)")
    parser.add_argument("--out", metavar="FILE", help="write the JSON Lines scores to FILE")
    parser.add_argument("--json", action="store_true", help="write the JSON Lines scores to standard output "
                        "(or --out) and no summary table")
    parser.add_argument("--field", action="append", default=[], type=_rename, metavar="OLD=NEW",
                        help="rename the input column OLD to NEW before mapping (repeatable), "
                             "e.g. --field completion=output")
    parser.add_argument("--box-format", metavar="NAME",
                        help="the coordinate convention of the boxes the model wrote (overrides the records')")
    parser.add_argument("--workers", type=_workers, default=1, metavar="N",
                        help="score in N parallel processes (order is kept)")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")


# ------------------------------------------------------------------------------------------
# Scoring chunks (in this process, or in worker processes)


class Scorer:
    """What `gritkit score` does to lines, built once per process: records through the
    :class:`~gritkit.records.RecordReader`, scored by the :class:`~gritkit.compose.Composer`,
    one output object per line (an ``error`` for a bad one). Worker processes and the Ray
    Data recipe (:mod:`gritkit.ray_data`) use it too, so every route writes the same objects.

    Args:
        config: the reward config (a ``RewardConfig``, preset name, path or mapping).
        renames: ``--field`` renames, ``{file column: gritkit field}``.
        box_format: ``--box-format`` (overrides the records').
    """

    def __init__(self, config, renames: dict[str, str], box_format: Optional[str]) -> None:
        from gritkit.compose import Composer
        from gritkit.records import RecordReader

        self.composer = Composer(config, warn=False)
        self.config = self.composer.config
        self.renames = renames
        self.box_format = box_format
        self.reader = RecordReader.from_config(self.config, renames=renames, box_format=box_format)
        self.names = self.composer.names

    def bad(self, index: int, error: str) -> dict:
        return {"record": index, "ok": False, "total": None,
                "rewards": dict.fromkeys(self.names), "error": error}

    def score_lines(self, raw: list[tuple[int, Any]], as_json: bool) -> tuple[str, "Summary"]:
        """Score raw JSON Lines: ``(output text, summary of these lines)``.

        The same in this process and in a worker: parsing the JSON, scoring and
        encoding the output all happen here, so a worker sends back one string.
        """
        from gritkit.io import parse_line

        objs = self.score_chunk([tuple(parse_line(line, index)) for index, line in raw])
        summary = Summary(self.names, self.composer.weights)
        for obj in objs:
            summary.add(obj)
        text = "".join(_DUMPS(obj) + "\n" for obj in objs) if as_json else ""
        return text, summary

    def score_chunk(self, lines: list[tuple[int, Optional[dict], Optional[str]]]) -> list[dict]:
        from gritkit.errors import DataError, GritError

        out: dict[int, dict] = {}
        todo: list[tuple[int, str, Any]] = []
        for index, record, error in lines:
            if error is not None:
                out[index] = self.bad(index, error)
                continue
            try:
                text, sample = self.reader.read(record, index)
            except DataError as exc:
                out[index] = self.bad(index, str(exc))
                continue
            todo.append((index, text, sample))
        try:
            self._score(todo, out)
        except GritError:
            for item in todo:  # isolate the failing record(s)
                try:
                    self._score([item], out)
                except GritError as exc:
                    out[item[0]] = self.bad(item[0], str(exc))
        return [out[index] for index, _, _ in lines]

    def _score(self, todo: list[tuple[int, str, Any]], out: dict[int, dict]) -> None:
        if not todo:
            return
        indices = [t[0] for t in todo]
        composer = self.composer
        results, samples = composer.prepare([t[1] for t in todo], [t[2] for t in todo])
        values = composer.values(results, samples, offset=indices)
        totals = composer.totals(values)
        names = list(values)
        columns = [values[name] for name in names]
        for k, (index, result) in enumerate(zip(indices, results)):
            out[index] = {"record": index, "ok": result.ok, "total": totals[k],
                          "rewards": {name: col[k] for name, col in zip(names, columns)}}


_DUMPS = json.JSONEncoder(ensure_ascii=False).encode

_WORKER: Optional[Scorer] = None


def _init_worker(config, renames, box_format) -> None:
    import signal

    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _WORKER = Scorer(config, renames, box_format)


def _worker_lines(raw, as_json):
    assert _WORKER is not None
    return _WORKER.score_lines(raw, as_json)


def _raw_chunks(path: str, size: int):
    from gritkit.io import read_raw_records

    chunk = []
    for item in read_raw_records(path):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


#: --workers only pays once there is enough to spread: below this many lines one process scores.
MIN_LINES_PER_WORKER = 2000
WORKER_CHUNK = 1024


def choose_workers(requested: int, lines: Optional[int]) -> tuple[int, str]:
    """How many processes to use, and why when it is not what was asked.

    More workers than idle cores, or than the file has chunks of work for, only adds
    start-up and copying (measured: docs/performance.md); then fewer are used.
    """
    if requested <= 1:
        return 1, ""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    n = min(requested, cores)
    why = f"this machine has {cores} core(s)" if n < requested else ""
    if lines is not None and lines < MIN_LINES_PER_WORKER * 2:
        return 1, f"{lines} lines are too few to spread over processes"
    if lines is not None:
        n2 = min(n, max(1, lines // MIN_LINES_PER_WORKER))
        if n2 < n:
            n, why = n2, f"{lines} lines are enough for {n2} worker(s)"
    return n, why


def _scored(args, scorer: Scorer, as_json: bool, workers: int):
    """Yield ``(output text, summary)`` per chunk, in input order (in parallel when ``workers`` > 1)."""
    if workers <= 1:
        for chunk in _raw_chunks(args.path, CHUNK):
            yield scorer.score_lines(chunk, as_json)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork where there is one: the workers start with the loaded composer, no re-import
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                               initargs=(scorer.config, scorer.renames, scorer.box_format))
    try:
        pending: deque = deque()
        for chunk in _raw_chunks(args.path, WORKER_CHUNK):
            pending.append(pool.submit(_worker_lines, chunk, as_json))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------
# Summary


class Summary:
    """Running means of each component and the total, and the parse-ok rate."""

    def __init__(self, names: list[str], weights: list[float]) -> None:
        self.names = names
        self.weights = weights
        self.sums = dict.fromkeys(names, 0.0)
        self.counts = dict.fromkeys(names, 0)
        self.total_sum = 0.0
        self.total_count = 0
        self.lines = 0
        self.bad = 0
        self.ok = 0

    def add(self, obj: dict) -> None:
        self.lines += 1
        if "error" in obj:
            self.bad += 1
            return
        self.ok += bool(obj["ok"])
        for name, value in obj["rewards"].items():
            if value is not None:
                self.sums[name] += value
                self.counts[name] += 1
        if obj["total"] is not None:
            self.total_sum += obj["total"]
            self.total_count += 1

    def merge(self, other: "Summary") -> None:
        """Add another summary's counts (from a chunk scored elsewhere)."""
        self.lines += other.lines
        self.bad += other.bad
        self.ok += other.ok
        for name in self.names:
            self.sums[name] += other.sums[name]
            self.counts[name] += other.counts[name]
        self.total_sum += other.total_sum
        self.total_count += other.total_count

    def table(self):
        from rich.table import Table

        scored = self.lines - self.bad
        table = Table(title="gritkit score")
        table.add_column("reward", no_wrap=True)
        table.add_column("weight", justify="right")
        table.add_column("mean", justify="right")
        table.add_column("scored", justify="right")
        table.add_column("None", justify="right")
        for name, weight in zip(self.names, self.weights):
            n = self.counts[name]
            table.add_row(name, f"{weight:g}", f"{self.sums[name] / n:.4f}" if n else "-", str(n),
                          str(scored - n))
        n = self.total_count
        table.add_row("total", "", f"{self.total_sum / n:.4f}" if n else "-", str(n), str(scored - n),
                      style="bold")
        return table

    def line(self) -> str:
        """The counts and the parse-ok rate, in one line."""
        scored = self.lines - self.bad
        rate = f"{100.0 * self.ok / scored:.1f}%" if scored else "n/a"
        return f"{self.lines} lines, {scored} scored, {self.bad} bad; parse ok {rate} ({self.ok}/{scored})"


def run(args: argparse.Namespace) -> int:
    from gritkit.commands._output import Output
    from gritkit.config import load_config, load_preset
    from gritkit.errors import ConfigError
    from gritkit.plugins import get_plugin_manager
    from gritkit.records import parse_field_renames

    config = load_preset(args.preset) if args.preset else load_config(args.config)
    if args.path != "-" and not os.path.isfile(args.path):
        raise ConfigError(f"The input file {args.path!r} does not exist (looked at {os.path.abspath(args.path)}).")
    renames = parse_field_renames(args.field)
    if args.box_format is not None:
        get_plugin_manager().get_box_format(args.box_format)  # unknown name: ConfigError, exit 2
    write_json = args.json or args.out
    out = Output(args.out, [args.path]) if write_json else None  # refuses --out onto the input, exit 2
    scorer = Scorer(config, renames, args.box_format)
    for notice in scorer.composer.notices:
        print(f"note: {notice}", file=sys.stderr)

    summary = Summary(scorer.names, scorer.composer.weights)
    from gritkit.commands._progress import count_lines, progress_bar

    big = args.path != "-" and os.path.getsize(args.path) >= PROGRESS_MIN_BYTES
    show = not args.no_progress and big and sys.stderr.isatty()
    lines = count_lines(args.path) if (show or args.workers > 1) and args.path != "-" else None
    workers, why = choose_workers(args.workers, lines)
    if why:
        print(f"note: scoring in {workers} process(es), not {args.workers}: {why}", file=sys.stderr)
    as_json = out is not None
    with progress_bar(lines if show else None, "scoring", enabled=show) as advance:
        if out is None:
            for _, part in _scored(args, scorer, False, workers):
                summary.merge(part)
                advance(part.lines)
        else:
            with out:
                for text, part in _scored(args, scorer, as_json, workers):
                    summary.merge(part)
                    out.write(text)
                    advance(part.lines)
    if not args.json:
        from rich.console import Console

        console = Console(highlight=False)
        console.print(summary.table())
        console.print(summary.line())
    if summary.bad:
        print(f"{summary.bad} of {summary.lines} lines could not be scored; their objects carry an \"error\".",
              file=sys.stderr)
    return 1 if summary.bad else 0

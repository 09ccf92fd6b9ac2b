"""`gritkit validate PATH...`: check model outputs against the grammar.

PATH is a ``.jsonl`` file (the text in field ``output``; ``--field`` to change),
a ``.txt`` file (one output), or ``-`` for standard input (JSON Lines when its
first non-blank character is ``{``, else one text output; ``--format`` decides
explicitly). Every record gets a verdict; none is skipped.

Each problem is printed as ``PATH:LINE: ...``, LINE being the record's 1-based
line in the file, followed by the position inside the output (``line L, column
C``) and a caret under it. With ``--json`` each object's ``record`` is the 0-based
record index (line - 1). Text that cannot be encoded (a lone surrogate) is
written as a ``\\uXXXX`` escape, so every line stays valid JSON.

Exit codes: 0 every record follows the grammar, 1 some do not (or a line is
not a JSON object, or lacks the field), 2 usage or I/O errors.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Iterator, Optional

NAME = "validate"
HELP = "check model outputs against the grammar (JSON Lines, text, or stdin)"
DESCRIPTION = __doc__

_TXT = (".txt", ".text", ".md")
PROGRESS_MIN_BYTES = 1 << 20  # a progress bar (on a terminal) for files from 1 MiB
_JSONL = (".jsonl", ".ndjson", ".json")


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help=".jsonl file, .txt file, or - for stdin")
    p.add_argument("--field", default="output", help="JSON Lines field holding the output (default: output)")
    p.add_argument("--grammar", default="grit",
                   help="grammar: grit (default), r1, or with renamed tags, e.g. 'grit[think=thinking]'")
    p.add_argument("--tag", action="append", default=[], metavar="SECTION=TAG",
                   help="rename a section's tag, e.g. --tag think=thinking (repeatable)")
    p.add_argument("--format", choices=("auto", "jsonl", "txt"), default="auto",
                   help="input format (default: from the file extension; stdin: sniffed)")
    p.add_argument("--json", action="store_true",
                   help="write one JSON object per input record to stdout, in input order")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")


def _num(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no infinity; the warning list says why
    return v


def result_record(index: int, result, path: Optional[str] = None) -> dict:
    """The ``--json`` object for one parsed record."""
    warnings = [{"code": d.code, "message": d.message, "line": d.line, "column": d.column}
                for d in result.deviations]
    boxes = []
    line, pos = 1, 0  # boxes come in reading order: count lines once, incrementally
    for b in result.boxes:
        coords = [_num(c) for c in b.coords]
        if None in coords:
            if b.start >= pos:
                line += result.text.count("\n", pos, b.start)
                pos = b.start
            warnings.append({"code": "non_finite_coordinate",
                             "message": f"box {b.index} has a number too large to represent; "
                                        "it is written as null", "line": line, "column": None})
        boxes.append({"coords": coords, "label": b.label, "section": b.section, "syntax": b.syntax,
                      "start": b.start, "end": b.end})
    e = result.error
    out = {
        "record": index,
        "ok": result.ok,
        "boxes": boxes,
        "sections": [{"kind": s.kind, "start": s.start, "end": s.end} for s in result.sections],
        "answer": result.answer,
        "error": None if e is None else {"line": e.line, "column": e.column, "message": e.message,
                                         "expected": list(e.expected)},
        "warnings": warnings,
    }
    if path is not None:
        out["path"] = path
    return out


def _bad_record(index: int, message: str, path: Optional[str]) -> dict:
    out = {"record": index, "ok": False, "boxes": [], "sections": [], "answer": None,
           "error": {"line": None, "column": None, "message": message, "expected": []},
           "warnings": []}
    if path is not None:
        out["path"] = path
    return out


def _sniff_stdin() -> tuple[str, bytes]:
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    head = data.lstrip()[:1]
    return ("jsonl" if head == b"{" else "txt"), data


def _records(path: str, fmt: str, field: str) -> Iterator[tuple[int, Optional[str], Optional[str]]]:
    """Yield ``(index, text, problem)`` for every record of ``path``."""
    import io as _io

    from gritkit.errors import DataError
    from gritkit.io import read_records

    stream = None
    if path == "-":
        sniffed, data = _sniff_stdin()
        fmt = sniffed if fmt == "auto" else fmt
        stream = _io.BytesIO(data)
    elif fmt == "auto":
        ext = os.path.splitext(path)[1].lower()
        if ext in _TXT:
            fmt = "txt"
        elif ext in _JSONL:
            fmt = "jsonl"
        else:
            raise DataError(
                f"Cannot tell the format of {path!r} from its extension {ext or '(none)'!r}.\n"
                "Expected .jsonl (one JSON object per line) or .txt (one output); "
                "pass --format jsonl or --format txt.")
    if fmt == "txt":
        if stream is None:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise DataError(f"Cannot read {path!r}: {exc.strerror or exc}.") from exc
        else:
            data = stream.getvalue()
        yield 0, data.decode("utf-8", errors="replace"), None
        return
    for line in read_records(stream if stream is not None else path):
        if line.error is not None:
            yield line.index, None, line.error
        elif field not in line.record:
            keys = ", ".join(sorted(line.record)[:8]) or "(none)"
            yield line.index, None, (f"line {line.line}: no field {field!r} (fields: {keys}); "
                                     "pass --field NAME to read another field")
        elif not isinstance(line.record[field], str):
            yield line.index, None, (f"line {line.line}: field {field!r} is "
                                     f"{type(line.record[field]).__name__}, expected a string")
        else:
            yield line.index, line.record[field], None


def run(args) -> int:
    from gritkit.commands._output import Output
    from gritkit.commands._progress import count_lines, progress_bar
    from gritkit.errors import DataError, GrammarError
    from gritkit.grammar import load_grammar, parse_grammar_spec

    tags = {}
    for item in args.tag:
        if "=" not in item:
            raise GrammarError(f"--tag {item!r}: expected SECTION=TAG, e.g. --tag think=thinking")
        k, v = item.split("=", 1)
        tags[k.strip()] = v.strip()
    base, spec_tags = parse_grammar_spec(args.grammar)
    grammar = load_grammar(base, {**spec_tags, **tags})
    multi = len(args.paths) > 1
    n_ok = n_bad = 0
    with Output(None) as out:  # write errors name standard output; reading errors name the file
        for path in args.paths:
            if path != "-" and not os.path.exists(path):
                raise DataError(f"No such file: {path!r}.")
            if path != "-" and os.path.isdir(path):
                raise DataError(f"{path!r} is a folder; expected a .jsonl or .txt file, or - for stdin.")
            show = path != "-" and sys.stderr.isatty() and os.path.getsize(path) >= PROGRESS_MIN_BYTES
            with progress_bar(count_lines(path) if show else None, "validating", enabled=show) as advance:
                n_ok, n_bad = _validate(path, args, grammar, multi, out, advance, n_ok, n_bad)
        if not args.json:
            out.write(f"{n_ok} valid, {n_bad} invalid\n")
    return 0 if n_bad == 0 else 1


def _validate(path, args, grammar, multi, out, advance, n_ok, n_bad) -> tuple[int, int]:
    """Validate every record of one input; return the updated valid/invalid counts."""
    from gritkit.parsing import try_parse

    for index, text, problem in _records(path, args.format, args.field):
        advance(1)
        if problem is not None:
            n_bad += 1
            if args.json:
                out.write(json.dumps(_bad_record(index, problem, path if multi else None),
                                     ensure_ascii=False) + "\n")
            elif not args.quiet:
                out.write(f"{path}:{index + 1}: {problem}\n")
            continue
        r = try_parse(text, grammar)
        if r.ok:
            n_ok += 1
        else:
            n_bad += 1
        if args.json:
            out.write(json.dumps(result_record(index, r, path if multi else None),
                                 ensure_ascii=False) + "\n")
        elif not r.ok and not args.quiet:
            e = r.error
            out.write(f"{path}:{index + 1}: line {e.line}, column {e.column}: {e.message}\n{e.snippet}\n")
    return n_ok, n_bad

"""Reading JSON Lines without ever skipping a record.

:func:`read_jsonl` yields one :class:`Line` per line of the input, so the
output of a command can keep one entry per input line, in order, and a bad line
is reported in place rather than dropped:

* a line that is valid JSON and an object: ``record`` is the dict, ``error`` is ``None``;
* a line that is not valid JSON, not an object, not valid UTF-8, or blank
  (empty or only whitespace): ``record`` is ``None`` and ``error`` says why;
* the newline that ends the last line does not start another (empty) record,
  so a file of N lines, with or without a final newline, gives N entries.

A UTF-8 byte-order mark at the very start is ignored, and ``\\r\\n`` line endings
are accepted. ``"-"`` reads standard input.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import IO, NamedTuple, Optional, Union

Source = Union[str, os.PathLike, IO[bytes], IO[str]]


class Line(NamedTuple):
    """One line of a JSON Lines input.

    Attributes:
        index: the 0-based line index (the record number).
        record: the JSON object, or ``None`` for a bad line.
        error: why the line is bad, or ``None``.
    """

    index: int
    record: Optional[dict]
    error: Optional[str]

    @property
    def line(self) -> int:
        """The 1-based line number."""
        return self.index + 1

    @property
    def problem(self) -> str:
        """:attr:`error` without its ``line N:`` prefix (``""`` for a good line)."""
        if not self.error:
            return ""
        prefix = f"line {self.index + 1}: "
        return self.error[len(prefix):] if self.error.startswith(prefix) else self.error


def parse_line(raw: Union[bytes, str], index: int = 0) -> Line:
    """Turn one raw line (without its newline) into a :class:`Line`.

    >>> parse_line(b'{"output": "x"}')
    Line(index=0, record={'output': 'x'}, error=None)
    >>> parse_line(b'[1, 2]').error
    'line 1: expected a JSON object ({...}), got a list'
    >>> parse_line(b'   ', 4).error
    'line 5: blank line; expected a JSON object'
    """
    where = f"line {index + 1}"
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = raw[exc.start:exc.start + 1]
            return Line(index, None, f"{where}: not valid UTF-8 (byte {exc.start}: {byte!r})")
    else:
        text = raw
    if index == 0 and text.startswith("\ufeff"):
        text = text[1:]
    if text.endswith("\r"):
        text = text[:-1]
    if not text.strip():
        return Line(index, None, f"{where}: blank line; expected a JSON object")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Line(index, None, f"{where}: not valid JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return Line(index, None, f"{where}: not valid JSON: nested too deeply")
    if not isinstance(value, dict):
        kind = {list: "a list", str: "a string", bool: "a boolean", type(None): "null",
                int: "a number", float: "a number"}.get(type(value), type(value).__name__)
        return Line(index, None, f"{where}: expected a JSON object ({{...}}), got {kind}")
    return Line(index, value, None)


def _binary(stream: IO) -> IO[bytes]:
    return getattr(stream, "buffer", stream)


def read_jsonl(source: Source) -> Iterator[Line]:
    """Yield one :class:`Line` per line of a JSON Lines file; never skips one.

    Args:
        source: a path, ``"-"`` for standard input, or an open file (binary or text).

    Yields:
        ``Line(index, record, error)`` for every line, in order.

    Raises:
        OSError: the file cannot be opened (reading errors inside lines are
            reported per line instead).

    >>> import io
    >>> [tuple(x) for x in read_jsonl(io.BytesIO(b'{"a": 1}\\nnope\\n\\n{"b": 2}\\n'))]
    [(0, {'a': 1}, None), (1, None, 'line 2: not valid JSON: Expecting value at column 1'), (2, None, 'line 3: blank line; expected a JSON object'), (3, {'b': 2}, None)]
    """
    for index, raw in read_raw_lines(source):
        yield parse_line(raw, index)


def _raw_lines(stream: IO) -> Iterator[tuple[int, Union[bytes, str]]]:
    index = 0
    for raw in stream:
        if isinstance(raw, bytes):
            raw = raw[:-1] if raw.endswith(b"\n") else raw
        else:
            raw = raw[:-1] if raw.endswith("\n") else raw
        yield index, raw
        index += 1


def read_raw_lines(source: Source) -> Iterator[tuple[int, Union[bytes, str]]]:
    """``(index, raw line without its newline)`` for every line: what :func:`read_jsonl` parses
    with :func:`parse_line`, for callers that parse elsewhere (``gritkit score``'s worker processes).

    Raises:
        OSError: the file cannot be opened.
    """
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "-":
            yield from _raw_lines(_binary(sys.stdin))
            return
        with open(source, "rb") as fh:
            yield from _raw_lines(fh)
        return
    yield from _raw_lines(source)


def read_records(source: Source) -> Iterator[Line]:
    """:func:`read_jsonl` for commands: a file that cannot be opened or read is a
    :class:`~gritkit.errors.DataError` that names it and says what to check.

    Errors while writing output are never reported here: the reading stops at the
    file, so a closed pipe or a full disk downstream cannot pass for a read error.
    """
    yield from _guarded(read_jsonl(source), source)


def read_raw_records(source: Source) -> Iterator[tuple[int, Union[bytes, str]]]:
    """:func:`read_raw_lines` with :func:`read_records`' errors."""
    yield from _guarded(read_raw_lines(source), source)


def _guarded(it: Iterator, source: Source) -> Iterator:
    from gritkit.errors import DataError

    name = "standard input" if isinstance(source, str) and source == "-" else (
        os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "the input"))
    while True:
        try:
            line = next(it)
        except StopIteration:
            return
        except IsADirectoryError:
            raise DataError(f"Cannot read {name}: it is a folder; expected a JSON Lines file "
                            "(one JSON object per line).") from None
        except OSError as exc:
            raise DataError(f"Cannot read {name}: {exc.strerror or exc}.\n"
                            "Check the path; expected a JSON Lines file (one JSON object per line).") from exc
        yield line

"""Writing command output that never loses a record and never fails on its text.

* Text that cannot be encoded (a lone surrogate such as ``"\\ud83d"``, legal in JSON
  and common in truncated model output) is written as a ``\\uXXXX`` escape: inside
  a JSON string that is the same character, so every output line stays valid JSON
  and nothing is dropped. The CLI sets this on standard output and standard error
  too (:func:`robust_std_streams`).
* An output file is never one of the inputs: naming an input as ``--out`` is refused
  before anything is written. The file is written to a temporary file beside it and
  renamed into place when the command ends, so a failed run never leaves a
  truncated file under the final name.
* A failed write (a full disk, ``/dev/full``) is a :class:`~gritkit.errors.DataError`
  that names the output and what failed; a closed pipe (``| head``) is left to the
  CLI, which ends quietly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Optional

from gritkit.errors import DataError

ERRORS = "backslashreplace"


def robust_std_streams() -> None:
    """Make standard output and error write any text (unencodable characters escaped)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors=ERRORS)
            except (ValueError, OSError):  # pragma: no cover - a detached or odd stream
                pass


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (``False`` when either does not exist)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


class Output:
    """Where a command writes its records: a file (``--out``) or standard output.

    Use it as a context manager; :meth:`write` writes one piece of text. A file is
    renamed into place only when the block ends without an exception.

    Raises:
        DataError: ``path`` is one of ``inputs``, a folder, or cannot be created or
            written; the message names it and says what failed.
    """

    def __init__(self, path: Optional[str], inputs: Iterable[str] = (), *, what: str = "--out") -> None:
        self.path = None if path in (None, "-") else os.fspath(path)
        self.name = "standard output" if self.path is None else self.path
        self._tmp: Optional[str] = None
        if self.path is None:
            self.stream: IO[str] = sys.stdout
            return
        for source in inputs:
            if source != "-" and same_file(self.path, source):
                raise DataError(f"{what} {self.path!r} is the input file; writing it would destroy the input.\n"
                                "Write the output to another file.")
        if os.path.isdir(self.path):
            raise DataError(f"Cannot write {what} {self.path!r}: it is a folder; give a file name.")
        import tempfile

        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=".gritkit-", suffix=".tmp", dir=folder)
            self.stream = os.fdopen(fd, "w", encoding="utf-8", errors=ERRORS, newline="\n")
        except OSError as exc:
            raise DataError(f"Cannot write {what} {self.path!r}: {exc.strerror or exc}.\n"
                            "Check that its folder exists and is writable.") from None

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> DataError:
        return DataError(f"Cannot write {self.name}: {exc.strerror or exc}.")

    def __enter__(self) -> "Output":
        return self

    def __exit__(self, kind, value, tb) -> None:
        try:
            if self._tmp is None:
                try:
                    self.stream.flush()
                except BrokenPipeError:
                    raise
                except OSError as exc:
                    if kind is None:
                        raise self._failed(exc) from None
                return
            try:
                self.stream.close()
                if kind is None:
                    os.replace(self._tmp, self.path)
                    self._tmp = None
            except OSError as exc:
                if kind is None:
                    raise self._failed(exc) from None
        finally:
            if self._tmp is not None:
                try:
                    os.unlink(self._tmp)
                except OSError:
                    pass

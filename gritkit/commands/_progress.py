"""Progress bars for the commands that read long files (shown only on a terminal)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional, Union


@contextlib.contextmanager
def progress_bar(total: Optional[int], description: str, *, enabled: Optional[bool] = None
                 ) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (only when stderr is a terminal); yields ``advance(n)``."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)


def count_lines(path: Union[str, Path]) -> Optional[int]:
    """The number of lines of a file (for a progress bar), or ``None`` if unknown."""
    try:
        with open(path, "rb") as fh:
            n = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
            fh.seek(0, 2)
            if fh.tell():
                fh.seek(-1, 2)
                n += fh.read(1) != b"\n"
            return n
    except OSError:
        return None

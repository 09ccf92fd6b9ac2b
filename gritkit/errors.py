"""The one error hierarchy of gritkit.

Library code raises these; only the command line prints them and turns them into
exit codes. Every message follows one template: what happened, where, what was
expected, and how to fix it. The first line is a complete sentence; context
follows on separate lines.

    GritError
    ├── GritSyntaxError     (also a ValueError) a completion does not follow the grammar
    ├── GrammarError        a grammar name, tag renaming or grammar file is wrong
    ├── ConfigError         a reward config, preset, option or column map is wrong
    ├── PluginError         a plugin failed to load or registered something invalid
    ├── RewardError         a reward raised while scoring (cause chained)
    └── DataError           an input file or record is unusable
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GritError(Exception):
    """Base class of every error gritkit raises on purpose."""


class GritSyntaxError(GritError, ValueError):
    """A completion does not follow the grammar.

    Attributes:
        line: 1-based line of the first error.
        column: 1-based column of the first error.
        offset: 0-based character offset of the first error.
        expected: readable names of what the grammar allowed there.
        label: a short name of the kind of error, e.g. ``"unclosed <think>"``.
        context: a caret snippet pointing at the error.
        result: the best-effort :class:`~gritkit.models.ParseResult`.
    """

    def __init__(self, message: str, *, line: int, column: int, offset: int,
                 expected: tuple[str, ...] = (), label: str = "", context: str = "",
                 result=None):
        super().__init__(message)
        self.line = line
        self.column = column
        self.offset = offset
        self.expected = tuple(expected)
        self.label = label
        self.context = context
        self.result = result


class GrammarError(GritError):
    """A grammar name, a tag renaming or a grammar file is wrong."""


class ConfigError(GritError):
    """A reward config, preset, option or column mapping is wrong."""


class PluginError(GritError):
    """A plugin failed to load, or registered something invalid."""


class RewardError(GritError):
    """A reward function raised while scoring; the cause is chained."""


class DataError(GritError):
    """An input file or record cannot be used."""


def unknown_name_message(kind: str, name: str, available: Iterable[str], hint: str = "") -> str:
    """Build the "Unknown X 'y'. Did you mean 'z'? Available: ..." message.

    >>> unknown_name_message("reward", "iuo", ["iou", "format"])
    "Unknown reward 'iuo'. Did you mean 'iou'? Available: format, iou."
    """
    names = sorted(set(available))
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    msg = f"Unknown {kind} {name!r}."
    if close:
        msg += f" Did you mean {close[0]!r}?"
    msg += f" Available: {', '.join(names) if names else '(none)'}."
    if hint:
        msg += " " + hint
    return msg

"""The `gritkit` command line.

Exit codes: 0 success (every record valid), 1 some records invalid or failed,
2 usage, configuration or I/O errors. Only this module prints errors and picks
exit codes; library code raises :class:`gritkit.errors.GritError`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

from gritkit import __version__
from gritkit.commands import COMMANDS


def _load_command(name: str):
    return importlib.import_module(f"gritkit.commands.{name.replace('-', '_')}")


def _wanted(argv: Optional[Sequence[str]]) -> Optional[str]:
    """The subcommand named in ``argv``, if any (the first word that is not an option or its value)."""
    args = list(sys.argv[1:] if argv is None else argv)
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-p", "--plugin"):
            i += 2
            continue
        if a.startswith("-"):
            if a in ("-h", "--help", "--version"):
                return None
            i += 1
            continue
        return a if a in COMMANDS else None
    return None


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The whole parser; given ``argv`` that names a command, only that command's module is
    imported (the others get a bare entry), which keeps start-up short."""
    wanted = _wanted(argv) if argv is not None or len(sys.argv) > 1 else None
    parser = argparse.ArgumentParser(
        prog="gritkit",
        description="Parse, validate, score, train and evaluate VLM outputs that think with images (GRIT).",
    )
    parser.add_argument("--version", action="version", version=f"gritkit {__version__}")
    parser.add_argument(
        "-p", "--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
        help="load a plugin from a .py file or an importable module without packaging it "
             "(repeatable; the same as GRITKIT_PLUGINS)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if wanted is not None and name != wanted:
            sub.add_parser(name)
            continue
        mod = _load_command(name)
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _quiet_stdout() -> None:
    # After a closed pipe, point stdout at /dev/null so the interpreter's final flush
    # does not print "Exception ignored ... BrokenPipeError".
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no real stdout
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    from gritkit.commands._output import robust_std_streams
    from gritkit.errors import GritError

    robust_std_streams()
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    if args.plugin:
        existing = os.environ.get("GRITKIT_PLUGINS", "")
        extra = ",".join(args.plugin)
        os.environ["GRITKIT_PLUGINS"] = f"{existing},{extra}" if existing else extra
        try:
            from gritkit.plugins import reset_plugin_manager
            reset_plugin_manager()
        except ImportError:
            pass
    try:
        return int(args._run(args) or 0)
    except GritError as exc:
        print(f"gritkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): end quietly
        _quiet_stdout()
        return 1
    except KeyboardInterrupt:
        print(f"gritkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

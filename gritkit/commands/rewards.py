"""`gritkit rewards`: every registered reward, the plugin that registered it, and its options."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "rewards"
HELP = "list the registered rewards and the plugin each comes from"
DESCRIPTION = """\
List every reward a config can name, with the plugin that registered it and a
one-line description. --verbose adds each reward's options with their types,
defaults and descriptions, and whether it is batched or async.

examples:
  gritkit rewards
  gritkit rewards --verbose
  gritkit -p my_reward.py rewards
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show each reward's options (type, default, description)")


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    if text is None:
        text = str(annotation).replace("typing.", "")
    return text


def _indent(text: str, by: int, width: int) -> str:
    import textwrap

    from rich.markup import escape

    pad = " " * by
    return escape(textwrap.fill(text, width=max(40, width), initial_indent=pad, subsequent_indent=pad,
                                break_on_hyphens=False))


def option_rows(model) -> list[tuple[str, str, str, str]]:
    """``(name, type, default, description)`` of each field of an options model."""
    from pydantic_core import PydanticUndefined

    rows = []
    for name, field in model.model_fields.items():
        if field.default is PydanticUndefined:
            default = "(required)" if field.default_factory is None else repr(field.default_factory())
        else:
            default = repr(field.default)
        rows.append((name, _type_name(field.annotation), default, (field.description or "").strip()))
    return rows


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from gritkit.plugins import get_plugin_manager

    pm = get_plugin_manager()
    console = Console(highlight=False)
    if not args.verbose:
        table = Table(title=f"{len(pm.rewards.entries)} rewards")
        table.add_column("reward", no_wrap=True, style="bold")
        table.add_column("plugin", no_wrap=True)
        table.add_column("description", overflow="fold")
        for name in pm.rewards.names():
            info = pm.rewards.entries[name]
            table.add_row(name, escape(info.plugin), escape(info.description or "(no description)"))
        console.print(table)
    else:
        console.print(f"[bold]{len(pm.rewards.entries)} rewards[/bold]")
        for name in pm.rewards.names():
            info = pm.rewards.entries[name]
            kind = "".join(f", {k}" for k, on in (("batched", info.batched), ("async", info.is_async)) if on)
            console.print(f"\n[bold]{name}[/bold]  (plugin {escape(info.plugin)}{kind})")
            console.print(_indent(info.description or "(no description)", 2, console.width), soft_wrap=True)
            rows = option_rows(info.options) if info.options is not None else []
            if not rows:
                console.print("  options: none")
            for n, t, d, desc in rows:
                console.print(f"  [cyan]{n}[/cyan]: {escape(t)} = {escape(d)}")
                if desc:
                    console.print(_indent(desc, 6, console.width), soft_wrap=True)
    for failure in pm.failures:
        console.print(f"[red]failed:[/red] {escape(failure.message)}")
    return 0

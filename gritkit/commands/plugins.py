"""`gritkit plugins`: every loaded plugin, its version, hooks and registrations, and failures."""

from __future__ import annotations

import argparse

NAME = "plugins"
HELP = "list the loaded plugins, what each registered, and plugins that failed to load"
DESCRIPTION = """\
List every plugin gritkit loaded (built-ins, installed distributions through the
`gritkit` entry-point group, and local files from GRITKIT_PLUGINS or -p), its
version, the hooks it implements and the rewards and box formats it registered;
then the plugins that failed to load (with the cause) or were disabled.

Loading is controlled by GRITKIT_LOAD_PLUGINS ('' for no installed plugins, or a
comma list of distributions), GRITKIT_DISABLE_PLUGINS, GRITKIT_PLUGINS and
GRITKIT_TRACE_PLUGINS=1 (see docs/plugins.md).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from rich.console import Console
    from rich.markup import escape

    from gritkit.plugins import get_plugin_manager

    records = get_plugin_manager().plugin_records()
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in records], indent=2))
        return 0
    console = Console(highlight=False)
    loaded = [r for r in records if not r.error and not r.blocked]
    console.print(f"[bold]{len(loaded)} plugins loaded[/bold]")
    for r in records:
        version = f"{r.distribution} {r.version}" if r.distribution and r.version else (r.version or "no version")
        console.print(f"\n[bold]{escape(r.name)}[/bold]  ({r.kind}, {escape(version)})")
        if r.module and r.module != r.name:
            console.print(f"  module: {escape(r.module)}")
        if r.error:
            console.print(f"  [red]failed:[/red] {escape(r.error)}")
            continue
        if r.blocked:
            console.print("  [yellow]disabled[/yellow] by GRITKIT_DISABLE_PLUGINS")
            continue
        console.print(f"  hooks: {', '.join(r.hooks) or '(none)'}")
        if r.rewards:
            console.print(f"  rewards: {', '.join(r.rewards)}")
        if r.box_formats:
            console.print(f"  box formats: {', '.join(r.box_formats)}")
        if not r.rewards and not r.box_formats:
            console.print("  registered nothing")
    return 0

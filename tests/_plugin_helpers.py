"""Helpers shared by the plugin, CLI and testing-plugin tests (not a test module)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "gritkit-example"
GOOD = "<think>a cat (1, 2, 30, 40)</think><rethink>yes</rethink><answer>2</answer>"


def fake_distribution(root: Path, name: str, version: str, entry_points: dict[str, str],
                      files: dict[str, str] | None = None) -> Path:
    """Write ``<name>-<version>.dist-info`` with entry points in the ``gritkit`` group
    (and module files) under ``root``, as an installed distribution looks on sys.path."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[gritkit]\n{lines}")
    for filename, text in (files or {}).items():
        (root / filename).write_text(text)
    return root


def install_example(root: Path) -> Path:
    """The example plugin as an installed distribution under ``root`` (no pip)."""
    fake_distribution(root, "gritkit-example", "0.1.0", {"center_hit": "gritkit_center"})
    shutil.copy(EXAMPLE / "gritkit_center.py", root / "gritkit_center.py")
    return root


def forget_modules(*names: str) -> None:
    for name in names:
        sys.modules.pop(name, None)

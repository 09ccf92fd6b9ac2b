"""`pip install .` gives a working package: grammars and built-in plugins ship in the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = r"""
import importlib.resources, json, sys
import gritkit, gritkit.builtin
assert gritkit.__file__.startswith(sys.argv[1]), gritkit.__file__
assert gritkit.builtin.__file__.startswith(sys.argv[1]), gritkit.builtin.__file__
grammars = sorted(p.name for p in importlib.resources.files("gritkit.grammars").iterdir() if p.name.endswith(".lark"))
r = gritkit.try_parse("<think>zebra (200, 168, 248, 202)</think><rethink>ok</rethink><answer>1")
from gritkit.plugins import get_plugin_manager
rewards = get_plugin_manager().rewards.names()
from gritkit.cli import build_parser
commands = sorted(build_parser()._subparsers._group_actions[0].choices)
print(json.dumps({"grammars": grammars, "ok": r.ok, "boxes": len(r.boxes), "rewards": rewards,
                  "commands": commands}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "-w", str(out), str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("gritkit-*.whl")
    return whl


def test_wheel_contains_grammars_and_builtin_plugins(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "gritkit/grammars/grit.lark" in names and "gritkit/grammars/r1.lark" in names
    assert "gritkit/grammars/box_syntax.lark" in names
    assert any(n.startswith("gritkit/builtin/") and n.endswith(".py") for n in names)
    assert any(n.startswith("gritkit/presets/") for n in names)
    from gritkit.commands import COMMANDS

    for command in COMMANDS:
        assert f"gritkit/commands/{command}.py" in names


def test_installed_wheel_parses_and_loads_builtins(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                           str(target), str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    env = {**os.environ, "PYTHONPATH": str(target), "GRITKIT_LOAD_PLUGINS": ""}
    proc = subprocess.run([sys.executable, "-c", CHECK, str(target)], capture_output=True, text=True,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    import json

    info = json.loads(proc.stdout)
    assert {"grit.lark", "r1.lark"} <= set(info["grammars"])
    assert info["ok"] and info["boxes"] == 1
    assert {"format", "iou", "answer_match", "box_in_image"} <= set(info["rewards"])
    from gritkit.commands import COMMANDS

    assert info["commands"] == sorted(COMMANDS)

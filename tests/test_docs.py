"""The docs cannot drift from the code: hooks, presets and config keys."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from gritkit import hookspecs
from gritkit.records import ColumnMap
from gritkit.config import GateSpec, RewardConfig, RewardSpec, list_presets, load_preset
from gritkit.plugins import isolated_plugin_manager

DOCS = Path(__file__).resolve().parents[1] / "docs"
SPECS = {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "gritkit_spec")}


def headings(path: Path) -> list[str]:
    return [line[3:].strip() for line in path.read_text().splitlines() if line.startswith("## ")]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_is_documented_with_its_real_arguments(name):
    args = ", ".join(inspect.signature(SPECS[name]).parameters)
    assert f"{name}({args})" in headings(DOCS / "plugin-hooks.md"), \
        f"docs/plugin-hooks.md needs a heading '## {name}({args})'"


def test_no_documented_hook_is_missing_from_the_specs():
    documented = {h.split("(")[0] for h in headings(DOCS / "plugin-hooks.md") if "(" in h}
    assert documented == set(SPECS)


def test_hook_examples_in_the_docs_run():
    """Every ```python block of plugin-hooks.md that defines a hookimpl is a working plugin."""
    import types

    from gritkit.plugins import build_plugin_manager

    text = (DOCS / "plugin-hooks.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "@gritkit.hookimpl" in b]
    assert len(blocks) == len(SPECS)
    for i, block in enumerate(blocks):
        module = types.ModuleType(f"doc_example_{i}")
        exec(compile(block, f"docs/plugin-hooks.md block {i}", "exec"), module.__dict__)
        pm = build_plugin_manager(builtins=False, entry_points=False, plugins=[module])
        assert pm.rewards.entries or pm.box_formats.entries


def test_every_preset_reward_exists_with_valid_options():
    with isolated_plugin_manager() as pm:
        for preset in list_presets():
            for spec in load_preset(preset).rewards:
                pm.get_reward(spec.name).make_options(spec.options)
                if spec.fallback not in (None, "skip"):
                    pm.get_reward(spec.fallback).make_options(spec.fallback_options)


def test_every_preset_and_its_components_are_documented():
    text = (DOCS / "configuration.md").read_text()
    for preset in list_presets():
        assert f"### `{preset}`" in text
        section = text.split(f"### `{preset}`", 1)[1].split("\n### ", 1)[0]
        for spec in load_preset(preset).rewards:
            assert f"| `{spec.component}` |" in section, f"{preset}: component {spec.component} undocumented"


def test_every_config_key_is_documented():
    text = (DOCS / "configuration.md").read_text()
    for model in (RewardConfig, RewardSpec, GateSpec, ColumnMap):
        for name, field in model.model_fields.items():
            key = field.alias or name
            assert f"`{key}`" in text, f"docs/configuration.md does not mention {model.__name__}.{key}"


def test_env_vars_are_documented():
    import gritkit.plugins as plugins

    text = (DOCS / "plugins.md").read_text()
    for var in (plugins.ENV_LOAD, plugins.ENV_DISABLE, plugins.ENV_PLUGINS, plugins.ENV_TRACE):
        assert f"`{var}" in text


def test_the_plugin_in_the_docs_is_the_example_plugin():
    doc = (DOCS / "plugins.md").read_text()
    block = re.search(r"```python\n(import gritkit\n.*?)```", doc, re.S).group(1)
    example = (DOCS.parent / "examples" / "gritkit-example" / "gritkit_center.py").read_text()
    assert block.strip() in example
    assert len([line for line in block.splitlines() if line.strip()]) <= 17

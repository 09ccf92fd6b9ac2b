"""The ``>>>`` examples in the built-in reward plugins and gritkit.coords run, so they cannot rot."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gritkit.builtin
from gritkit.errors import ConfigError

MODULES = ["gritkit.coords"] + sorted(
    f"gritkit.builtin.{m.name}" for m in pkgutil.iter_modules(gritkit.builtin.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


@pytest.mark.parametrize("name", ["gritkit.records", "gritkit.boxes", "gritkit.registry", "gritkit.compose",
                                  "gritkit.io"])
def test_core_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0, f"{result.failed} doctest(s) failed in {name}"


def test_every_builtin_module_but_helpers_is_a_plugin():
    from gritkit.plugins import default_plugins

    plugins = set(default_plugins())
    for name in MODULES[1:]:
        short = name.rsplit(".", 1)[1]
        module = importlib.import_module(name)
        if short.startswith("_"):
            assert name not in plugins
        else:
            assert name in plugins
            assert hasattr(module, "register_rewards") or hasattr(module, "register_box_formats"), name


def test_every_builtin_reward_is_registered_with_options_and_a_description():
    pm = gritkit.get_plugin_manager()
    expected = {"format", "count", "answer_match", "bleu", "judge", "iou", "box_in_image", "repetition",
                "length", "answer_format", "think_format", "grounded_format"}
    assert expected <= set(pm.rewards.names())
    for name in expected:
        info = pm.rewards.get(name)
        assert info.plugin.startswith("gritkit.builtin.") and info.description
        assert info.options is not None
        info.make_options({})   # defaults validate
        for field_name, field in info.options.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"
        with pytest.raises(ConfigError):
            info.make_options({"no_such_option": 1})


def test_every_option_is_documented():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "rewards.md").read_text(encoding="utf-8")
    pm = gritkit.get_plugin_manager()
    for name in pm.rewards.names():
        info = pm.rewards.get(name)
        if not info.plugin.startswith("gritkit.builtin."):
            continue
        assert f"`{name}`" in docs or f"## {name}" in docs, f"reward {name} is not in docs/rewards.md"
        for option in (info.options.model_fields if info.options else ()):
            assert f"`{option}`" in docs, f"option {name}.{option} is not in docs/rewards.md"


def test_every_box_format_is_documented():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "coordinates.md").read_text(encoding="utf-8")
    for name, info in gritkit.get_plugin_manager().box_formats.entries.items():
        if info.plugin.startswith("gritkit.builtin."):
            assert f"`{name}`" in docs, f"box format {name} is not in docs/coordinates.md"

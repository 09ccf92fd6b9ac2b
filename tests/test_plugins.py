"""The plugin manager: hooks, loading order and rules, env vars, failures, isolation."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types
import warnings

import pytest

import gritkit
from gritkit import hookspecs
from gritkit.errors import ConfigError, PluginError
from gritkit.plugins import (GritPluginManager, PluginLoadWarning, build_plugin_manager, default_plugins,
                             get_plugin_manager, isolated_plugin_manager, manager_from_environment,
                             reset_plugin_manager)

from _plugin_helpers import ROOT, fake_distribution, forget_modules, install_example



def always_one(result, sample):
    return 1.0


def always_nine(result, sample):
    return 9.0


def module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


def reward_plugin(name: str, *rewards: str) -> types.ModuleType:
    """A plugin module registering ``rewards`` (each returns its name's length)."""
    def make(r):
        def fn(result, sample):
            return float(len(r))
        fn.__name__ = r
        return fn

    @gritkit.hookimpl
    def register_rewards(register):
        for r in rewards:
            register(make(r), name=r, description=f"{r} from {name}")

    return module(name, register_rewards=register_rewards)


# -- one test per hook ------------------------------------------------------------------


def test_hook_register_rewards():
    from pydantic import BaseModel, ConfigDict

    class Opts(BaseModel):
        model_config = ConfigDict(extra="forbid")
        bonus: float = 2.0

    def bonus(result, sample, options):
        return options.bonus * len(result.boxes)

    @gritkit.hookimpl
    def register_rewards(register):
        register.reward(bonus, options=Opts, description="  boxes times a bonus  ")
        register(always_one, name="one", batched=False)

    plugin = module("my_rewards", register_rewards=register_rewards)
    with isolated_plugin_manager(builtins=False, plugins=[plugin]) as pm:
        info = pm.rewards.get("bonus")
        assert (info.plugin, info.options, info.description) == ("my_rewards", Opts, "boxes times a bonus")
        assert pm.rewards.get("one").plugin == "my_rewards"
        composer = gritkit.Composer({"rewards": [{"name": "bonus", "options": {"bonus": 3}}, {"name": "one"}]})
        s = composer.score("<think>(1, 2, 3, 4) (5, 6, 7, 8)</think><rethink>.</rethink><answer>2</answer>")
        assert s.rewards == {"bonus": 6.0, "one": 1.0}
        assert s.total == 7.0


def test_hook_register_box_formats():
    @gritkit.hookimpl
    def register_box_formats(register):
        register("yxyx", lambda c, s: (c[1], c[0], c[3], c[2]), description="y before x")

    with isolated_plugin_manager(builtins=False, plugins=[module("yx", register_box_formats=register_box_formats)]) \
            as pm:
        info = pm.get_box_format("yxyx")
        assert info.plugin == "yx" and info.description == "y before x"
        assert info.to_pixels((1, 2, 3, 4), None) == (2, 1, 4, 3)
        record = next(r for r in pm.plugin_records() if r.name == "yx")
        assert record.box_formats == ("yxyx",) and record.hooks == ("register_box_formats",)


def test_every_hookspec_has_a_test():
    specs = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(fn, "gritkit_spec")]
    assert specs == ["register_box_formats", "register_rewards"]
    tests = {name for name in globals() if name.startswith("test_hook_")}
    missing = [s for s in specs if f"test_hook_{s}" not in tests]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


# -- import and discovery -----------------------------------------------------------------


def test_importing_gritkit_loads_no_plugin():
    code = ("import sys, gritkit; "
            "print(sorted(m for m in sys.modules if m.startswith(('gritkit.', 'pluggy', 'gritkit_'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_builtins_are_found_by_listing_the_package():
    expected = sorted(p.stem for p in (ROOT / "plugins").glob("*.py")
                      if not p.stem.startswith(("_", "test", "conftest")))
    assert [n.rsplit(".", 1)[1] for n in default_plugins()] == expected
    import gritkit.plugins as plugins_module

    assert plugins_module.DEFAULT_PLUGINS == default_plugins()


def test_a_new_builtin_module_is_picked_up(tmp_path, monkeypatch):
    import gritkit.builtin

    (tmp_path / "zz_extra.py").write_text(
        "import gritkit\n\n"
        "def extra(result, sample):\n    return 0.25\n\n"
        "@gritkit.hookimpl\ndef register_rewards(register):\n    register(extra, name='zz_extra')\n")
    (tmp_path / "_private.py").write_text("raise RuntimeError('not a plugin')\n")
    monkeypatch.setattr(gritkit.builtin, "__path__", [*gritkit.builtin.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "gritkit.builtin.zz_extra", raising=False)
    try:
        assert "gritkit.builtin.zz_extra" in default_plugins()
        with isolated_plugin_manager() as pm:
            assert pm.rewards.get("zz_extra").plugin == "gritkit.builtin.zz_extra"
            record = next(r for r in pm.plugin_records() if r.name == "gritkit.builtin.zz_extra")
            assert record.kind == "builtin" and record.distribution == "gritkit"
    finally:
        forget_modules("gritkit.builtin.zz_extra")


def test_a_broken_builtin_is_an_error(tmp_path, monkeypatch):
    import gritkit.builtin

    (tmp_path / "zz_broken.py").write_text("import no_such_module_xyz\n")
    monkeypatch.setattr(gritkit.builtin, "__path__", [*gritkit.builtin.__path__, str(tmp_path)])
    try:
        with pytest.raises(PluginError, match="built-in plugin 'gritkit.builtin.zz_broken' failed") as info:
            build_plugin_manager(entry_points=False)
        assert "GRITKIT_DISABLE_PLUGINS=zz_broken" in str(info.value)
        assert isinstance(info.value.__cause__, ModuleNotFoundError)
        pm = build_plugin_manager(entry_points=False, disable=["zz_broken"])  # disabling it is the way out
        assert any(r.blocked and r.name == "gritkit.builtin.zz_broken" for r in pm.plugin_records())
    finally:
        forget_modules("gritkit.builtin.zz_broken")


# -- validation -------------------------------------------------------------------------------


def test_misspelt_hook_is_an_error_naming_the_plugin():
    @gritkit.hookimpl
    def register_reward(register):  # missing "s"
        pass

    with pytest.raises(PluginError) as info:
        build_plugin_manager(builtins=False, entry_points=False,
                             plugins=[module("typo_plugin", register_reward=register_reward)])
    message = str(info.value)
    assert "'typo_plugin'" in message and "'register_reward'" in message
    assert "Did you mean 'register_rewards'?" in message


def test_hook_with_unknown_argument_is_an_error():
    @gritkit.hookimpl
    def register_rewards(register, config):
        pass

    with pytest.raises(PluginError, match="'bad_args'.*does not match") as info:
        build_plugin_manager(builtins=False, entry_points=False,
                             plugins=[module("bad_args", register_rewards=register_rewards)])
    assert "config" in str(info.value)


def test_duplicate_reward_name_names_both_plugins():
    with pytest.raises(PluginError) as info:
        build_plugin_manager(builtins=False, entry_points=False,
                             plugins=[reward_plugin("first", "same"), reward_plugin("second", "same")])
    assert "'first'" in str(info.value) and "'second'" in str(info.value)


def test_replace_true_overrides_on_purpose():
    @gritkit.hookimpl
    def register_rewards(register):
        register(always_nine, name="same", replace=True)

    pm = build_plugin_manager(builtins=False, entry_points=False,
                              plugins=[reward_plugin("first", "same"), module("second", register_rewards=register_rewards)])
    assert pm.rewards.get("same").plugin == "second"


def test_a_hook_that_raises_in_a_local_plugin_is_an_error():
    @gritkit.hookimpl
    def register_rewards(register):
        raise RuntimeError("boom")

    with pytest.raises(PluginError, match=r"Plugin 'raiser' raised in its register_rewards\(\) hook") as info:
        build_plugin_manager(builtins=False, entry_points=False,
                             plugins=[module("raiser", register_rewards=register_rewards)])
    assert str(info.value.__cause__) == "boom"


# -- entry points and environment -----------------------------------------------------------------


@pytest.fixture
def example_installed(tmp_path, monkeypatch):
    install_example(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield tmp_path / "site"
    forget_modules("gritkit_center")


def test_entry_point_plugin_is_loaded_with_its_distribution(example_installed):
    with isolated_plugin_manager(entry_points=True) as pm:
        info = pm.rewards.get("center_hit")
        assert info.plugin == "center_hit"
        record = next(r for r in pm.plugin_records() if r.name == "center_hit")
        assert (record.kind, record.distribution, record.version) == ("entry point", "gritkit-example", "0.1.0")
        assert record.rewards == ("center_hit",)
        composer = gritkit.Composer({"rewards": [{"name": "center_hit"}]})
        sample = gritkit.Sample(image_size=gritkit.ImageSize(width=10, height=10))
        assert composer.score("<think>x</think><rethink>y</rethink><answer>(0, 0, 9, 9)</answer>",
                              sample).rewards == {"center_hit": 1.0}


@pytest.mark.parametrize("load, expected", [
    (None, True), ("", False), ("gritkit-example", True), ("gritkit_example", True),
    ("center_hit", True), ("something-else", False), (" other , gritkit-example ", True)])
def test_gritkit_load_plugins(example_installed, load, expected):
    env = {} if load is None else {"GRITKIT_LOAD_PLUGINS": load}
    pm = manager_from_environment(env)
    assert ("center_hit" in pm.rewards.entries) is expected
    assert "format" in pm.rewards.entries  # built-ins always load


@pytest.mark.parametrize("disable", ["center_hit", "gritkit-example", "gritkit_example"])
def test_gritkit_disable_plugins(example_installed, disable):
    pm = manager_from_environment({"GRITKIT_DISABLE_PLUGINS": f"nothing,{disable}"})
    assert "center_hit" not in pm.rewards.entries
    assert [r.name for r in pm.plugin_records() if r.blocked] == ["center_hit"]


def test_disable_a_builtin_by_short_name():
    pm = manager_from_environment({"GRITKIT_DISABLE_PLUGINS": "count", "GRITKIT_LOAD_PLUGINS": ""})
    assert "count" not in pm.rewards.entries and "format" in pm.rewards.entries


def test_gritkit_plugins_loads_files_and_modules(tmp_path, monkeypatch):
    (tmp_path / "local_one.py").write_text(
        "import gritkit\n@gritkit.hookimpl\ndef register_rewards(register):\n"
        "    def local_one(r, s):\n        return 1.0\n    register(local_one)\n")
    (tmp_path / "local_two.py").write_text(
        "import gritkit\n@gritkit.hookimpl\ndef register_rewards(register):\n"
        "    def local_two(r, s):\n        return 2.0\n    register(local_two)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        pm = manager_from_environment({"GRITKIT_LOAD_PLUGINS": "",
                                       "GRITKIT_PLUGINS": f"{tmp_path / 'local_one.py'}, local_two"})
        assert pm.rewards.get("local_one").plugin == "local_one"
        assert pm.rewards.get("local_two").plugin == "local_two"
        kinds = {r.name: r.kind for r in pm.plugin_records()}
        assert kinds["local_one"] == kinds["local_two"] == "local"
    finally:
        forget_modules("local_one", "local_two")


def test_missing_local_plugin_file_is_an_error(tmp_path):
    with pytest.raises(PluginError, match="Plugin file .*nope.py.* was not found"):
        manager_from_environment({"GRITKIT_LOAD_PLUGINS": "", "GRITKIT_PLUGINS": str(tmp_path / "nope.py")})
    with pytest.raises(PluginError, match="Plugin module 'no_such_module_xyz' failed to import"):
        manager_from_environment({"GRITKIT_LOAD_PLUGINS": "", "GRITKIT_PLUGINS": "no_such_module_xyz"})


def test_broken_local_plugin_file_is_an_error(tmp_path):
    (tmp_path / "broken_local.py").write_text("x = 1 / 0\n")
    with pytest.raises(PluginError, match="broken_local.py.* failed to import: ZeroDivisionError"):
        manager_from_environment({"GRITKIT_LOAD_PLUGINS": "", "GRITKIT_PLUGINS": str(tmp_path / "broken_local.py")})
    assert "broken_local" not in sys.modules


def test_trace_prints_hook_calls(example_installed, capsys):
    manager_from_environment({"GRITKIT_TRACE_PLUGINS": "1"})
    err = capsys.readouterr().err
    assert "gritkit trace: register_rewards(register) -> plugin 'center_hit'" in err
    assert "registered rewards center_hit" in err
    assert "registered box formats" in err


# -- failures of third-party plugins ----------------------------------------------------------------


@pytest.fixture
def broken_installed(tmp_path, monkeypatch):
    fake_distribution(tmp_path / "site", "gritkit-broken", "0.2", {"broken": "gritkit_broken_mod"},
                      {"gritkit_broken_mod.py": "import gritkit\nfrom gritkit import no_such_name\n"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield
    forget_modules("gritkit_broken_mod")


def test_broken_third_party_plugin_is_reported_and_skipped(broken_installed):
    with pytest.warns(PluginLoadWarning) as caught:
        pm = build_plugin_manager(entry_points=True)
    text = str(caught[0].message)
    assert "Plugin 'broken' from distribution 'gritkit-broken' (version 0.2) failed to load" in text
    assert "ImportError: cannot import name" in text and "GRITKIT_DISABLE_PLUGINS=broken" in text
    assert "format" in pm.rewards.entries  # the rest loaded
    [record] = [r for r in pm.plugin_records() if r.error]
    assert record.name == "broken" and "no_such_name" in record.error


def test_unknown_reward_after_a_failed_plugin_names_the_failure(broken_installed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        with isolated_plugin_manager(entry_points=True):
            with pytest.raises(ConfigError) as info:
                gritkit.Composer({"rewards": [{"name": "format"}, {"name": "broken_reward"}]})
            gritkit.Composer({"rewards": [{"name": "format"}]})  # known rewards still work
    message = str(info.value)
    assert "rewards[1] (name 'broken_reward')" in message and "Unknown reward 'broken_reward'" in message
    assert "failed to load" in message and "gritkit-broken" in message and "no_such_name" in message
    cause = info.value.__cause__
    assert isinstance(cause, ImportError) and "no_such_name" in str(cause)


def test_third_party_hook_that_raises_is_skipped(tmp_path, monkeypatch):
    fake_distribution(tmp_path, "gritkit-raiser", "1.0", {"raiser": "gritkit_raiser_mod"}, {
        "gritkit_raiser_mod.py":
            "import gritkit\n@gritkit.hookimpl\ndef register_rewards(register):\n"
            "    def half_done(r, s):\n        return 1.0\n    register(half_done)\n    raise ValueError('bad state')\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.warns(PluginLoadWarning, match=r"raised in its register_rewards\(\) hook: ValueError"):
            pm = build_plugin_manager(entry_points=True)
        assert "half_done" not in pm.rewards.entries  # its partial registrations are undone
        assert [f.name for f in pm.failures] == ["raiser"]
    finally:
        forget_modules("gritkit_raiser_mod")


# -- caching, reset and isolation ---------------------------------------------------------------------


def test_get_plugin_manager_is_cached_and_reset(monkeypatch):
    monkeypatch.setenv("GRITKIT_LOAD_PLUGINS", "")
    reset_plugin_manager()
    try:
        first = get_plugin_manager()
        assert get_plugin_manager() is first
        reset_plugin_manager()
        assert get_plugin_manager() is not first
    finally:
        reset_plugin_manager()


def test_isolated_manager_is_active_then_restored(monkeypatch):
    monkeypatch.setenv("GRITKIT_LOAD_PLUGINS", "")
    reset_plugin_manager()
    outer = get_plugin_manager()
    with isolated_plugin_manager(builtins=False) as tmp:
        assert get_plugin_manager() is tmp
    assert get_plugin_manager() is outer  # the previous manager is back

    def only_here(result, sample):
        return 1.0

    with isolated_plugin_manager(builtins=False, plugins=[only_here]) as pm:
        assert get_plugin_manager() is pm
        reset_plugin_manager()  # does not drop the isolated manager
        assert get_plugin_manager() is pm and pm.rewards.names() == ["only_here"]
        with isolated_plugin_manager() as inner:
            assert get_plugin_manager() is inner and "only_here" not in inner.rewards.entries
        assert get_plugin_manager() is pm
    assert get_plugin_manager() is not pm
    assert "only_here" not in get_plugin_manager().rewards.entries
    reset_plugin_manager()


def test_add_and_remove_plugin_recollects():
    pm = GritPluginManager()
    name = pm.add_plugin(reward_plugin("adder", "a1", "a2"))
    assert name == "adder" and pm.rewards.names() == ["a1", "a2"]
    with pytest.raises(PluginError):  # a duplicate is refused and leaves the manager as it was
        pm.add_plugin(reward_plugin("other", "a1"))
    assert pm.rewards.names() == ["a1", "a2"] and not pm.has_plugin("other")
    pm.remove_plugin("adder")
    assert pm.rewards.names() == []


def test_bare_hook_function_is_a_plugin():
    def register_rewards(register):
        register(always_one, name="bare")

    pm = GritPluginManager()
    pm.add_plugin(register_rewards, name="bare_plugin")
    assert pm.rewards.get("bare").plugin == "bare_plugin"


@pytest.mark.parametrize("source, shown", [
    # the failing line of the plugin's own code, and the function it was in
    ("import os\n\ndef setup():\n    return {}['missing_key']\n\nsetup()\n",
     ["Traceback (most recent call last):", "line 4, in setup", "return {}['missing_key']", "KeyError"]),
    # a syntax error: the line and a caret
    ("x = 1\ndef f(:\n    pass\n", ["line 2", "def f(:", "^", "SyntaxError"]),
])
def test_import_failure_message_shows_the_traceback_it_promises(tmp_path, source, shown):
    path = tmp_path / "broken_where.py"
    path.write_text(source)
    with pytest.raises(PluginError) as info:
        manager_from_environment({"GRITKIT_LOAD_PLUGINS": "", "GRITKIT_PLUGINS": str(path)})
    message = str(info.value)
    assert "broken_where.py" in message and "traceback above shows where" in message
    for text in shown:
        assert text in message, (text, message)
    assert "importlib" not in message   # only the plugin's own frames
    assert message.index(shown[1]) < message.index("Fix the error")


def test_local_plugin_whose_hook_raises_shows_where(tmp_path):
    path = tmp_path / "hook_raises.py"
    path.write_text("import gritkit\n\n@gritkit.hookimpl\ndef register_rewards(register):\n"
                    "    raise RuntimeError('no model here')\n")
    with pytest.raises(PluginError) as info:
        manager_from_environment({"GRITKIT_LOAD_PLUGINS": "", "GRITKIT_PLUGINS": str(path)})
    message = str(info.value)
    assert "line 5, in register_rewards" in message and "raise RuntimeError('no model here')" in message
    assert "pluggy" not in message

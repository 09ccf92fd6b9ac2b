"""The plugin contract third parties rely on: requires=, RewardOptions, one run per reward per batch,
one way to reach the plugin manager."""

from __future__ import annotations

import pickle
import threading
import types

import pytest
from pydantic import BaseModel, Field

import gritkit
from gritkit.adapters.trl import to_trl
from gritkit.compose import Composer
from gritkit.errors import ConfigError, DataError, PluginError
from gritkit.plugins import build_plugin_manager, get_plugin_manager, isolated_plugin_manager

GOOD = "<think>the cup (10, 20, 50, 60)</think><rethink>ok</rethink><answer>yes</answer>"
CALLS: list[str] = []


class CenterOptions(gritkit.RewardOptions):
    margin: float = Field(0.0, ge=0)


class LaxOptions(BaseModel):  # ignores unknown keys: must be refused
    margin: float = 0.0


def needs_answer(result, sample):
    CALLS.append("needs_answer")
    return float(result.answer == sample.answer)


def gate(result, sample):
    CALLS.append("gate")
    return 1.0 if result.ok else 0.0


async def async_gate(result, sample):
    CALLS.append("async_gate")
    return 1.0 if result.ok else 0.0


def gated(result, sample):
    CALLS.append("gated")
    return float(len(result.boxes))


def centre(result, sample, options):
    return options.margin


def first_x1(result, sample):
    from gritkit.coords import to_pixels

    return to_pixels(result.boxes[0].coords, sample)[0] if result.boxes else None


def double_x(coords, sample):
    return (2.0 * coords[0], coords[1], 2.0 * coords[2], coords[3])


@gritkit.hookimpl
def register_rewards(register):
    register(needs_answer, requires=("answer",), description="matches the answer")
    register(gate)
    register(async_gate)
    register(gated)
    register(centre, options=CenterOptions)
    register(first_x1)


@gritkit.hookimpl
def register_box_formats(register):
    register("double_x", double_x, description="x doubled (a test convention)")


PLUGIN = types.ModuleType("contract_plugin")
PLUGIN.register_rewards = register_rewards
PLUGIN.register_box_formats = register_box_formats


@pytest.fixture
def pm():
    CALLS.clear()
    with isolated_plugin_manager(builtins=True, plugins=[PLUGIN]) as pm:
        yield pm


def kwargs(n: int = 2, **columns):
    completions = [[{"role": "assistant", "content": GOOD}] for _ in range(n)]
    return {"prompts": ["q"] * n, "completions": completions, **{k: v * n for k, v in columns.items()}}


def test_requires_makes_to_trl_name_the_reward(pm):
    funcs, _ = to_trl({"rewards": [{"name": "needs_answer"}]})
    with pytest.raises(DataError, match=r"'needs_answer' need the sample's 'answer'.*none of its columns"):
        funcs[0](**kwargs(bboxs=[[[0, 0, 1, 1]]]))
    assert funcs[0](**kwargs(answer=["yes"])) == [1.0, 1.0]
    assert Composer({"rewards": [{"name": "needs_answer"}]}).requires == {"answer": ["needs_answer"]}


def test_builtins_declare_what_they_require(pm):
    assert pm.get_reward("iou").requires == ("gt_boxes",)
    assert pm.get_reward("answer_match").requires == ("answer",)
    assert pm.get_reward("format").requires == ()


def test_misspelt_option_is_a_config_error(pm):
    with pytest.raises(ConfigError, match="(?s)Invalid options for reward 'centre'.*margn"):
        Composer({"rewards": [{"name": "centre", "options": {"margn": 1}}]})
    assert Composer({"rewards": [{"name": "centre", "options": {"margin": 2}}]}).score(GOOD).total == 2.0
    with pytest.raises(Exception):
        CenterOptions(margin=1).margin = 3  # frozen


@pytest.mark.parametrize("kwargs, message", [
    ({"fn": centre, "options": LaxOptions}, "(?s)ignores unknown keys.*Subclass gritkit.RewardOptions"),
    ({"fn": lambda r, s: 1.0, "name": "anon"}, "registered a lambda"),
    ({"fn": gate, "name": "g2", "requires": ("answr",)}, "'answr' is not a field of gritkit.Sample"),
    ({"fn": gate, "name": "g3", "requires": ("extra",)}, "'extra' is not a field"),
])
def test_registration_refuses_what_would_break_later(kwargs, message):
    plugin = types.ModuleType("bad_plugin")

    @gritkit.hookimpl
    def register_rewards(register):
        register(**kwargs)

    plugin.register_rewards = register_rewards
    with pytest.raises(PluginError, match=message):
        build_plugin_manager(builtins=False, entry_points=False, plugins=[plugin]).collect()


GATED = {"rewards": [{"name": "gate"}, {"name": "gated", "gate": {"reward": "gate", "min": 1.0}}]}
ASYNC_GATED = {"rewards": [{"name": "async_gate"}, {"name": "gated", "gate": {"reward": "async_gate"}}]}


@pytest.mark.parametrize("config, gate_name", [(GATED, "gate"), (ASYNC_GATED, "async_gate")])
@pytest.mark.parametrize("combine", [False, True])
def test_a_gate_runs_once_per_completion_through_to_trl(pm, config, gate_name, combine):
    import asyncio

    funcs, _ = to_trl(config, combine=combine)
    kw = kwargs(2)
    got = []
    for f in funcs:
        value = f(**kw)
        got.append(asyncio.run(value) if asyncio.iscoroutine(value) else value)
    assert CALLS.count(gate_name) == 2 and CALLS.count("gated") == 2
    assert got == ([[1.0, 1.0], [1.0, 1.0]] if not combine else [[2.0, 2.0]])


def test_concurrent_calls_score_a_batch_once(pm):
    funcs, _ = to_trl(GATED)
    kw = kwargs(8)
    barrier = threading.Barrier(len(funcs) * 3)
    out = []

    def call(f):
        barrier.wait()
        out.append(f(**kw))

    threads = [threading.Thread(target=call, args=(f,)) for f in funcs * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert CALLS.count("gate") == 8 and CALLS.count("gated") == 8 and len(out) == 6


def test_a_composer_uses_its_own_plugin_manager():
    own = build_plugin_manager(builtins=True, entry_points=False, plugins=[PLUGIN])
    composer = Composer({"rewards": [{"name": "first_x1"}]}, own)
    sample = gritkit.Sample(box_format="double_x")
    assert "double_x" not in get_plugin_manager().box_formats.entries
    assert composer.score(GOOD, sample).total == 20.0   # the convention only its manager knows


def test_plain_pickle_round_trips_a_composer_and_adapter_functions():
    composer = Composer("grit-official")
    copy = pickle.loads(pickle.dumps(composer))
    assert copy.names == composer.names and copy.grammar.name == composer.grammar.name
    sample = gritkit.Sample(answer="yes", dataset="vsr")
    assert copy.score(GOOD, sample) == composer.score(GOOD, sample)
    funcs, _ = to_trl("grit")
    for f in funcs:
        g = pickle.loads(pickle.dumps(f))
        assert g(**kwargs(1, answer=["yes"])) == f(**kwargs(1, answer=["yes"]))

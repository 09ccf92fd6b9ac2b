"""The composer: totals, gates, fallbacks, options, errors, batching, async, components."""

from __future__ import annotations

import asyncio
import math
import pickle
import threading
import time
import types
import warnings

import pytest
from pydantic import BaseModel, ConfigDict

import gritkit
import gritkit.testing
from gritkit.compose import Composer, FallbackNotice, RewardWarning, Score, compose, run_coroutine
from gritkit.errors import ConfigError, RewardError
from gritkit.models import ImageSize, Sample
from gritkit.parsing import try_parse
from gritkit.plugins import isolated_plugin_manager

GOOD = "<think>a cat (1, 2, 30, 40) and (5, 5, 9, 9)</think><rethink>yes</rethink><answer>2</answer>"
BAD = "<think>a cat (1, 2, 30, 40)"
NONE = "<think>no box</think><rethink>fine</rethink><answer>Yes</answer>"


class ScaleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = 1.0


def nboxes(result, sample, options):
    return options.scale * len(result.boxes)


def parses(result, sample):
    return float(result.ok)


def answer_is(result, sample):
    if sample.answer is None:
        return None
    return float(result.answer == sample.answer)


def never(result, sample):
    return None


CALLS: list[int] = []


def batched_len(results, samples):
    CALLS.append(len(results))
    return [float(len(r.text)) for r in results]


async def slow_one(result, sample):
    await asyncio.sleep(0.2)
    return 1.0


async def slow_two(result, sample):
    await asyncio.sleep(0.2)
    return 2.0


def needs_endpoint_check(options):
    return "no endpoint configured (set JUDGE_URL)"


def judge_like(result, sample):
    raise AssertionError("must not be called when check() fails")


def raiser(result, sample):
    if "cat" in result.text:
        raise ValueError("cats are not supported")
    return 1.0


def non_finite(result, sample):
    return float("nan")


def wrong_type(result, sample):
    return "1.0"


def numpy_value(result, sample):
    import numpy as np

    return np.float32(0.5)


@gritkit.hookimpl
def register_rewards(register):
    register(nboxes, options=ScaleOptions, description="number of boxes")
    register(parses)
    register(answer_is)
    register(never)
    register(batched_len, batched=True)
    register(slow_one)
    register(slow_two)
    register(judge_like, name="judge_like", check=needs_endpoint_check)
    register(judge_like, name="judge_like_too", check=needs_endpoint_check)
    register(raiser)
    register(non_finite)
    register(wrong_type)
    register(numpy_value)


PLUGIN = types.ModuleType("compose_test_rewards")
PLUGIN.register_rewards = register_rewards


@pytest.fixture(autouse=True)
def pm():
    with isolated_plugin_manager(builtins=False, plugins=[PLUGIN]) as pm:
        yield pm


def test_total_is_the_weighted_sum_of_non_none_values():
    c = Composer({"rewards": [{"name": "nboxes", "weight": 0.5, "options": {"scale": 2}},
                              {"name": "parses", "weight": 2}, {"name": "never", "weight": 100}]})
    s = c.score(GOOD)
    assert isinstance(s, Score)
    assert s.rewards == {"nboxes": 4.0, "parses": 1.0, "never": None}
    assert s.total == 0.5 * 4.0 + 2 * 1.0
    assert s.ok and s.error is None
    assert c.names == ["nboxes", "parses", "never"] and c.weights == [0.5, 2.0, 100.0]


def test_total_is_none_when_every_component_is_none():
    s = Composer({"rewards": [{"name": "never"}, {"name": "answer_is"}]}).score(GOOD, Sample())
    assert s.rewards == {"never": None, "answer_is": None} and s.total is None


def test_unparsable_completion_is_scored_and_reports_the_error():
    s = Composer({"rewards": [{"name": "parses"}, {"name": "nboxes"}]}).score(BAD)
    assert s.ok is False and s.rewards == {"parses": 0.0, "nboxes": 1.0}
    assert s.error.startswith("line 1, column 28: ") and "never closed" in s.error


def test_score_accepts_a_parse_result_and_dict_samples():
    c = Composer({"rewards": [{"name": "answer_is"}]})
    assert c.score(try_parse(GOOD), Sample(answer="2")).rewards == {"answer_is": 1.0}
    assert c.score_many([GOOD, GOOD], [{"answer": "2"}, None])[1].rewards == {"answer_is": None}
    with pytest.raises(ValueError, match="2 completions but 1 samples"):
        c.score_many([GOOD, GOOD], [None])


def test_every_reward_sees_the_same_parse_result():
    seen = []

    def first(result, sample):
        seen.append(result)
        return 1.0

    def second(result, sample):
        seen.append(result)
        return 1.0

    with gritkit.testing.registered(first, second):
        Composer({"rewards": [{"name": "first"}, {"name": "second"}]}).score_many([GOOD + " x"])
    assert len(seen) == 2 and seen[0] is seen[1]


def test_gate():
    c = Composer({"rewards": [
        {"name": "parses"},
        {"name": "nboxes", "as": "gated", "gate": {"reward": "parses", "min": 1.0, "else_value": -1.0}},
        {"name": "nboxes", "as": "gated_on_none", "gate": {"reward": "never", "min": 0.0}},
        {"name": "never"}]})
    good, bad = c.score_many([GOOD, BAD])
    assert good.rewards == {"parses": 1.0, "gated": 2.0, "gated_on_none": 0.0, "never": None}
    assert bad.rewards == {"parses": 0.0, "gated": -1.0, "gated_on_none": 0.0, "never": None}
    assert bad.total == -1.0


def test_gate_chain_in_any_config_order():
    c = Composer({"rewards": [
        {"name": "nboxes", "as": "c", "gate": {"reward": "b", "min": 2}},
        {"name": "nboxes", "as": "b", "gate": {"reward": "a"}},
        {"name": "parses", "as": "a"}]})
    assert c.names == ["c", "b", "a"]
    assert c.score(GOOD).rewards == {"c": 2.0, "b": 2.0, "a": 1.0}
    assert c.score(BAD).rewards == {"c": 0.0, "b": 0.0, "a": 0.0}


def test_unknown_reward_fails_at_construction_with_suggestions():
    with pytest.raises(ConfigError) as info:
        Composer({"rewards": [{"name": "parses"}, {"name": "nboxs"}]})
    text = str(info.value)
    assert "rewards[1] (name 'nboxs')" in text and "Did you mean 'nboxes'?" in text
    assert "Available: answer_is, batched_len," in text


def test_options_are_validated_at_construction():
    with pytest.raises(ConfigError, match=r"rewards\[0\] \(name 'nboxes'\).*Invalid options for reward 'nboxes'"):
        Composer({"rewards": [{"name": "nboxes", "options": {"scael": 2}}]})
    with pytest.raises(ConfigError, match="takes no options"):
        Composer({"rewards": [{"name": "parses", "options": {"x": 1}}]})


def test_unknown_box_format_and_grammar():
    with pytest.raises(ConfigError, match="Invalid box_format.*Unknown box format 'norm_100'"):
        Composer({"rewards": [{"name": "parses"}], "box_format": "norm_100"})
    with pytest.raises(ConfigError, match="Invalid grammar.*Unknown grammar 'r2'"):
        Composer({"rewards": [{"name": "parses"}], "grammar": "r2"})


def test_fallback_stands_in_with_a_notice():
    config = {"rewards": [{"name": "judge_like", "as": "answer", "fallback": "answer_is"}]}
    with pytest.warns(FallbackNotice, match="'answer_is' stands in for it"):
        c = Composer(config)
    assert c.notices == ["Component 'answer': reward 'judge_like' cannot run (no endpoint configured "
                         "(set JUDGE_URL)); 'answer_is' stands in for it."]
    assert c.components[0].reward == "answer_is" and c.components[0].name == "answer"
    assert c.score(GOOD, Sample(answer="2")).rewards == {"answer": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Composer(config, warn=False)  # notices without warnings


def test_fallback_skip_gives_none_with_a_notice():
    c = Composer({"rewards": [{"name": "judge_like", "fallback": "skip"}, {"name": "parses"}]}, warn=False)
    assert "it is skipped (None) in this run" in c.notices[0]
    s = c.score(GOOD)
    assert s.rewards == {"judge_like": None, "parses": 1.0} and s.total == 1.0


def test_a_reward_that_cannot_run_without_fallback_is_a_config_error():
    with pytest.raises(ConfigError, match=r"(?s)cannot run as configured: no endpoint.*fallback"):
        Composer({"rewards": [{"name": "judge_like"}]})
    with pytest.raises(ConfigError, match="and neither can its fallback 'judge_like_too': no endpoint"):
        Composer({"rewards": [{"name": "judge_like", "fallback": "judge_like_too"}]})


def test_fallback_options_are_validated():
    with pytest.raises(ConfigError, match="takes no options"):
        Composer({"rewards": [{"name": "judge_like", "fallback": "parses", "fallback_options": {"x": 1}}]})
    c = Composer({"rewards": [{"name": "judge_like", "fallback": "nboxes", "fallback_options": {"scale": 3}}]},
                 warn=False)
    assert c.score(GOOD).rewards == {"judge_like": 6.0}


def test_reward_exception_is_a_reward_error_naming_reward_plugin_and_record():
    c = Composer({"rewards": [{"name": "raiser", "as": "r"}]})
    with pytest.raises(RewardError) as info:
        c.score_many([NONE, GOOD], offset=10)
    text = str(info.value)
    assert ("Reward 'raiser' (component 'r') from plugin 'compose_test_rewards' raised ValueError: "
            "cats are not supported, on record 11.") in text
    assert 'on_error = "none"' in text
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(RewardError, match="on record 7"):
        c.score_many([NONE, GOOD], offset=[3, 7])


def test_on_error_none_gives_none_and_a_warning():
    c = Composer({"rewards": [{"name": "raiser"}, {"name": "parses"}], "on_error": "none"})
    with pytest.warns(RewardWarning, match=r"raised ValueError: cats are not supported, on record 1\. Its value is None"):
        a, b = c.score_many([NONE, GOOD])
    assert a.rewards == {"raiser": 1.0, "parses": 1.0}
    assert b.rewards == {"raiser": None, "parses": 1.0} and b.total == 1.0


@pytest.mark.parametrize("name, why", [("non_finite", "returned nan, not a finite number"),
                                       ("wrong_type", "returned a str ('1.0'); expected a float or None")])
def test_bad_values_are_reward_errors(name, why):
    with pytest.raises(RewardError) as info:
        Composer({"rewards": [{"name": name}]}).score(GOOD)
    assert why in str(info.value) and "on record 0" in str(info.value)
    with pytest.warns(RewardWarning):
        s = Composer({"rewards": [{"name": name}], "on_error": "none"}).score(GOOD)
    assert s.rewards == {name: None} and s.total is None


def test_numpy_and_bool_values_become_floats():
    s = Composer({"rewards": [{"name": "numpy_value"}, {"name": "parses"}]}).score(GOOD)
    assert s.rewards == {"numpy_value": 0.5, "parses": 1.0}
    assert type(s.rewards["numpy_value"]) is float


def test_batched_reward_is_called_once_per_batch():
    CALLS.clear()
    c = Composer({"rewards": [{"name": "batched_len"}]})
    scores = c.score_many([GOOD, BAD, NONE])
    assert CALLS == [3]
    assert [s.rewards["batched_len"] for s in scores] == [float(len(GOOD)), float(len(BAD)), float(len(NONE))]
    CALLS.clear()
    gated = Composer({"rewards": [{"name": "parses"}, {"name": "batched_len", "gate": {"reward": "parses"}}]})
    assert [s.rewards["batched_len"] for s in gated.score_many([GOOD, BAD, NONE])] == \
        [float(len(GOOD)), 0.0, float(len(NONE))]
    assert CALLS == [2]  # only the records that pass the gate


def test_batched_reward_returning_the_wrong_length_is_an_error():
    def short(results, samples):
        return [1.0]

    with gritkit.testing.registered(lambda_plugin(short, batched=True)):
        c = Composer({"rewards": [{"name": "short"}]})
        with pytest.raises(RewardError, match=r"returned 1 values for 2 records, on the batch of records 0\.\.1"):
            c.score_many([GOOD, BAD])


def lambda_plugin(fn, **kwargs):
    """A plugin module registering ``fn`` with ``kwargs``."""
    @gritkit.hookimpl
    def register_rewards(register):
        register(fn, **kwargs)

    mod = types.ModuleType(f"plugin_{fn.__name__}")
    mod.register_rewards = register_rewards
    return mod


def test_async_rewards_run_concurrently():
    c = Composer({"rewards": [{"name": "slow_one"}, {"name": "slow_two"}, {"name": "parses"}]})
    start = time.perf_counter()
    scores = c.score_many([GOOD, BAD, NONE, GOOD + " ", BAD + " "])
    elapsed = time.perf_counter() - start
    assert [s.total for s in scores] == [4.0, 3.0, 4.0, 4.0, 3.0]
    assert elapsed < 0.6, f"10 calls of 0.2 s took {elapsed:.2f} s: not concurrent"


def test_async_rewards_work_inside_a_running_event_loop():
    c = Composer({"rewards": [{"name": "slow_one"}]})

    async def main():
        return c.score(GOOD).total

    assert asyncio.run(main()) == 1.0
    assert run_coroutine(asyncio.sleep(0, result=3)) == 3


def test_async_reward_errors_are_reward_errors():
    async def async_raiser(result, sample):
        raise KeyError("k")

    with gritkit.testing.registered(async_raiser):
        c = Composer({"rewards": [{"name": "async_raiser"}]})
        with pytest.raises(RewardError, match="raised KeyError: 'k', on record 0"):
            c.score(GOOD)


def test_components_are_picklable_named_weighted_callables():
    c = Composer({"rewards": [{"name": "parses", "weight": 0.3},
                              {"name": "nboxes", "as": "boxes", "weight": 2, "options": {"scale": 0.5},
                               "gate": {"reward": "parses"}}]})
    parses_c, boxes_c = c.components
    assert (parses_c.__name__, parses_c.weight, boxes_c.__name__, boxes_c.weight) == ("parses", 0.3, "boxes", 2.0)
    results = [try_parse(GOOD), try_parse(BAD)]
    assert boxes_c(results, [Sample(), Sample()]) == [1.0, 0.0]  # computes its own gate
    assert boxes_c([GOOD, BAD]) == [1.0, 0.0]  # strings are parsed with the config's grammar
    copy = gritkit.testing.assert_picklable(boxes_c, call_with=([GOOD, BAD],))
    assert copy.options.scale == 0.5 and copy.gate.__name__ == "parses"


def test_components_of_unpicklable_functions_pickle_by_name(pm):
    local = lambda result, sample: 7.0  # noqa: E731  (a lambda cannot be pickled by reference)
    local.__name__ = "local_lambda"
    with gritkit.testing.registered(local):
        c = Composer({"rewards": [{"name": "local_lambda"}]})
        data = pickle.dumps(c.components[0])
        copy = pickle.loads(data)  # resolved again from the active plugin manager
        assert copy([GOOD]) == [7.0] and copy.__name__ == "local_lambda"


def test_async_component_call():
    c = Composer({"rewards": [{"name": "slow_one"}]})
    assert c.components[0]([GOOD, BAD]) == [1.0, 1.0]


def test_compose_and_sample_defaults():
    c = compose({"rewards": [{"name": "answer_is"}]})
    assert isinstance(c, Composer)
    s = c.score(NONE, Sample(answer="Yes", image_size=ImageSize(width=2, height=2)))
    assert s.rewards == {"answer_is": 1.0}
    assert math.isclose(s.total, 1.0)


def test_composer_is_thread_safe_for_independent_batches():
    c = Composer({"rewards": [{"name": "nboxes"}, {"name": "slow_one"}]})
    out = {}

    def work(i):
        out[i] = [s.total for s in c.score_many([GOOD] * 3)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v == [3.0, 3.0, 3.0] for v in out.values())

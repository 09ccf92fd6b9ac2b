"""gritkit.testing: the pytest plugin plugin authors use (fixtures, helpers, YAML cases)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import pytest

import gritkit
from gritkit.errors import ConfigError, RewardError
from gritkit.plugins import get_plugin_manager
from gritkit.testing import RewardCase, assert_picklable, load_reward_cases, make_sample, registered, score

pytest_plugins = ("pytester",)

GOOD = "<think>a cat (1, 2, 30, 40)</think><rethink>yes</rethink><answer>2</answer>"


def two_boxes(result, sample):
    return float(len(result.boxes) == 2)


def needs_size(result, sample):
    return None if sample.image_size is None else float(sample.image_size.width)


def test_grit_pm_is_isolated_with_builtins(grit_pm):
    assert get_plugin_manager() is grit_pm
    assert "format" in grit_pm.rewards.entries
    assert not any(r.kind == "entry point" for r in grit_pm.plugin_records())


def test_registered_context_manager_registers_then_removes(grit_pm):
    with registered(two_boxes, needs_size) as names:
        assert names == ["two_boxes", "needs_size"]
        assert grit_pm.rewards.get("two_boxes").plugin == "two_boxes"
    assert "two_boxes" not in grit_pm.rewards.entries and "format" in grit_pm.rewards.entries


def test_registered_a_file_and_a_module(grit_pm, tmp_path):
    path = tmp_path / "file_plugin.py"
    path.write_text("import gritkit\n@gritkit.hookimpl\ndef register_rewards(register):\n"
                    "    def from_file(r, s):\n        return 3.0\n    register(from_file)\n")
    try:
        with registered(str(path)):
            assert score("from_file", GOOD) == 3.0
        assert "from_file" not in grit_pm.rewards.entries
    finally:
        sys.modules.pop("file_plugin", None)


def test_registered_fixture_undoes_at_teardown(grit_pm, registered):
    assert registered(two_boxes) == ["two_boxes"]
    assert score("two_boxes", "<think>(1, 2, 3, 4) (5, 6, 7, 8)</think><rethink>a</rethink><answer>b</answer>") == 1.0


def test_registered_fixture_left_nothing_behind(grit_pm):
    assert "two_boxes" not in grit_pm.rewards.entries


def test_score_by_name_function_options_and_sample_fields(grit_pm):
    with registered(needs_size):
        assert score("needs_size", GOOD) is None
        assert score("needs_size", GOOD, width=640, height=480) == 640.0
        assert score("needs_size", GOOD, image_size=(320, 200)) == 320.0
    assert score(two_boxes, GOOD) == 0.0
    assert score("count", GOOD, answer="1", options={"bonus": 2.0}) == 2.0  # one box, answer 1
    assert score("bleu", GOOD, gt_answer="2", options={"scale": 1.0}) == 1.0

    async def async_fn(result, sample):
        return 0.25

    assert score(async_fn, GOOD) == 0.25
    with pytest.raises(ConfigError, match="Unknown reward 'two_box'"):
        score("two_box", GOOD)


def test_score_raises_reward_errors(grit_pm):
    def broken(result, sample):
        raise ZeroDivisionError("x")

    with registered(broken):
        with pytest.raises(RewardError, match="raised ZeroDivisionError") as info:
            score("broken", GOOD)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_make_sample():
    s = make_sample(answer=3, bboxs=[[0, 0, 1, 1]], width=4, height=3, dataset="tallyqa", split="val",
                    extra={"k": 1}, box_format="norm_1000")
    assert (s.answer, s.gt_boxes, s.image_size.width, s.dataset, s.box_format) == (
        "3", ((0.0, 0.0, 1.0, 1.0),), 4, "tallyqa", "norm_1000")
    assert s.extra == {"split": "val", "k": 1}


def test_assert_picklable():
    copy = assert_picklable(two_boxes, call_with=(gritkit.try_parse(GOOD), make_sample()))
    assert copy is two_boxes  # a module-level function pickles by reference
    with pytest.raises(AssertionError, match="is not picklable.*not closures"):
        assert_picklable(lambda r, s: 1.0)

    class Renamed:
        __name__ = "before"

        def __reduce__(self):
            return (Renamed2, ())

    with pytest.raises(AssertionError, match="__name__ changed in the round trip: 'before' -> 'after'"):
        assert_picklable(Renamed())


class Renamed2:
    __name__ = "after"


def test_assert_picklable_on_components(grit_pm):
    composer = gritkit.Composer("grit-official", warn=False)
    for component in composer.components:
        copy = assert_picklable(component)
        assert copy.weight == component.weight
    fmt = composer.components[1]
    assert pickle.loads(pickle.dumps(fmt))([GOOD]) == fmt([GOOD])


CASES = """\
reward: count
options: {bonus: 1.0}
cases:
  - name: matches
    completion: "<think>(1, 2, 3, 4) (5, 6, 7, 8)</think><rethink>a</rethink><answer>2</answer>"
    sample: {answer: 2}
    expected: 1.0
  - name: not a count
    completion: "<think>(1, 2, 3, 4)</think><rethink>a</rethink><answer>yes</answer>"
    sample: {answer: "Yes"}
    expected: null
  - reward: bleu
    options: {scale: 1.0}
    completion: "<think>a</think><rethink>b</rethink><answer>the red cup</answer>"
    sample: {answer: "the red cup"}
    expected: 1.0
    approx: 1.0e-6
"""


def test_load_reward_cases(grit_pm, tmp_path):
    (tmp_path / "count.yaml").write_text(CASES)
    (tmp_path / "list.yml").write_text(
        "- reward: count\n  completion: '<think>(1, 2, 3, 4)</think><rethink>a</rethink><answer>1</answer>'\n"
        "  sample: {answer: 1}\n  expected: 0.5\n")
    cases = load_reward_cases(str(tmp_path / "*.y*ml"))
    assert [str(c) for c in cases] == ["count.yaml::matches", "count.yaml::not a count", "count.yaml::#2",
                                      "list.yml::#0"]
    assert cases[0].options == {"bonus": 1.0} and cases[2].options == {"scale": 1.0} and cases[2].approx == 1e-6
    for case in cases:
        case.check()
    wrong = RewardCase(id="x::wrong", reward="count", completion=cases[0].completion, sample={"answer": 2},
                       options={}, expected=0.75, approx=1e-9, grammar="grit")
    with pytest.raises(AssertionError, match=r"x::wrong: reward 'count' gave 0\.5, expected 0\.75"):
        wrong.check()
    none_expected = RewardCase(id="x::none", reward="count", completion=cases[0].completion,
                               sample={"answer": 2}, options={}, expected=None, approx=0, grammar="grit")
    with pytest.raises(AssertionError, match="gave 0.5, expected None"):
        none_expected.check()


def test_load_reward_cases_relative_to_the_test_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the pattern is found next to this file, not in the cwd
    with pytest.raises(FileNotFoundError, match="No reward case files match 'no_such_dir/\\*.yaml'"):
        load_reward_cases("no_such_dir/*.yaml")


@pytest.mark.parametrize("text, message", [
    ("cases: []", "expected a non-empty list of cases"),
    ("reward: count\nkases: []", "got keys"),
    ("- completion: x\n  expected: 1", "no reward name"),
    ("- reward: count\n  expected: 1", "missing 'completion'"),
    ("- reward: count\n  completion: x\n  expected: high", "'expected' must be a number or null"),
    ("- reward: count\n  completion: x\n  expected: 1\n  sampel: {}", "unknown keys \\['sampel'\\]"),
    ("- reward: count\n  completion: x\n  expected: 1\n  sample: [1]", "'sample' must be a mapping"),
    ("- [", "not valid YAML"),
])
def test_malformed_case_files(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_reward_cases(str(tmp_path / "bad.yaml"))


def test_the_plugin_works_in_a_fresh_pytest_run(pytester):
    """A plugin author's test file: fixtures come from the installed pytest11 plugin."""
    pytester.makepyfile(plugin_mod=textwrap.dedent("""
        import gritkit

        def shout(result, sample):
            return 2.0 if result.answer and result.answer.isupper() else 0.0

        @gritkit.hookimpl
        def register_rewards(register):
            register.reward(shout, description="answers in capitals")
    """))
    pytester.makefile(".yaml", shout_cases=textwrap.dedent("""
        reward: shout
        cases:
          - {name: loud, completion: "<think>a</think><rethink>b</rethink><answer>YES</answer>", expected: 2.0}
          - {name: quiet, completion: "<think>a</think><rethink>b</rethink><answer>yes</answer>", expected: 2.0}
    """))
    pytester.makepyfile(test_shout=textwrap.dedent("""
        import pytest
        import plugin_mod
        from gritkit.testing import load_reward_cases, registered, score

        @pytest.mark.parametrize("case", load_reward_cases("shout_cases.yaml"), ids=str)
        def test_cases(case, grit_pm):
            with registered(plugin_mod):
                case.check()

        def test_fixture(grit_pm, registered):
            registered(plugin_mod)
            assert score("shout", "<think>a</think><rethink>b</rethink><answer>NO</answer>") == 2.0
    """))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)  # the "quiet" case is wrong on purpose: it must fail
    result.stdout.fnmatch_lines(["*shout_cases.yaml::quiet*", "*reward 'shout' gave 0.0, expected 2.0*"])


def test_importing_the_plugin_is_cheap():
    code = ("import sys, gritkit.testing; "
            "print(sorted(m for m in ('gritkit.plugins', 'gritkit.compose', 'gritkit.config', 'pydantic', "
            "'gritkit.parsing') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_example_plugins_own_tests_pass(tmp_path):
    """examples/gritkit-example/tests, written with gritkit.testing, run as its author would."""
    import os
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "gritkit-example"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([str(example), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example / "tests"),
                           "--rootdir", str(example)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "7 passed" in proc.stdout

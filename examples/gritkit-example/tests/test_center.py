"""Tests of the example plugin, written with gritkit.testing (the `grit_pm` fixture
and the helpers come from gritkit's pytest plugin)."""
import pytest

import gritkit_center
from gritkit.testing import assert_picklable, load_reward_cases, registered, score


@pytest.mark.parametrize("case", load_reward_cases("cases.yaml"), ids=str)
def test_cases(case, grit_pm):
    with registered(gritkit_center):
        case.check()


def test_scores_through_a_config(grit_pm):
    from gritkit import Composer, Sample, ImageSize

    with registered(gritkit_center):
        composer = Composer({"rewards": [{"name": "center_hit", "weight": 0.5}, {"name": "format"}]})
    s = composer.score("<think>x</think><rethink>y</rethink><answer>(0, 0, 9, 9)</answer>",
                       Sample(image_size=ImageSize(width=10, height=10)))
    assert s.rewards["center_hit"] == 1.0
    assert s.total == pytest.approx(0.5 * 1.0 + s.rewards["format"])


def test_plain_function_and_pickle():
    text = "<think>a</think><rethink>b</rethink><answer>(0, 0, 10, 10)</answer>"
    assert score(gritkit_center.center_hit, text, width=10, height=10) == 1.0
    assert score(gritkit_center.center_hit, text) is None
    assert_picklable(gritkit_center.center_hit)

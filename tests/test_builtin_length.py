"""The ``length`` reward: DAPO's soft overlong penalty."""

from __future__ import annotations

import pytest

import gritkit
from gritkit.builtin.length import LengthOptions, length_reward, overlong_penalty
from gritkit.errors import ConfigError
from gritkit.models import Sample


def length(text: str, options: LengthOptions | None = None, ids=None) -> float | None:
    return length_reward(gritkit.try_parse(text), Sample(completion_ids=ids), options)


@pytest.mark.parametrize("n, expected", [
    (0, 0.0), (800, 0.0),                 # up to L - C = 800: no penalty
    (850, -0.25), (900, -0.5), (999, -0.995),   # (800 - n) / 200
    (1000, -1.0), (5000, -1.0),
])
def test_tokens(n, expected):
    assert length("x", ids=tuple(range(n))) == pytest.approx(expected)


def test_overlong_penalty_edges():
    # no soft zone: a hard cut; exactly max_length is still allowed (DAPO: |y| <= L_max - L_cache)
    assert overlong_penalty(10, 10, 0) == 0.0
    assert overlong_penalty(11, 10, 0) == -1.0
    assert overlong_penalty(5, 10, 10) == -0.5     # the soft zone is the whole range


def test_fallbacks_without_token_ids():
    # words, limits scaled by 0.75: 600 .. 750
    assert length("w " * 600) == 0.0
    assert length("w " * 675) == pytest.approx(-0.5)
    # characters, with 4 characters per token: limits 3200 .. 4000; 3600 chars -> (3200 - 3600) / 800
    opts = LengthOptions(fallback_unit="chars", fallback_ratio=4.0)
    assert length("x" * 3600, opts) == pytest.approx(-0.5)
    assert length("w " * 10_000, LengthOptions(fallback_unit="none")) is None


def test_explicit_units_ignore_token_ids():
    opts = LengthOptions(unit="chars", max_length=100, cache_length=50)
    assert length("x" * 75, opts, ids=tuple(range(10_000))) == pytest.approx(-0.5)
    opts = LengthOptions(unit="words", max_length=10, cache_length=5)
    assert length("a b c d e f g h", opts) == pytest.approx(-0.6)   # (5 - 8) / 5


def test_pad_cut_and_penalty_size():
    ids = tuple(range(900)) + (5000,) * 500
    assert length("x", LengthOptions(pad_token_id=5000), ids) == pytest.approx(-0.5)   # cut at the first pad
    assert length("x", LengthOptions(), ids) == -1.0
    assert length("x", LengthOptions(penalty=2.0), tuple(range(900))) == pytest.approx(-1.0)


def test_options_are_checked():
    with pytest.raises(ConfigError, match="cache_length"):
        gritkit.get_plugin_manager().rewards.get("length").make_options({"max_length": 10, "cache_length": 20})

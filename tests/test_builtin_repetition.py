"""The ``repetition`` reward: GRIT's back-to-back 8-gram rule (official) and the fixed variant."""

from __future__ import annotations

import random

import pytest

import gritkit
from gritkit.builtin.repetition import (RepetitionOptions, back_to_back_repeats, repeated_fraction,
                                        repetition_reward)
from gritkit.models import Sample

FIXED = RepetitionOptions(mode="fixed")
PAD = 151643


def rep(text: str, options: RepetitionOptions | None = None, ids=None) -> float:
    return repetition_reward(gritkit.try_parse(text), Sample(completion_ids=ids), options)


def _official_port(completion: str, ids: list[int]) -> float:
    """GRIT's repetitive_reward, line by line (grpo-gr/rewards.py), for one sample."""
    ngram_size, max_reward, pad_token_id = 8, 0.5, 151643
    if completion == "":
        return max_reward
    if len(completion.split()) < ngram_size:
        return max_reward
    repeat_count = total = 0
    tokens = completion.split()
    for i in range(len(tokens) - ngram_size):
        total += 1
        if tuple(tokens[i:i + ngram_size]) == tuple(tokens[i + ngram_size:i + 2 * ngram_size]):
            repeat_count += 1
    reward = 1.0 if total == 0 else 1.0 - repeat_count / total
    ids_list = list(ids)
    if pad_token_id in ids_list:
        ids_list = ids_list[:ids_list.index(pad_token_id)]
    if len(ids_list) < 2 * ngram_size:
        return max_reward
    repeat_count = total_pairs = 0
    for i in range(len(ids_list) - 2 * ngram_size + 1):
        total_pairs += 1
        if tuple(ids_list[i:i + ngram_size]) == tuple(ids_list[i + ngram_size:i + 2 * ngram_size]):
            repeat_count += 1
    score = 1.0 if total_pairs == 0 else 1.0 - repeat_count / total_pairs
    return (score - (1 - reward)) * max_reward


def test_matches_the_official_code_on_random_inputs():
    rng = random.Random(5)
    for _ in range(500):
        unit = [rng.choice("ab c dd e") for _ in range(rng.randint(1, 10))]
        words = (unit * rng.randint(1, 5) + [rng.choice("xyz") for _ in range(rng.randint(0, 12))])
        rng.shuffle(words) if rng.random() < 0.3 else None
        text = " ".join(words)
        ids_unit = [rng.randint(0, 5) for _ in range(rng.randint(1, 10))]
        ids = ids_unit * rng.randint(1, 6) + [rng.randint(0, 5) for _ in range(rng.randint(0, 20))]
        if rng.random() < 0.3:
            ids += [PAD] * rng.randint(1, 5) + [1, 2, 3]
        assert rep(text, ids=tuple(ids)) == pytest.approx(_official_port(text, ids), abs=1e-12), (text, ids)


def test_official_by_hand():
    # 24 words = "a..h" x 3: 16 positions, 9 back-to-back repeats: w = 7/16; no ids: t = 1
    text = " ".join(["a b c d e f g h"] * 3)
    assert rep(text) == pytest.approx(0.5 * (1 - 9 / 16))
    # fewer than 8 words: 0.5; exactly 8 words: no positions, w = 1: 0.5
    assert rep("one two three") == 0.5
    assert rep("a b c d e f g h") == 0.5
    assert rep("") == 0.5
    # ids: 16 ids = two copies of 8: 1 position, 1 repeat: t = 0; words fine: 0.5 * (0 + 1 - 1) = 0
    ids = tuple(range(8)) * 2
    assert rep("a b c d e f g h i j", ids=ids) == 0.0
    # fewer than 16 ids: 0.5 whatever the words (the official early return)
    assert rep(text, ids=tuple(range(10))) == 0.5
    # the pad id cuts: 16 ids + pad + junk -> same as 16 ids
    assert rep("a b c d e f g h i j", ids=ids + (PAD, 5, 5)) == 0.0


def test_official_halves_add_to_a_negative_value():
    text = " ".join(["a b c d e f g h"] * 3)
    ids = tuple(range(8)) * 3
    # w = 7/16; t = 1 - 9/9 = 0: 0.5 * (0 + 7/16 - 1) = -0.28125
    assert rep(text, ids=ids) == pytest.approx(-0.28125)


def test_back_to_back_only_in_official_mode():
    # an 8-gram repeated later, not immediately: official sees nothing, fixed sees the repeat
    text = "a b c d e f g h x y z a b c d e f g h"
    assert rep(text) == 0.5
    # fixed: 19 words, 12 8-grams, 1 seen before: 0.5 * (1 - 1/12)
    assert rep(text, FIXED) == pytest.approx(0.5 * (1 - 1 / 12))


def test_fixed_takes_the_worse_half_and_never_goes_negative():
    text = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10"
    ids = tuple(range(8)) * 4    # 32 ids, 25 8-grams, 8 distinct: 17 repeats
    assert rep(text, FIXED, ids) == pytest.approx(0.5 * (1 - 17 / 25))
    assert rep(" ".join(["spam"] * 100), FIXED) >= 0.0


def test_fixed_lowercases_words():
    text = "A b c d e f g h a B c d e f g h"
    assert rep(text, FIXED) < 0.5
    assert rep(text, RepetitionOptions(mode="fixed", lowercase=False)) == 0.5


def test_helpers():
    # i = 0, 1, 2 (up to len - 2n): [1,2]|[1,2], [2,1]|[2,1], [1,2]|[1,2]
    assert back_to_back_repeats([1, 2, 1, 2, 1, 2], 2) == 3
    assert back_to_back_repeats([], 8) == 0
    assert repeated_fraction([], 8) == 0.0
    assert repeated_fraction([1, 1, 1, 1], 1) == 0.75


def test_degenerate_grit_output_is_penalised():
    # GRIT's published example outputs: a GRIT checkpoint with the wrong prompt writes "room room room ..."
    text = "There\n3 is are are three " + "room " * 40 + "of"
    # 47 words, 45 positions; back-to-back "room room|room room" at 37 of them: 0.5 * (1 - 37/45)
    assert rep(text, RepetitionOptions(ngram_size=2)) == pytest.approx(0.5 * (1 - 37 / 45))
    # 46 bigrams, 8 distinct: 0.5 * (1 - 38/46)
    assert rep(text, RepetitionOptions(mode="fixed", ngram_size=2)) == pytest.approx(0.5 * (1 - 38 / 46))


def test_options():
    assert rep("a", RepetitionOptions(max_reward=1.0)) == 1.0
    assert rep("a a", RepetitionOptions(ngram_size=1)) == 0.5 * (1 - (1 - 0))   # 1 position, 1 repeat: w = 0
    # pad_token_id None: no cut
    ids = tuple(range(8)) * 2 + (PAD,) + tuple(range(8)) * 2
    assert rep("a b c d e f g h i", RepetitionOptions(pad_token_id=None), ids) < 0.5

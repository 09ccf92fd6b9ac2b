"""Bad input never crashes or hangs: property tests and named pathological cases.

The fast scanner's agreement with the reference scanner is tested in
tests/test_scanner.py, the linear cost of degenerate texts in tests/test_parse_scaling.py.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gritkit import try_parse

FRAGMENTS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>", "(", ")", "[", "]",
             "{", "}", ",", " ", "\n", "1", "23", "-4", "5.5", '"bbox_2d": ', '"label": "x"', "<ref>", "</ref>",
             "<box>", "</box>", "<|box_start|>", "<|box_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
             "<|det|>", "<|/det|>", "<|ref|>", "<|/ref|>", "cat", "'", "\x00", "\ufffd", "é", "猫", "\u202e"]

texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(FRAGMENTS), max_size=80).map("".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_try_parse_never_raises(text):
    for grammar in ("grit", "r1"):
        r = try_parse(text, grammar)
        assert r.ok == (r.error is None)
        for b in r.boxes:
            assert len(b.coords) == 4 and 0 <= b.start < b.end <= len(text)
        for s in r.sections:
            assert 0 <= s.start <= s.body_start <= s.body_end <= s.end <= len(text)
        if r.error:
            assert r.error.line >= 1 and r.error.column >= 1


MB = 1_000_000
PATHOLOGICAL = {
    "1 MB of (": "(" * MB,
    "1 MB of [": "[" * MB,
    "1 MB of {": "{" * MB,
    "1 MB of 9,": "9," * (MB // 2),
    "1 MB of <think>": "<think>" * (MB // 7),
    "1 MB of </answer>": "</answer>" * (MB // 9),
    "100,000 boxes": "<think>" + "(1, 2, 3, 4) " * 100_000 + "</think><rethink>x</rethink><answer>1",
    "10,000-digit numbers": "(" + ", ".join(["9" * 10_000] * 4) + ")",
    "NaN and Infinity": "[NaN, Infinity, -Infinity, 1e309] (nan, inf, 1, 2)",
    "NUL bytes": "<think>\x00(1,\x002, 3, 4)\x00</think>\x00" * 1000,
    "brackets nested 10,000 deep": "[" * 10_000 + "1, 2, 3, 4" + "]" * 10_000,
    "braces nested 10,000 deep": '{"bbox_2d": ' * 10_000 + "[1, 2, 3, 4]" + "}" * 10_000,
    "unclosed JSON": '<think>{"bbox_2d": [1, 2, 3, 4], "label": "cat"',
    "unclosed JSON, long": '{"bbox_2d": [' + "1, " * 200_000,
    "mixed scripts": "<think>猫 (1, 2, 3, 4) кошка [5, 6, 7, 8] قطة</think><rethink>ﷺ</rethink><answer>١٢",
    "lone surrogate": "<think>\ud800 (1, 2, 3, 4)</think>",
    "1 MB without any token": "plain words " * (MB // 12),
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_inputs_finish_fast(name):
    text = PATHOLOGICAL[name]
    t0 = time.perf_counter()
    r = try_parse(text)
    r.output, r.error, r.deviations  # the structure may be built on first read: build it all
    elapsed = time.perf_counter() - t0
    assert elapsed < 10, f"{name}: {elapsed:.1f} s"  # generous: CI machines are slow and shared
    assert r.ok == (r.error is None)


def test_huge_numbers_stay_exact_or_become_infinite():
    r = try_parse(PATHOLOGICAL["10,000-digit numbers"])
    assert len(r.boxes) == 1 and r.boxes[0].coords[0] == float("inf")
    assert not r.boxes[0].is_finite


def test_hundred_thousand_boxes_are_all_found():
    r = try_parse(PATHOLOGICAL["100,000 boxes"])
    assert r.ok and len(r.boxes) == 100_000


def test_deep_nesting_does_not_recurse():
    r = try_parse(PATHOLOGICAL["brackets nested 10,000 deep"])
    assert [b.coords for b in r.boxes] == [(1, 2, 3, 4)]


def test_unclosed_json_still_yields_its_box():
    r = try_parse(PATHOLOGICAL["unclosed JSON"])
    assert [b.coords for b in r.boxes] == [(1, 2, 3, 4)]


def test_one_megabyte_is_linear():
    unit = '<think>The zebra at (200, 168, 248, 202) and {"bbox_2d": [1, 2, 3, 4]} near 380, 209, 453, 293. '
    small = (unit * 1000)[:100_000]
    big = (unit * 10_000)[:MB]
    t0 = time.perf_counter()
    try_parse(small).deviations  # read: the structure may be built on first read
    t_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    try_parse(big).deviations
    t_big = time.perf_counter() - t0
    assert t_big < 30 * max(t_small, 0.01)  # 10x the text: far below quadratic (100x)

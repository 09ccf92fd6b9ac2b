"""Error positions, labels, expected tokens and deviations."""

from __future__ import annotations

import re

import pytest

from gritkit import try_parse

CASES = [
    # text, label, line, column, expected tokens (exact)
    ("<think>a", "unclosed <think>", 1, 9, ("</think>",)),
    ("<think>\nline two\nline three", "unclosed <think>", 3, 11, ("</think>",)),
    ("<think>a</think>", "missing <rethink>", 1, 17, ("<rethink>",)),
    ("<think>a</think>\n<answer>7", "missing <rethink>", 2, 1, ("<rethink>",)),
    ("<think>a <rethink>b</rethink><answer>c", "unclosed <think>", 1, 10, ("</think>",)),
    ("a </think><rethink>b</rethink><answer>c", "stray </think>", 1, 3, ("<think>",)),
    ("<think>a</think><rethink>b</rethink><answer>c</answer><answer>d", "unexpected <answer>", 1, 55,
     ("end of text",)),
    ("<think>a</think><think>b</think>", "repeated <think>", 1, 17, ("<rethink>",)),
    ("", "missing <think>", 1, 1, ("<think>",)),
    ("<answer>7", "missing <think>", 1, 1, ("<think>",)),
]


@pytest.mark.parametrize("text, label, line, column, expected", CASES)
def test_first_error(text, label, line, column, expected):
    r = try_parse(text)
    assert not r.ok
    e = r.error
    assert (e.label, e.line, e.column) == (label, line, column)
    assert e.expected == expected
    assert not any(re.match(r"__|[A-Z_]+$", x) for x in e.expected)  # readable names only
    assert e.snippet.splitlines()[1].index("^") >= 2


def test_unclosed_section_reports_the_real_end_not_minus_one():
    text = "<think>\nthe cat (1, 2, 3, 4)\nis"
    e = try_parse(text).error
    assert (e.line, e.column, e.offset) == (3, 3, len(text))
    assert "opened at line 1, column 1" in e.message
    assert "close the section with </think>" in e.message


def test_caret_points_at_the_error_in_long_lines():
    text = "<think>" + "word " * 200 + "<answer>x"
    e = try_parse(text).error
    src, caret = e.snippet.splitlines()
    assert src[caret.index("^"):].startswith("<answer>") or src[caret.index("^") - 1:].startswith("<answer>")
    assert len(src) < 100


@pytest.mark.parametrize("text, codes", [
    ("<think>a (1, 2, 3, 4)", ["unclosed_section", "missing_section", "missing_section"]),
    ("<think>a<rethink>b</rethink><answer>c", ["unclosed_section"]),
    ("a</think><rethink>b</rethink><answer>c", ["missing_open_tag"]),
    ("<think>a</think><rethink>b</rethink></rethink><answer>c", ["stray_tag"]),
    ("<think>a<think>b</think><rethink>c</rethink><answer>d", ["nested_tag"]),
    ("<think>a</think><rethink>b</rethink><answer>c</answer><answer>d", ["repeated_section"]),
    ("<rethink>b</rethink><think>a</think><answer>c", ["out_of_order"]),
    ("<think>[1, 2, 3]</think><rethink>b</rethink><answer>c", ["not_a_box"]),
])
def test_deviations(text, codes):
    r = try_parse(text)
    assert [d.code for d in r.deviations] == codes
    for d in r.deviations:
        assert d.line >= 1 and d.column >= 1 and d.message


def test_recovery_keeps_sections_and_every_box():
    # truncated: no </think>, no </answer>, as GRIT's published example outputs's malformed example
    text = ('<think> dog at [120, 45, 300, 260] … {"bbox_2d": [310, 20, 360, 70]} <rethink> looks right '
            '</rethink> <answer> yes')
    r = try_parse(text)
    assert not r.ok
    assert [s.kind for s in r.sections] == ["think", "rethink", "answer"]
    assert r.sections[0].closed is False and r.sections[0].end == text.index("<rethink>")
    assert [b.coords for b in r.boxes] == [(120, 45, 300, 260), (310, 20, 360, 70)]
    assert {b.section for b in r.boxes} == {"think"}
    assert r.answer == "yes"


def test_missing_open_tag_recovers_the_section_and_its_boxes():
    text = "the cup (1, 2, 3, 4)</think><rethink>ok</rethink><answer>1"
    r = try_parse(text)
    assert r.sections[0].kind == "think" and r.sections[0].start == 0
    assert r.boxes[0].section == "think"


def test_ok_outputs_have_no_deviations():
    r = try_parse("<think>a</think>\n<rethink>b</rethink>\n<answer>\nc\n</answer>\n")
    assert r.ok and r.deviations == () and r.error is None

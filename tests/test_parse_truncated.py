"""A box cut off by the end of the text is a ``truncated_box`` deviation, not a box (issue 9, defect 8)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gritkit import try_parse
from gritkit.lexer import truncated_tail

HEAD = "<think>the jar "

# (text after HEAD, boxes still read, start of the cut-off box in the text after HEAD or None)
CASES = [
    pytest.param("[101, 44, 160, 9", [], 0, id="list-cut-in-last-number"),
    pytest.param("[101, 44, 160, 95", [], 0, id="list-cut-before-bracket"),
    pytest.param("[101, 44, 160,", [], 0, id="list-cut-after-comma"),
    pytest.param("[101, 44, 160, 9 \n", [], 0, id="list-cut-trailing-space"),
    pytest.param("(101, 44, 160, 9", [], 0, id="tuple"),
    pytest.param("[[1, 2, 3, 4], [5, 6, 7, 8", [(1, 2, 3, 4)], 15, id="nested-second-cut"),
    pytest.param('{"bbox_2d": [101, 44, 160, 9', [], 12, id="json-list-cut"),
    pytest.param('{"bbox_2d": [[1, 2, 3, 4], [5, 6', [(1, 2, 3, 4)], 27, id="json-nested-cut"),
    pytest.param("(10,20),(30,40", [], 8, id="point-pair-cut"),
    pytest.param("[-1.5, 2.25, 3", [], 0, id="decimals"),
    pytest.param("(1, 2, 3, 4) and [5, 6, 7, 8", [(1, 2, 3, 4)], 17, id="earlier-box-kept"),
    # unchanged: complete boxes and bare runs
    pytest.param("[101, 44, 160, 95]", [(101, 44, 160, 95)], None, id="complete-list"),
    pytest.param("(101, 44, 160, 95)", [(101, 44, 160, 95)], None, id="complete-tuple"),
    pytest.param("101, 44, 160, 95", [(101, 44, 160, 95)], None, id="bare-run-at-end"),
    pytest.param("at 101, 44, 160, 9", [(101, 44, 160, 9)], None, id="bare-run-cut-is-still-bare"),
    pytest.param('{"bbox_2d": [1, 2, 3, 4], "label": "ca', [(1, 2, 3, 4)], None, id="json-list-complete"),
    pytest.param("[101, 44, 160, 95] 7", [(101, 44, 160, 95)], None, id="number-after-box"),
    pytest.param("[", [], None, id="bracket-alone"),
    pytest.param("( , ", [], None, id="no-number-yet"),
    pytest.param("(see 1, 2, 3, 4", [(1, 2, 3, 4)], None, id="words-inside-parenthesis"),
]


@pytest.mark.parametrize("tail, boxes, cut", CASES)
def test_truncated_boxes(tail, boxes, cut):
    text = HEAD + tail
    r = try_parse(text)
    assert [b.coords for b in r.boxes] == boxes
    found = [d for d in r.deviations if d.code == "truncated_box"]
    if cut is None:
        assert found == []
        return
    (d,) = found
    assert d.offset == len(HEAD) + cut
    assert text[d.offset] in "[("
    assert (d.line, d.column) == (1, d.offset + 1)
    assert "cut off by the end of the text" in d.message
    assert repr(text[d.offset:].rstrip()[:30])[:20] in d.message  # the message shows what was cut


def test_truncated_box_in_an_answer_section_keeps_the_sections():
    text = "<think>a</think><rethink>b</rethink><answer>the cup [12, 30, 40"
    r = try_parse(text)
    assert r.ok  # boxes are text to the grammar: the answer may run to the end
    assert r.boxes == () and r.answer == "the cup [12, 30, 40"
    assert [d.code for d in r.deviations] == ["truncated_box"]


def test_a_cut_box_on_a_later_line_reports_its_line_and_column():
    text = "<think>one\ntwo\n  the jar [101, 44"
    (d,) = try_parse(text).deviations[:1]
    assert (d.code, d.line, d.column) == ("truncated_box", 3, 11)


def test_long_cut_off_run_is_linear_and_shortened_in_the_message():
    text = "<think>[" + "1, " * 200_000
    r = try_parse(text)
    d = next(d for d in r.deviations if d.code == "truncated_box")
    assert d.offset == 7 and r.boxes == ()
    assert len(d.message) < 200


BRUTE = re.compile(r"(?s).*([\[(])[0-9,.\-\s]*")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["[", "(", "]", ")", "1", "23", ",", ", ", " ", "\n", "-", ".", "x", "{",
                                 '"bbox_2d": ', "\u00a0", "١", "1, " * 40, " " * 70]), max_size=30).map("".join),
       st.integers(0, 200))
def test_the_cut_off_box_is_the_last_open_bracket_before_a_run_of_numbers(text, pad):
    text = "x" * pad + text  # runs longer than 64 characters: the windows read backwards grow
    m = BRUTE.fullmatch(text)
    expected = m.start(1) if m and re.search("[0-9]", text[m.start(1):]) else None
    got = truncated_tail(text)
    assert (got[0] if got else None) == expected

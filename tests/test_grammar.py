"""The grammar on realistic outputs: every box syntax, labels, sections, boxes counted right."""

from __future__ import annotations

import pytest

import gritkit
from gritkit import try_parse
from gritkit.grammar import available_grammars, load_grammar
from gritkit.errors import GrammarError

# (text, expected boxes as (coords, label, syntax)), modelled on GRIT's published example outputs and on what
# Qwen2-VL, Qwen2.5-VL, InternVL and DeepSeek-VL2 write.
BOX_CASES = [
    pytest.param("1. (200, 168, 248, 202)\n2. (463, 171, 483, 186)",
                 [((200, 168, 248, 202), None, "tuple"), ((463, 171, 483, 186), None, "tuple")], id="tuples"),
    pytest.param('{"bbox_2d": [200, 168, 248, 202], "label": "zebra"}',
                 [((200, 168, 248, 202), "zebra", "json")], id="json"),
    pytest.param('{"label": "zebra", "bbox_2d": [1, 2, 3, 4]}',
                 [((1, 2, 3, 4), "zebra", "json")], id="json-label-first"),
    pytest.param('{"bbox": [1, 2, 3, 4], "score": 0.9, "label": "cup"}',
                 [((1, 2, 3, 4), "cup", "json")], id="json-bbox-other-keys"),
    pytest.param("{'bbox_2d': [1, 2, 3, 4], 'label': 'cup'}",
                 [((1, 2, 3, 4), "cup", "json")], id="json-single-quotes"),
    pytest.param('{"bbox_2d": [[1, 2, 3, 4], [5, 6, 7, 8]], "label": "car"}',
                 [((1, 2, 3, 4), "car", "json"), ((5, 6, 7, 8), "car", "json")], id="json-list-of-boxes"),
    pytest.param('{"bbox_2d": [142, 314, 299, 447], "label": "chair", "bbox_2d": [0, 439, 58, 531], '
                 '"label": "chair2"}',
                 [((142, 314, 299, 447), "chair", "json"), ((0, 439, 58, 531), "chair2", "json")],
                 id="json-repeated-key"),
    pytest.param('```json\n[\n  {"bbox_2d": [10, 20, 30, 40], "label": "cat"},\n'
                 '  {"bbox_2d": [50, 60, 70, 80], "label": "dog"}\n]\n```',
                 [((10, 20, 30, 40), "cat", "json"), ((50, 60, 70, 80), "dog", "json")], id="json-fenced-list"),
    pytest.param("the cup [12, 30, 40, 50] is red", [((12, 30, 40, 50), None, "list")], id="list"),
    pytest.param("[[1, 2, 3, 4], [5, 6, 7, 8]]",
                 [((1, 2, 3, 4), None, "nested_list"), ((5, 6, 7, 8), None, "nested_list")], id="nested"),
    pytest.param("chair[[142, 314, 299, 447], [0, 439, 58, 531]]",
                 [((142, 314, 299, 447), "chair", "nested_list"), ((0, 439, 58, 531), "chair", "nested_list")],
                 id="label-nested"),
    pytest.param("the truck 380, 209, 453, 293 is big", [((380, 209, 453, 293), None, "bare")], id="bare"),
    pytest.param("(10,20),(30,40)", [((10, 20, 30, 40), None, "point_pair")], id="point-pair"),
    pytest.param("<|object_ref_start|>the cat<|object_ref_end|><|box_start|>(10,20),(300,400)<|box_end|>",
                 [((10, 20, 300, 400), "the cat", "qwen2_vl")], id="qwen2-vl"),
    pytest.param("<|box_start|>(10,20),(300,400)<|box_end|>", [((10, 20, 300, 400), None, "qwen2_vl")],
                 id="qwen2-vl-no-ref"),
    pytest.param("<ref>chair</ref><box>[[142, 314, 299, 447], [0, 439, 58, 531]]</box>",
                 [((142, 314, 299, 447), "chair", "internvl"), ((0, 439, 58, 531), "chair", "internvl")],
                 id="internvl"),
    pytest.param("<|ref|>dog<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>", [((1, 2, 3, 4), "dog", "deepseek_vl2")],
                 id="deepseek-vl2"),
    pytest.param("box (12.5, 30.25, -4, 50.0)", [((12.5, 30.25, -4, 50.0), None, "tuple")], id="decimals-negative"),
    # not boxes
    pytest.param("[x1, y1, x2, y2] and (x1, y1, x2, y2)", [], id="words"),
    pytest.param("[1, 2, 3] and [1, 2, 3, 4, 5] and (1, 2, 3)", [], id="three-five-numbers"),
    pytest.param("1, 2, 3 and 1, 2, 3, 4, 5", [], id="bare-runs-not-four"),
    pytest.param("The sign reads 1,000,000,000 dollars", [], id="thousands-separators"),
    pytest.param("NaN, Infinity, inf, nan", [], id="nan-infinity"),
    pytest.param("version v1.2, 3, 4, 5", [], id="run-inside-word"),
]


@pytest.mark.parametrize("text, expected", BOX_CASES)
def test_box_syntaxes(text, expected):
    r = try_parse(text)
    assert [(b.coords, b.label, b.syntax) for b in r.boxes] == expected
    assert [b.index for b in r.boxes] == list(range(len(expected)))
    for b in r.boxes:
        assert 0 <= b.start < b.end <= len(text)


def test_box_spans_point_at_what_was_written():
    text = "a (1, 2, 3, 4) b [5, 6, 7, 8]"
    r = try_parse(text)
    assert [text[b.start:b.end] for b in r.boxes] == ["(1, 2, 3, 4)", "[5, 6, 7, 8]"]


def test_number_types_are_kept_as_written():
    r = try_parse("(1, 2.0, 3, 4.5)")
    assert [type(c) for c in r.boxes[0].coords] == [int, float, int, float]


GRIT_README_1 = (
    "<think>\nThere are six zebras in the picture. The coordinates for the zebras are as follows:\n"
    "1. (200, 168, 248, 202)\n2. (260, 174, 314, 213)\n3. (331, 158, 370, 197)\n4. (389, 182, 430, 214)\n"
    "5. (118, 188, 178, 233)\n6. (463, 171, 483, 186)\n7. (538, 198, 601, 242)\n</think>\n"
    "<rethink>\nThe coordinates provided for the zebras are accurate and cover all the zebras visible "
    "in the image.\n</rethink>\n<answer>\n7")
GRIT_README_2 = (
    "<think>\nThe bounding box coordinates for the truck are approximately (0, 209, 488, 364). "
    "The cat is positioned on top of this truck.\n</think>\n<rethink>\nThe cat is on top of the truck, "
    "so the truck is beneath the cat.\n</rethink>\n<answer>\nYes")
GRIT_README_3 = (
    "<think>\nThe bounding box coordinates for the knife would be outside the image area.\n</think>\n"
    "<rethink>\nThere is no knife in the image.\n</rethink>\n<answer>\nNo")


@pytest.mark.parametrize("text, n_boxes, answer", [
    (GRIT_README_1, 7, "7"), (GRIT_README_2, 1, "Yes"), (GRIT_README_3, 0, "No")])
def test_grit_readme_outputs(text, n_boxes, answer):
    r = try_parse(text)
    assert r.ok and r.error is None and r.deviations == ()
    assert len(r.boxes) == n_boxes and all(b.section == "think" for b in r.boxes)
    assert r.answer == answer
    assert [s.kind for s in r.sections] == ["think", "rethink", "answer"]
    assert r.sections[2].closed is False  # GRIT's prompt never asks for </answer>


def test_sections_spans_and_bodies():
    text = "pre <think>a (1, 2, 3, 4)</think> mid <rethink> b </rethink> <answer> c </answer> post"
    r = try_parse(text)
    assert r.ok
    think, rethink, answer = r.sections
    assert text[think.start:think.end] == "<think>a (1, 2, 3, 4)</think>"
    assert think.text == "a (1, 2, 3, 4)" and rethink.text == " b " and answer.text == " c "
    assert text[answer.body_start:answer.body_end] == " c "
    assert r.answer == "c" and answer.closed


def test_boxes_carry_their_section():
    text = ("(0, 0, 1, 1) <think>(1, 2, 3, 4)</think> (5, 6, 7, 8) <rethink>[1, 1, 2, 2]</rethink>"
            "<answer>(9, 9, 10, 10)</answer> (2, 2, 3, 3)")
    r = try_parse(text)
    assert r.ok
    assert [b.section for b in r.boxes] == [None, "think", None, "rethink", "answer", None]
    assert len(r.boxes_in("think")) == 1 and len(r.boxes_in(None)) == 3


def test_r1_grammar():
    r = try_parse("<think>the cat (1, 2, 3, 4)</think><answer>cat</answer>", grammar="r1")
    assert r.ok and r.answer == "cat" and len(r.boxes) == 1
    assert not try_parse("<think>a</think><answer>b</answer>").ok  # grit needs <rethink>


def test_renamed_tags_without_copying_the_grammar():
    text = "<thinking>cat (1, 2, 3, 4)</thinking><rethink>ok</rethink><answer>1"
    assert not try_parse(text).ok
    r = try_parse(text, tags={"think": "thinking"})
    assert r.ok and r.grammar == "grit[think=thinking]" and r.boxes[0].section == "think"
    assert try_parse(text, grammar="grit[think=thinking]").ok
    g = load_grammar("r1", tags={"think": "<reasoning>", "answer": "final"})
    assert try_parse("<reasoning>x</reasoning><final>y</final>", g).answer == "y"


@pytest.mark.parametrize("name, tags, match", [
    ("grti", None, "Did you mean 'grit'"),
    ("grit", {"thnk": "x"}, "Unknown section 'thnk'"),
    ("grit", {"think": "has space"}, "Invalid tag name"),
    ("grit", {"think": "rethink"}, "share one tag"),
    ("grit[think]", None, "expected SECTION=TAG"),
])
def test_grammar_errors_are_clear(name, tags, match):
    with pytest.raises(GrammarError, match=match):
        load_grammar(name, tags)


def test_available_grammars_ship_in_the_package():
    assert {"grit", "r1"} <= set(available_grammars())


def test_results_are_immutable_and_shared_through_the_cache():
    from gritkit.parsing import cache_info

    a = try_parse(GRIT_README_2)
    b = try_parse(GRIT_README_2)
    assert a is b and cache_info()["hits"] == 1
    with pytest.raises(Exception):
        a.boxes[0].coords = (0, 0, 0, 0)
    with pytest.raises(Exception):
        a.ok = False


def test_fast_constructed_models_equal_validated_ones():
    from gritkit.models import ParseResult

    for text in (GRIT_README_1, "<think>unclosed [1, 2, 3] (1,2),(3,4)", '{"bbox_2d": [1,2,3,4]}'):
        r = try_parse(text)
        again = ParseResult.model_validate(r.model_dump())
        assert again == r
        assert ParseResult.model_validate_json(r.model_dump_json()) == r


def test_parse_returns_grounded_output_and_raises_on_errors():
    out = gritkit.parse(GRIT_README_2)
    assert isinstance(out, gritkit.GroundedOutput) and out.answer == "Yes"
    with pytest.raises(gritkit.GritSyntaxError) as ei:
        gritkit.parse("<think>never closed (1, 2, 3, 4)")
    err = ei.value
    assert isinstance(err, ValueError) and isinstance(err, gritkit.GritError)
    assert (err.line, err.column) == (1, 33) and err.label == "unclosed <think>"
    assert err.result.boxes[0].coords == (1, 2, 3, 4)
    assert "^" in err.context and "</think>" in str(err)


def test_bytes_are_decoded_and_other_types_rejected():
    assert try_parse(b"<think>\xff</think>").sections[0].text == "\ufffd"
    with pytest.raises(TypeError, match="needs the completion as str"):
        try_parse(None)

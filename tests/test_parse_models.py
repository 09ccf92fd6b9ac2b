"""The parse results keep the interface of frozen pydantic models (they are lean classes inside)."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Optional

import pytest
from pydantic import BaseModel, ValidationError

import gritkit
from gritkit.models import Box, Deviation, ErrorInfo, GroundedOutput, ParseResult, Section

TEXTS = [
    "<think>the cup (1, 2, 3, 4) and {\"bbox_2d\": [5, 6.5, 7, 8], \"label\": \"cup\"}</think>"
    "<rethink>ok</rethink><answer> 2 </answer>",
    "<think>unclosed [1, 2, 3] (1,2),(3,4) <answer>x",
    "(" + ", ".join(["9" * 5000] * 4) + ") the jar [1, 2",
]
RESULTS = [gritkit.try_parse(t) for t in TEXTS]


@pytest.mark.parametrize("r", RESULTS)
def test_round_trips(r):
    assert ParseResult.model_validate(r.model_dump()) == r
    if all(b.is_finite for b in r.boxes):  # JSON has no infinity: pydantic writes null, as before
        assert ParseResult.model_validate_json(r.model_dump_json()) == r
        assert json.loads(r.model_dump_json()) == json.loads(json.dumps(r.model_dump(mode="json")))
    assert ParseResult.model_validate(r) is r
    assert pickle.loads(pickle.dumps(r)) == r
    assert copy.deepcopy(r) == r and copy.copy(r) == r


@pytest.mark.parametrize("r", RESULTS)
def test_dump_is_what_pydantic_gives(r):
    """model_dump() with and without arguments that go through the pydantic schema models agree."""
    assert r.model_dump() == r._pydantic().model_dump()
    assert r.model_dump(exclude={"output": {"text"}}) == {
        k: v for k, v in r.model_dump().items() if k != "output"} | {
        "output": {k: v for k, v in r.model_dump()["output"].items() if k != "text"}}
    assert r.model_dump(mode="json")["output"]["sections"] == [dict(s.model_dump()) for s in r.sections]


def test_equality_and_hashing():
    a, b = gritkit.try_parse(TEXTS[0]), gritkit.parsing._parse(TEXTS[0], gritkit.parsing._grammar("grit", None))
    assert a == b and a is not b and hash(a) == hash(b)
    assert len({a, b}) == 1
    box = a.boxes[0]
    assert box == Box(coords=(1, 2, 3, 4), syntax="tuple", section="think", start=box.start, end=box.end)
    assert box != a.boxes[1] and box != box.coords
    assert hash(box) == hash(box.model_copy())
    assert Box.model_fields.keys() == {"coords", "label", "syntax", "section", "start", "end", "index"}


@pytest.mark.parametrize("obj, field", [
    (RESULTS[0], "ok"), (RESULTS[0].output, "boxes"), (RESULTS[0].boxes[0], "coords"),
    (RESULTS[0].sections[0], "text"), (RESULTS[1].error, "line"), (RESULTS[1].deviations[0], "code"),
])
def test_results_are_immutable(obj, field):
    with pytest.raises(AttributeError, match="immutable.*model_copy"):
        setattr(obj, field, None)
    with pytest.raises(AttributeError):
        obj.new_attribute = 1  # no __dict__


def test_model_copy_updates_without_touching_the_original():
    box = RESULTS[0].boxes[0]
    moved = box.model_copy(update={"coords": (0, 0, 1, 1)})
    assert moved.coords == (0, 0, 1, 1) and box.coords == (1, 2, 3, 4)
    assert moved.label == box.label and type(moved) is Box


def test_constructors_validate_like_pydantic():
    b = Box(coords=[1, 2, 3, 4.5], syntax="list", start=0, end=9)
    assert b.coords == (1, 2, 3, 4.5) and b.label is None and b.index == 0
    with pytest.raises(ValidationError):
        Box(coords=(1, 2, 3), syntax="list", start=0, end=1)
    with pytest.raises(ValidationError):
        Box(coords=(1, 2, 3, 4), syntax="hexagon", start=0, end=1)
    with pytest.raises(ValidationError):
        Section(kind="think", start=0, end=1, body_start=0, body_end=1, text="", extra_field=1)
    out = GroundedOutput(text="x", boxes=(b,), sections=[{"kind": "answer", "start": 0, "end": 1,
                                                          "body_start": 0, "body_end": 1, "text": "x"}])
    assert isinstance(out.sections[0], Section) and out.boxes[0] is not None
    r = ParseResult(ok=True, grammar="grit", output=out)
    assert r.error is None and r.deviations == () and r.boxes == (b,) and r.answer is None
    assert isinstance(ErrorInfo(line=1, column=1, offset=0, message="m"), ErrorInfo)
    assert Deviation(code="c", message="m", offset=0, line=1, column=1).code == "c"


def test_schema_and_repr():
    schema = ParseResult.model_json_schema()
    assert schema["title"] == "ParseResult" and {"Box", "Section", "GroundedOutput"} <= set(schema["$defs"])
    assert repr(RESULTS[0].boxes[0]).startswith("Box(coords=(1, 2, 3, 4), label=None, syntax='tuple'")
    assert dict(RESULTS[0].boxes[0])["coords"] == (1, 2, 3, 4)  # iterating gives (field, value) pairs


def test_results_are_not_pydantic_instances_but_work_as_fields_of_pydantic_models():
    assert not isinstance(RESULTS[0], BaseModel)
    assert isinstance(RESULTS[0], ParseResult) and isinstance(RESULTS[0].output, GroundedOutput)

    class Scored(BaseModel):
        result: ParseResult
        best: Optional[Box] = None

    r = RESULTS[0]
    s = Scored(result=r, best=r.boxes[0])
    assert s.result is r and s.best is r.boxes[0]
    assert Scored.model_validate_json(s.model_dump_json()) == s
    assert Scored(**s.model_dump()).result == r
    assert s.model_dump(mode="json")["best"]["coords"] == [1, 2, 3, 4]
    assert "ParseResult" in json.dumps(Scored.model_json_schema())
    with pytest.raises(ValidationError):
        Scored(result={"ok": True})


def test_error_and_deviations_of_malformed_text_are_built_on_first_read_once():
    import threading

    text = "<think>a<think>b [1, 2, 3] <answer>c"
    results = [gritkit.parsing._parse(text, gritkit.parsing._grammar("grit", None)) for _ in range(8)]
    seen = []

    def read(r):
        seen.append((r.error, r.deviations, r.has_deviation("nested_tag")))

    threads = [threading.Thread(target=read, args=(r,)) for r in results for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({(e, d, h) for e, d, h in seen}) == 1
    r = results[0]
    assert r.error is r.error and r.deviations is r.deviations and r.error.label == "unclosed <think>"
    assert [d.code for d in r.deviations] == ["nested_tag", "not_a_box", "unclosed_section", "missing_section"]
    assert pickle.loads(pickle.dumps(results[1])) == r and hash(results[2]) == hash(r)

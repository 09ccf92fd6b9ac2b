"""The parser's results are the same as those of the parser this one replaced.

``tests/cases/parse_reference.jsonl.gz`` holds the ``model_dump()`` of every result
of the pydantic-model parser (gritkit before the lean result classes), one line per
text of :func:`reference_texts`: the benchmark corpus, random tag-and-box text, and
the texts of the grammar and error tests, in three grammars. The test parses the
same texts now and compares whole results, field by field.

Two changes since then are intended, and the comparison applies them to the frozen
results before comparing (nothing else may differ):

* a bracketed box cut off by the end of the text is a ``truncated_box`` deviation,
  not a box (issue 9, defect 8; docs/grammar.md);
* a number is written in ASCII digits (the old fast scanner read ``(١, ٢, ٣, ٤)`` as a
  box; the texts here hold no non-ASCII digit, tests/test_scanner.py covers them).

Regenerate the file only from the parser it was frozen from:
``python tests/test_parse_identical.py --freeze``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import random
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REFERENCE = os.path.join(HERE, "cases", "parse_reference.jsonl.gz")
GRAMMARS = ("grit", "r1", "grit[think=thinking,answer=final]")

FRAGMENTS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>", "<thinking>",
             "</thinking>", "<final>", "</final>", "(", ")", "[", "]", "{", "}", ",", ", ", " ", "\n",
             "1", "23", "-4", "5.5", "1, 2, 3, 4", "(1, 2, 3, 4)", "[5, 6, 7, 8]", '"bbox_2d": ',
             '"label": "x"', "'label': 'y'", "<ref>", "</ref>", "<box>", "</box>", "<|box_start|>",
             "<|box_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|det|>", "<|/det|>",
             "<|ref|>", "<|/ref|>", "cat", "'", "\x00", "\ufffd", "é", "猫", "\u202e", "1,000,000,000",
             "(10,20),(30,40)", "chair[[", "]]", '{"bbox": [1, 2, 3, 4]}']

CASE_TEXTS = [
    "<think>cat at (1, 2, 30, 40)</think><rethink>ok</rethink><answer> 1",
    "<think>truncated (1, 2, 30, 40)",
    '<think>{"bbox_2d": [1, 2, 3, 4], "label": "cup"}</think>',
    '{"bbox_2d": [142, 314, 299, 447], "label": "chair", "bbox_2d": [0, 439, 58, 531], "label": "chair2"}',
    '{"bbox_2d": [1, 2, 3, 4], "label": "a", "bbox_2d": [5, 6, 7, 8], "label": "b", "label": "c"}',
    '```json\n[\n  {"bbox_2d": [10, 20, 30, 40], "label": "cat"},\n  {"bbox_2d": [50, 60, 70, 80]}\n]\n```',
    "chair[[142, 314, 299, 447], [0, 439, 58, 531]] and [[1, 2, 3, 4], [5, 6, 7]]",
    "<|object_ref_start|>the cat<|object_ref_end|><|box_start|>(10,20),(300,400)<|box_end|>",
    "<|box_start|>(10,20),(300,400),(1,2)<|box_end|>",
    "<ref>chair</ref><box>[[142, 314, 299, 447], [0, 439, 58, 531]]</box>",
    "<|ref|>dog<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>",
    "box (12.5, 30.25, -4, 50.0) and (1, 2.0, 3, 4.5)",
    "[x1, y1, x2, y2] and (x1, y1, x2, y2) [1, 2, 3] and [1, 2, 3, 4, 5] and (1, 2, 3)",
    "1, 2, 3 and 1, 2, 3, 4, 5 and 1, 2, 3, 4, 5, 6, 7, 8; 100,200,300,400; 2019, 2020, 2021, 2022",
    "The sign reads 1,000,000,000 dollars; NaN, Infinity, inf, nan; version v1.2, 3, 4, 5; +3, 2, 3, 4",
    ".5, 2, 3, 4, 5 and (" + ", ".join(["9" * 5000] * 4) + ")",
    "(0, 0, 1, 1) <think>(1, 2, 3, 4)</think> (5, 6, 7, 8) <rethink>[1, 1, 2, 2]</rethink>"
    "<answer>(9, 9, 10, 10)</answer> (2, 2, 3, 3)",
    "<think>a", "<think>\nline two\nline three", "<think>a</think>", "<think>a</think>\n<answer>7",
    "<think>a <rethink>b</rethink><answer>c", "a </think><rethink>b</rethink><answer>c",
    "<think>a</think><rethink>b</rethink><answer>c</answer><answer>d", "<think>a</think><think>b</think>",
    "", "<answer>7", "<think>" + "word " * 200 + "<answer>x",
    "<think>a<think>b</think><rethink>c</rethink><answer>d", "<rethink>b</rethink><think>a</think><answer>c",
    "<think>a</think><rethink>b</rethink></rethink><answer>c",
    "the cup (1, 2, 3, 4)</think><rethink>ok</rethink><answer>1",
    '<think> dog at [120, 45, 300, 260] … {"bbox_2d": [310, 20, 360, 70]} <rethink> looks right </rethink>'
    " <answer> yes",
    "<think>\x00(1,\x002, 3, 4)\x00</think>\x00" * 20,
    "<think>猫 (1, 2, 3, 4) кошка [5, 6, 7, 8] قطة</think><rethink>ﷺ</rethink><answer>x",
    "<think>\ud800 (1, 2, 3, 4)</think>",
    "[NaN, Infinity, -Infinity, 1e309] (nan, inf, 1, 2)",
    "[" * 300 + "1, 2, 3, 4" + "]" * 300, '{"bbox_2d": ' * 300 + "[1, 2, 3, 4]" + "}" * 300,
    '<think>{"bbox_2d": [1, 2, 3, 4], "label": "cat"',
    "<thinking>cat (1, 2, 3, 4)</thinking><rethink>ok</rethink><final>y</final>",
]


def _yaml_texts() -> list[str]:
    import yaml

    with open(os.path.join(HERE, "cases", "grit_outputs.yaml"), encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return [v["completion"] for v in data.values() if isinstance(v, dict) and "completion" in v]


def reference_texts() -> list[tuple[str, str]]:
    """``(grammar, text)`` pairs, the same on every run."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from corpus import make_corpus

    corpus = [r["output"] for r in make_corpus(2000, seed=0)] + [r["output"] for r in make_corpus(1000, seed=3)]
    rng = random.Random(8)
    noise = ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randrange(0, 60))) for _ in range(1500)]
    fixed = CASE_TEXTS + _yaml_texts()
    pairs = [("grit", t) for t in corpus + noise + fixed]
    pairs += [("r1", t) for t in corpus[:300] + noise[:500] + fixed]
    pairs += [(GRAMMARS[2], t) for t in noise[:500] + fixed]
    return pairs


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _normal(value):
    """A dump as JSON would hold it (tuples as lists), with floats kept exact."""
    return json.loads(json.dumps(value, allow_nan=True))


def _dump(result) -> dict:
    d = result.model_dump()
    del d["output"]["text"]  # the text is regenerated, not stored
    return _normal(d)


def freeze() -> None:  # pragma: no cover - run by hand, from the parser the file documents
    from gritkit import try_parse

    with gzip.open(REFERENCE, "wt", encoding="ascii", compresslevel=9) as f:
        for grammar, text in reference_texts():
            f.write(json.dumps([grammar, _digest(text), _dump(try_parse(text, grammar))],
                               allow_nan=True) + "\n")


def _load():
    with gzip.open(REFERENCE, "rt", encoding="ascii") as f:
        return [json.loads(line) for line in f]


def _apply_intended_changes(old: dict, text: str) -> dict:
    """The frozen result with today's intended changes applied (see the module docstring)."""
    from gritkit.lexer import truncated_tail

    cut = truncated_tail(text)
    if cut is None:
        return old
    start, message = cut
    out = old["output"]
    kept = [b for b in out["boxes"] if b["start"] < start]
    dropped = len(out["boxes"]) - len(kept)
    assert all(b["start"] >= start and b["end"] <= len(text) for b in out["boxes"][len(kept):])
    out["boxes"] = kept
    assert dropped <= 1, "a cut-off box held one bare run at most"
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    dev = {"code": "truncated_box", "message": message, "offset": start, "line": line, "column": column}
    devs = old["deviations"] + [dev]
    devs.sort(key=lambda d: d["offset"])  # stable: earlier deviations at the same offset first
    old["deviations"] = devs
    return old


def test_results_are_identical_to_the_frozen_parser():
    from gritkit import try_parse

    frozen = _load()
    pairs = reference_texts()
    assert len(frozen) == len(pairs), "reference_texts() changed; the frozen file no longer matches it"
    cut = 0
    for (grammar, text), (g, digest, old) in zip(pairs, frozen):
        assert (grammar, _digest(text)) == (g, digest), "reference_texts() changed"
        expected = _apply_intended_changes(old, text)
        cut += any(d["code"] == "truncated_box" for d in expected["deviations"])
        new = _dump(try_parse(text, grammar))
        assert new == expected, f"{grammar}: {text[:200]!r}"
    assert cut > 10  # the corpus truncates some completions inside a box


def test_every_box_number_is_the_same_python_type():
    """JSON keeps ints and floats apart; check the types directly on a sample too."""
    from gritkit import try_parse

    for grammar, text in reference_texts()[:500]:
        for b in try_parse(text, grammar).boxes:
            assert all(type(c) in (int, float) for c in b.coords)
            assert all(not isinstance(c, float) or not math.isnan(c) for c in b.coords)


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--freeze"]:
        sys.path.insert(0, ROOT)
        freeze()
        print(f"wrote {REFERENCE}: {os.path.getsize(REFERENCE):,} bytes")
    else:
        pytest.main([__file__, "-q"])

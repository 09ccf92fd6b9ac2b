"""gritkit.records: the one home of "a record becomes (text, Sample)", and the commands that use it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gritkit.cli import main
from gritkit.errors import ConfigError, DataError
from gritkit.records import (ColumnMap, RecordReader, as_column_map, completion_text, parse_field_renames,
                             rename_fields, to_plain)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "examples" / "data" / "sample_outputs.jsonl"
IMAGES = ROOT / "examples" / "data" / "images"


@pytest.mark.parametrize("renames, record, expected", [
    ({"a": "b", "b": "a"}, {"a": 1, "b": 2}, {"a": 2, "b": 1}),               # a swap
    ({"a": "b"}, {"a": 1, "b": 2}, {"b": 1}),                                  # replaces
    ({"a": "b", "b": "c"}, {"a": 1, "b": 2}, {"b": 1, "c": 2}),                # no chaining
    ({"x": "y"}, {"a": 1}, {"a": 1}),                                          # absent column
    ({}, {"a": 1}, {"a": 1}),
])
def test_rename_fields_all_at_once(renames, record, expected):
    assert rename_fields(record, renames) == expected


@pytest.mark.parametrize("pairs, message", [
    (["nope"], "not OLD=NEW"),
    (["=x"], "not OLD=NEW"),
    (["a=b", "a=c"], "renames the column 'a' twice"),
])
def test_bad_renames_are_config_errors(pairs, message):
    with pytest.raises(ConfigError, match=message):
        parse_field_renames(pairs)


def test_reader_precedence_and_errors():
    reader = RecordReader(default_box_format="norm_1000", min_pixels=10, max_pixels=100)
    assert reader.sample({}).box_format == "norm_1000"
    assert reader.sample({"box_format": "xywh"}).box_format == "xywh"
    assert RecordReader(box_format="xyxy").sample({"box_format": "xywh"}).box_format == "xyxy"
    assert reader.sample({}).max_pixels == 100 and reader.sample({"max_pixels": 7}).max_pixels == 7
    with pytest.raises(DataError, match="Record 3: .*box format 'nope'"):
        reader.sample({"box_format": "nope"}, 3)
    with pytest.raises(DataError, match="Record 4: The record has no completion text"):
        reader.read({"answer": "x"}, 4)
    with pytest.raises(DataError, match="Record 5 is a list"):
        reader.read([1, 2], 5)
    with pytest.raises(DataError, match="Fix: map it"):
        RecordReader(fix="Fix: map it").sample({"bboxs": "not boxes"})


def test_reader_reads_image_sizes_from_files():
    record = json.loads(SAMPLES.read_text().splitlines()[0])
    record.pop("width"), record.pop("height")
    sample = RecordReader(image_root=str(IMAGES)).sample(record)
    from PIL import Image

    with Image.open(IMAGES / record["image"]) as im:
        assert (sample.image_size.width, sample.image_size.height) == im.size


def test_column_maps_from_any_mapping():
    class Frozen(dict):  # stands in for OmegaConf's DictConfig: a Mapping, not always a dict
        pass

    assert as_column_map(Frozen(answer=("solution",))).answer == ("solution",)
    assert as_column_map(None) == ColumnMap()
    with pytest.raises(ConfigError, match="Invalid column map"):
        as_column_map({"nope": "x"})
    assert to_plain({"a": (1, 2)}) == {"a": [1, 2]}


@pytest.mark.parametrize("completion, expected", [
    ("<answer>7", "<answer>7"),
    ([{"role": "assistant", "content": "<answer>7"}], "<answer>7"),
    ([{"role": "assistant", "reasoning_content": "a (1, 2, 3, 4)", "content": "<answer>7"}],
     "<think>a (1, 2, 3, 4)</think><answer>7"),
    ({"role": "assistant", "thinking": "t", "content": "c"}, "<think>t</think>c"),
    ([{"role": "assistant", "content": "x"}, {"role": "tool", "content": "crop"},
      {"role": "assistant", "content": "y"}], "xy"),
    ("\ud83d lone", "\ufffd lone"),
])
def test_completion_text(completion, expected):
    assert completion_text(completion) == expected


def test_completion_text_uses_the_grammars_tags():
    msg = {"role": "assistant", "reasoning_content": "r", "content": "c"}
    assert completion_text(msg, ("<thinking>", "</thinking>")) == "<thinking>r</thinking>c"


# ---------------------------------------------------------------------------------------------
# --field swaps two columns the same way in every command


@pytest.fixture
def swapped(tmp_path):
    """The sample outputs with the `output` and `answer` columns swapped."""
    lines = []
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec["output"], rec["answer"] = rec["answer"], rec["output"]
        lines.append(json.dumps(rec))
    path = tmp_path / "swapped.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SWAP = ["--field", "output=answer", "--field", "answer=output"]


def _run(capsys, argv):
    code = main(argv)
    return code, capsys.readouterr().out


def test_field_swap_in_score(swapped, capsys):
    straight = _run(capsys, ["score", str(SAMPLES), "--preset", "grit", "--json"])
    assert _run(capsys, ["score", str(swapped), "--preset", "grit", "--json"] + SWAP) == straight
    assert _run(capsys, ["score", str(swapped), "--preset", "grit", "--json"]) != straight


def test_field_swap_in_eval(swapped, capsys):
    straight = _run(capsys, ["eval", str(SAMPLES), "--json"])
    assert _run(capsys, ["eval", str(swapped), "--json"] + SWAP) == straight


def test_field_swap_in_render(swapped, tmp_path, capsys):
    def pictures(path, extra):
        out = tmp_path / f"render-{len(extra)}-{path.name}"
        main(["render", str(path), "--images", str(IMAGES), "--out", str(out), "--records", "0-3"] + extra)
        capsys.readouterr()
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.png"))}

    straight = pictures(SAMPLES, [])
    assert len(straight) == 4
    assert pictures(swapped, SWAP) == straight

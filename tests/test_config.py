"""Reward configs: formats, validation messages, gates, presets, and the column map."""

from __future__ import annotations

import json

import pytest

from gritkit.config import (RewardConfig, RewardSpec, gate_order, list_presets, load_config,
                            load_preset)
from gritkit.errors import ConfigError, DataError
from gritkit.models import Sample
from gritkit.records import ColumnMap, RecordReader

TOML = """
description = "test"
box_format = "norm_1000"
on_error = "none"
min_pixels = 3136
max_pixels = 200704

[[rewards]]
name = "format"
options = { mode = "paper" }

[[rewards]]
name = "answer_match"
as = "answer"
weight = 2.0
gate = { reward = "format", min = 1.5 }

[columns]
text = "completion"
answer = ["solution", "answer"]
"""


def check_loaded(cfg: RewardConfig) -> None:
    assert [(r.name, r.component, r.weight) for r in cfg.rewards] == [
        ("format", "format", 1.0), ("answer_match", "answer", 2.0)]
    assert cfg.rewards[0].options == {"mode": "paper"}
    assert cfg.rewards[1].gate.reward == "format" and cfg.rewards[1].gate.min == 1.5
    assert cfg.rewards[1].gate.else_value == 0.0
    assert (cfg.box_format, cfg.on_error, cfg.min_pixels, cfg.max_pixels) == ("norm_1000", "none", 3136, 200704)
    assert cfg.columns.text == ("completion",) and cfg.columns.answer == ("solution", "answer")
    assert cfg.columns.gt_boxes == ("bboxs", "gt_boxes")  # untouched default


def as_data() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    return tomllib.loads(TOML)


def test_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(TOML)
    cfg = load_config(path)
    check_loaded(cfg)
    assert cfg.source == str(path)


def test_yaml_json_py_dict_and_passthrough(tmp_path):
    import yaml

    data = as_data()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "c.yml").write_text(yaml.safe_dump(data))
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.py").write_text(f"CONFIG = {data!r}\n")
    (tmp_path / "m.py").write_text(
        "from gritkit.config import RewardConfig\n"
        f"CONFIG = RewardConfig.model_validate({data!r})\n")
    for name in ("c.yaml", "c.yml", "c.json", "c.py", "m.py"):
        check_loaded(load_config(str(tmp_path / name)))
    check_loaded(load_config(data))
    cfg = load_config(data)
    assert load_config(cfg) is cfg


def test_presets_load():
    assert list_presets() == ["grit", "grit-official", "r1"]
    for name in list_presets():
        cfg = load_config(name)
        assert cfg.source == f"preset {name!r}" and cfg.description
    assert load_preset("r1").grammar == "r1"
    official = load_preset("grit-official")
    assert [r.component for r in official.rewards] == [
        "answer_format", "think_format", "grounded_format", "repetition", "bleu", "judge"]
    assert all(r.weight == 1.0 for r in official.rewards)


def test_unknown_preset_suggests():
    with pytest.raises(ConfigError, match=r"Unknown preset 'grit-oficial'\. Did you mean 'grit-official'\?"):
        load_config("grit-oficial")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .*nope\.toml.* does not exist"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(ConfigError, match="unknown extension"):
        load_config(tmp_path / "c.txt")
    (tmp_path / "bad.toml").write_text("[[rewards]\nname = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML.*line 1"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "bad.yaml").write_text("rewards: [\n  - name: x\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML at line 2, column 3: expected the node content"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "bad.json").write_text('{"rewards": [}')
    with pytest.raises(ConfigError, match=r"bad\.json is not valid JSON: .* line 1, column 14"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "noconf.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match="does not define CONFIG"):
        load_config(tmp_path / "noconf.py")
    (tmp_path / "raises.py").write_text("1 / 0\n")
    with pytest.raises(ConfigError, match="ZeroDivisionError"):
        load_config(tmp_path / "raises.py")
    (tmp_path / "list.yaml").write_text("- name: format\n")
    with pytest.raises(ConfigError, match="must be a mapping with a 'rewards' list, not a list"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="not a int"):
        load_config(3)


def test_error_messages_say_where_and_how(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rewards:\n  - name: format\n  - name: iou\n    wieght: 2\n    weight: heavy\n"
                    "columns:\n  answr: x\nonerror: raise\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert text.startswith(f"Invalid reward config in {path}: 4 problem(s).")
    assert "rewards[1] (name 'iou').wieght: unknown key 'wieght'. Did you mean 'weight'?" in text
    assert "rewards[1] (name 'iou').weight: Input should be a valid number" in text and '(got "heavy")' in text
    assert "columns.answr: unknown key 'answr'. Did you mean 'answer'?" in text
    assert "onerror: unknown key 'onerror'. Did you mean 'on_error'?" in text
    assert "Allowed keys: rewards, box_format, columns, on_error" in text
    assert "docs/configuration.md" in text


@pytest.mark.parametrize("data, message", [
    ({"rewards": []}, r"rewards: List should have at least 1 item"),
    ({}, r"rewards: required key is missing"),
    ({"rewards": [{"name": "a"}, {"name": "a"}]}, r"component name 'a' is already used by rewards\[0\]"),
    ({"rewards": [{"name": "a"}, {"name": "b", "as": "a"}]}, r"'as'"),
    ({"rewards": [{"name": "a", "gate": {"reward": "fromat"}}, {"name": "format"}]},
     r"rewards\[0\]\.gate\.reward: no component named 'fromat'\. Did you mean 'format'\?"),
    ({"rewards": [{"name": "a", "gate": {"reward": "a"}}]}, r"'a' cannot gate itself"),
    ({"rewards": [{"name": "a", "gate": {"reward": "b"}}, {"name": "b", "gate": {"reward": "a"}}]},
     "the gates form a cycle"),
    ({"rewards": [{"name": "a", "weight": float("nan")}]}, "must be a finite number"),
    ({"rewards": [{"name": "a", "as": "has space"}]}, "not a valid component name"),
    ({"rewards": [{"name": "a", "fallback": "a"}]}, "fallback 'a' is the reward itself"),
    ({"rewards": [{"name": "a", "fallback_options": {"x": 1}}]}, "no fallback reward"),
    ({"rewards": [{"name": "a"}], "on_error": "zero"}, r"on_error: Input should be 'raise' or 'none'"),
    ({"rewards": [{"name": "a"}], "min_pixels": 10, "max_pixels": 5}, "larger than max_pixels"),
    ({"rewards": [{"name": "a", "gate": {"reward": "b", "min": 1, "extra": 2}}, {"name": "b"}]},
     r"rewards\[0\] \(name 'a'\)\.gate\.extra: unknown key 'extra'"),
])
def test_validation(data, message):
    with pytest.raises(ConfigError, match=message):
        load_config(data)


def test_gate_order_puts_gates_first():
    specs = [RewardSpec(name="c", gate={"reward": "b"}), RewardSpec(name="b", gate={"reward": "a"}),
             RewardSpec(name="a")]
    assert gate_order(specs) == [2, 1, 0]
    assert gate_order([RewardSpec(name="x", gate={"reward": "y"}), RewardSpec(name="y", gate={"reward": "x"})]) \
        is None


def test_spec_alias_and_component():
    spec = RewardSpec.model_validate({"name": "judge", "as": "answer"})
    assert spec.as_ == "answer" and spec.component == "answer"
    assert RewardSpec(name="judge").component == "judge"
    assert RewardSpec(name="judge", as_="x").model_dump(by_alias=True)["as"] == "x"


# -- the column map ------------------------------------------------------------------------------------


GRIT_RECORD = {"output": "<think>...</think>", "question": "How many zebras?", "answer": 7,
               "image": "VG_100K/1.jpg", "width": 500, "height": 375,
               "bboxs": [[10, 20.5, 30, 40]], "dataset": "tallyqa", "split": "train", "key_words": ["zebra"]}


def test_grit_record_to_sample():
    s = ColumnMap().to_sample(GRIT_RECORD)
    assert s.answer == "7" and s.question == "How many zebras?" and s.image == "VG_100K/1.jpg"
    assert (s.image_size.width, s.image_size.height) == (500, 375)
    assert s.gt_boxes == ((10.0, 20.5, 30.0, 40.0),) and s.dataset == "tallyqa"
    assert s.extra == {"split": "train", "key_words": ["zebra"]}
    assert s.box_format is None and s.min_pixels is None


def test_alternatives_and_defaults():
    record = {"gt_answer": "Yes", "gt_boxes": [], "answer": None, "completion_ids": [1, 2, 3],
              "min_pixels": 3136.0}
    s = ColumnMap().to_sample(record, default_box_format="norm_1000", default_max_pixels=200704,
                              default_min_pixels=1)
    assert s.answer == "Yes" and s.gt_boxes == () and s.box_format == "norm_1000"
    assert (s.min_pixels, s.max_pixels) == (3136, 200704) and s.completion_ids == (1, 2, 3)
    assert ColumnMap().to_sample({"answer": 2.0}).answer == "2"
    assert ColumnMap().to_sample({"answer": 0.5}).answer == "0.5"
    assert ColumnMap().to_sample({"box_format": "xywh"}, default_box_format="norm_1000").box_format == "xywh"


def test_custom_map_and_unmapped_field():
    cmap = ColumnMap(text="completion", answer="solution", image=[])
    s = cmap.to_sample({"completion": "x", "solution": "b", "answer": "not me", "image": "a.jpg"})
    assert s.answer == "b" and s.image is None
    assert s.extra == {"answer": "not me", "image": "a.jpg"}
    assert cmap.text_of({"completion": "x"}) == "x"


def test_non_string_image_goes_to_extra():
    marker = object()
    s = ColumnMap().to_sample({"image": marker})
    assert s.image is None and s.extra["image"] is marker


@pytest.mark.parametrize("record, message", [
    ({"answer": ["a"]}, r"Record 3: column 'answer' is \[\"a\"\]; expected a string or a number"),
    ({"answer": True}, "column 'answer' is true"),
    ({"bboxs": [1, 2, 3, 4]}, "this is one flat box, wrap it in a list"),
    ({"bboxs": [[1, 2, 3]]}, r"box 0 is \[1, 2, 3\]"),
    ({"bboxs": [[1, 2, 3, "x"]]}, "4 finite numbers"),
    ({"bboxs": "0,0,1,1"}, "expected a list of boxes"),
    ({"width": 640}, "has a width but no height"),
    ({"height": 640}, "has a height but no width"),
    ({"width": -1, "height": 5}, "column 'width' is -1; expected a positive whole number of pixels"),
    ({"width": 10, "height": 2.5}, "column 'height' is 2.5"),
    ({"dataset": {"a": 1}}, "column 'dataset'"),
    ({"max_pixels": 0}, "column 'max_pixels' is 0"),
    ({"completion_ids": [1, "a"]}, "list of integer token ids"),
])
def test_bad_values_name_field_and_record(record, message):
    with pytest.raises(DataError, match=message) as info:
        ColumnMap().to_sample(record, index=3)
    assert "record: {" in str(info.value)


def test_text_of_errors():
    with pytest.raises(DataError, match=r"(?s)no completion text: expected the column 'output'.*--field NAME=output"):
        ColumnMap().text_of({"completion": "x"})
    with pytest.raises(DataError, match="is a int; expected a string"):
        ColumnMap().text_of({"output": 3})
    with pytest.raises(DataError, match="is a list; expected a JSON object"):
        ColumnMap().to_sample([1])


def test_string_numbers_are_accepted_for_sizes():
    s = ColumnMap().to_sample({"width": "640", "height": 480.0})
    assert (s.image_size.width, s.image_size.height) == (640, 480)


def test_make_sample_applies_config_defaults_and_override():
    cfg = load_config({"rewards": [{"name": "x"}], "box_format": "norm_1000", "max_pixels": 200704})
    reader = RecordReader.from_config(cfg)
    assert reader.sample({}).box_format == "norm_1000"
    assert reader.sample({"box_format": "xywh"}).box_format == "xywh"
    assert RecordReader.from_config(cfg, box_format="qwen2_5_vl").sample({"box_format": "xywh"}).box_format \
        == "qwen2_5_vl"
    assert reader.sample({}).max_pixels == 200704
    assert isinstance(reader.sample({}), Sample)


def test_a_preset_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grit").mkdir()
    assert load_config("grit").source == "preset 'grit'"
    (tmp_path / "r1.toml").write_text('[[rewards]]\nname = "x"\n')
    assert load_config("r1").source == "preset 'r1'"  # the suffix makes it a path
    assert load_config("r1.toml").rewards[0].name == "x"

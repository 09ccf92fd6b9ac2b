"""verl's and EasyR1's reward entry points, called exactly as those trainers call them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from _training_data import ADAPTER_CONFIG as CONFIG
from _training_data import GOOD, GT_BOXES

from gritkit.adapters import easyr1, verl
from gritkit.errors import DataError

GT = {"answer": "2", "bboxs": GT_BOXES, "width": 100, "height": 50}


@pytest.fixture(autouse=True)
def _fresh_nan_warning(monkeypatch):
    monkeypatch.setattr(verl, "_warned_nan", False)


def _floats(out: dict) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in out.values())


def test_verl_naive_manager_call():
    # verl/workers/reward_manager/naive.py: compute_score(data_source=, solution_str=, ground_truth=, extra_info=)
    out = verl.compute_score(data_source="tallyqa", solution_str=GOOD, ground_truth=json.dumps(GT),
                             extra_info={"split": "train", "index": 3, "question": "How many cars?"},
                             config=CONFIG)
    assert out == {"score": 1.5 + 0.5 + 1.0 + 0.5, "format": 1.5, "count": 0.5, "answer": 1.0, "iou": 1.0}


def test_verl_reward_kwargs_family_and_numpy_rows():
    # Parquet rows reach the function as numpy arrays; the model writes 0..1000 coordinates (Qwen2-VL).
    text = "<think>(20, 400, 300, 800)</think><rethink>.</rethink><answer>1"
    gt = {"answer": "1", "boxes": np.array([[2.0, 20.0, 30.0, 40.0]]), "size": np.array([100, 50])}
    out = verl.compute_score("tallyqa", text, gt, None, config=CONFIG, model_family="qwen2_vl",
                             unknown_future_kwarg=1)
    assert out["iou"] == 1.0 and out["count"] == 0.5


def test_verl_plain_answer_and_not_applicable():
    out = verl.compute_score("vsr", "<think>x</think><rethink>y</rethink><answer>Yes", "Yes", None, config=CONFIG)
    assert out["answer"] == 1.0
    assert out["count"] == 0.0 and out["iou"] == 0.0  # not applicable: reported as none_value ...
    assert out["score"] == 1.0 + 1.0  # ... and left out of the total
    with pytest.warns(RuntimeWarning, match="GDPO|gdpo"):
        nan = verl.compute_score("vsr", "<answer>Yes", "Yes", None, config=CONFIG, none_value=float("nan"))
    assert math.isnan(nan["count"])


def test_verl_garbage_and_env_config(tmp_path, monkeypatch):
    cfg = tmp_path / "rewards.json"
    cfg.write_text(json.dumps({"rewards": [{"name": "format", "options": {"mode": "paper"}}]}))
    monkeypatch.setenv("GRITKIT_CONFIG", str(cfg))
    for text in ("", "\udcff\ufffd<thi", None, "<answer>" * 300):
        out = verl.compute_score("vsr", text, "Yes", {"index": 0})
        assert set(out) == {"score", "format"} and _floats(out)


def test_verl_bad_ground_truth_is_a_clear_error():
    with pytest.raises(DataError, match="bboxs"):
        verl.compute_score("vsr", GOOD, {"answer": "2", "bboxs": [1, 2, 3, 4]}, None, config=CONFIG)


def test_easyr1_batch_call():
    # EasyR1's BatchFunctionRewardManager: fn(reward_inputs) with response / response_length / ground_truth.
    inputs = [
        {"response": GOOD, "response_length": 30, "ground_truth": json.dumps({**GT, "dataset": "tallyqa"})},
        {"response": "\udcff garbage", "response_length": 3, "ground_truth": "Yes"},
        {"response": "<think>x</think><rethink>y</rethink><answer>No", "response_length": 9,
         "ground_truth": "No", "data_source": "vsr", "multi_modal_data": {"images": ["x.png"]}},
    ]
    outs = easyr1.compute_score(inputs, config=CONFIG)
    assert len(outs) == 3 and all("overall" in o and _floats(o) for o in outs)
    assert outs[0]["overall"] == 3.5 and outs[0]["answer"] == 1.0
    assert outs[1]["overall"] == 0.0
    assert outs[2]["answer"] == 1.0 and outs[2]["format"] == 1.0


def test_easyr1_sequential_and_wrong_type():
    out = easyr1.compute_score_one({"response": GOOD, "response_length": 30, "ground_truth": json.dumps(GT)},
                                   config=CONFIG)
    assert out["overall"] == 3.5
    with pytest.raises(DataError, match="REWARD_TYPE.*easyr1_sequential.py:compute_score"):
        easyr1.compute_score({"response": GOOD, "response_length": 1, "ground_truth": "2"}, config=CONFIG)
    with pytest.raises(DataError, match="expected a dict"):
        easyr1.compute_score(["just a string"], config=CONFIG)


def test_functools_partial_binding_like_easyr1():
    from functools import partial

    fn = partial(easyr1.compute_score, config=CONFIG, model_family="qwen2_5_vl", max_pixels=200704)
    [out] = fn([{"response": GOOD, "response_length": 30, "ground_truth": json.dumps(GT)}])
    assert out["format"] == 1.5


def test_default_preset_is_grit(monkeypatch):
    import os
    import warnings

    for key in [k for k in os.environ if k.startswith(("GRITKIT_JUDGE", "OPENAI_", "GRITKIT_CONFIG"))]:
        monkeypatch.delenv(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the judge's fallback notice
        out = verl.compute_score("tallyqa", GOOD, json.dumps(GT), {})
        [eout] = easyr1.compute_score([{"response": GOOD, "response_length": 30, "ground_truth": json.dumps(GT)}])
    assert {"score", "format", "count", "answer", "bleu"} <= set(out) and _floats(out)
    assert {k: v for k, v in eout.items() if k != "overall"} == {k: v for k, v in out.items() if k != "score"}


# --- verl: OmegaConf-shaped kwargs, the batch manager's plural call, GDPO's finite none_value ---------------

class _DictConfigLike(Mapping):
    """A Mapping that is not a dict, like OmegaConf's DictConfig (verl's inline reward_kwargs)."""

    def __init__(self, data):
        self._data = {k: _wrap(v) for k, v in data.items()}

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class _ListConfigLike(Sequence):
    """A Sequence that is not a list, like OmegaConf's ListConfig."""

    def __init__(self, data):
        self._data = [_wrap(v) for v in data]

    def __getitem__(self, i):
        return self._data[i]

    def __len__(self):
        return len(self._data)


def _wrap(value):
    if isinstance(value, dict):
        return _DictConfigLike(value)
    if isinstance(value, list):
        return _ListConfigLike(value)
    return value


def test_verl_config_and_columns_may_be_any_mapping():
    config = _wrap(CONFIG)
    assert not isinstance(config, dict) and not isinstance(config["rewards"], list)
    out = verl.compute_score("tallyqa", GOOD, json.dumps(GT), {}, config=config,
                             columns=_wrap({"answer": ["answer", "solution"]}))
    assert out == verl.compute_score("tallyqa", GOOD, json.dumps(GT), {}, config=CONFIG)
    from gritkit.config import load_config

    assert load_config(config) == load_config(CONFIG)


def test_verl_batch_manager_plural_call():
    # verl/workers/reward_manager/batch.py: compute_score(data_sources=, solution_strs=, ground_truths=,
    # extra_infos=, **reward_kwargs), then scores[i]["score"] and every key of scores[i].
    rows = [("tallyqa", GOOD, json.dumps(GT), {"index": 0}), ("vsr", "<answer>No", "No", {"index": 1}),
            ("vsr", "\udcff", "Yes", {})]
    outs = verl.compute_score(data_sources=np.array([r[0] for r in rows], dtype=object),
                              solution_strs=[r[1] for r in rows], ground_truths=[r[2] for r in rows],
                              extra_infos=np.array([r[3] for r in rows], dtype=object), config=CONFIG)
    assert isinstance(outs, list) and len(outs) == 3
    assert outs == [verl.compute_score(*r, config=CONFIG) for r in rows]
    assert [o["score"] for o in outs] == [3.5, 1.0, 0.0]
    assert len({tuple(o) for o in outs}) == 1  # verl collects the keys of row 0 for every row


def test_verl_plural_call_lengths_must_match():
    with pytest.raises(DataError, match="3 solution_strs but 2 ground_truths"):
        verl.compute_score(data_sources=["a"] * 3, solution_strs=["x"] * 3, ground_truths=["1", "2"],
                           extra_infos=None, config=CONFIG)


def test_verl_nan_none_value_warns_once():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            verl.compute_score("vsr", "<answer>Yes", "Yes", None, config=CONFIG, none_value=float("nan"))
        verl.compute_score("vsr", "<answer>Yes", "Yes", None, config=CONFIG)
    assert [str(w.message) for w in caught] == [verl.NAN_NONE_VALUE_WARNING]


# --- EasyR1: loaded and called the way EasyR1 loads and calls a reward function ---------------------------

EASYR1_YAML = Path(__file__).resolve().parents[2] / "examples" / "trainers" / "easyr1_grit.yaml"


def _easyr1_load(spec: str, kwargs: dict):
    """EasyR1's loader: ``file.py:name`` (default ``main``) via importlib, kwargs bound with partial,
    calling style from the module's ``REWARD_TYPE`` (default "batch")."""
    import importlib.util
    from functools import partial

    path, _, name = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("easyr1_custom_reward", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    fn = partial(getattr(module, name or "main"), **kwargs)
    return fn, getattr(module, "REWARD_TYPE", "batch"), getattr(module, "REWARD_NAME", None)


def _easyr1_config(module_file: str) -> tuple[str, dict]:
    import yaml

    import gritkit.adapters

    reward = yaml.safe_load(EASYR1_YAML.read_text())["worker"]["reward"]
    assert set(reward) == {"reward_function", "reward_function_kwargs"}  # no removed reward_type key
    spec = reward["reward_function"].replace("<site-packages>/gritkit/adapters/easyr1.py",
                                             str(Path(gritkit.adapters.__file__).parent / module_file))
    return spec, reward["reward_function_kwargs"]


EASYR1_INPUTS = [  # exactly the keys EasyR1 passes
    {"response": GOOD, "response_length": 30,
     "ground_truth": json.dumps({**GT, "width": 112, "height": 56, "dataset": "tallyqa"})},
    {"response": "<think>x</think><rethink>y</rethink><answer>No", "response_length": 9, "ground_truth": "No"},
    {"response": "\udcff garbage", "response_length": 3, "ground_truth": "Yes"},
]


@pytest.mark.parametrize("module_file, reward_type", [("easyr1.py", "batch"),
                                                      ("easyr1_sequential.py", "sequential")])
def test_easyr1_documented_yaml_both_call_styles(module_file, reward_type):
    spec, kwargs = _easyr1_config(module_file)
    fn, style, name = _easyr1_load(spec, kwargs)
    assert (style, name) == (reward_type, "gritkit")
    outs = fn(EASYR1_INPUTS) if style == "batch" else [fn(item) for item in EASYR1_INPUTS]
    assert [o["overall"] for o in outs] == [3.5, 2.0, 0.0]
    assert outs[0] == {"overall": 3.5, "format": 1.5, "count": 0.5, "answer": 1.0, "iou": 1.0}
    assert all(set(o) == set(outs[0]) and _floats(o) for o in outs)  # EasyR1 averages every key
    # the default function name is main
    main_fn, _, _ = _easyr1_load(spec.rsplit(":", 1)[0], kwargs)
    assert (main_fn(EASYR1_INPUTS) if style == "batch" else [main_fn(i) for i in EASYR1_INPUTS]) == outs


def test_easyr1_wrong_module_for_the_call_style_says_which_file():
    spec, kwargs = _easyr1_config("easyr1_sequential.py")
    fn, _, _ = _easyr1_load(spec, kwargs)
    with pytest.raises(DataError, match="REWARD_TYPE.*gritkit/adapters/easyr1.py:compute_score"):
        fn(EASYR1_INPUTS)  # a batch handed to the sequential function


# --- the documented configurations are the tested ones -------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "training.md"


@pytest.mark.parametrize("name", ["verl_grit.yaml", "easyr1_grit.yaml"])
def test_docs_show_the_tested_yaml_verbatim(name):
    text = (EASYR1_YAML.parent / name).read_text().rstrip()
    assert f"```yaml\n{text}\n```" in DOCS.read_text()


def test_docs_gdpo_keys_and_weights_match_the_tested_config():
    import re

    import yaml

    from gritkit.config import load_config

    kwargs = yaml.safe_load((EASYR1_YAML.parent / "verl_grit.yaml").read_text())["reward"][
        "custom_reward_function"]["reward_kwargs"]
    [block] = re.findall(r"```yaml\n(algorithm:\n  adv_estimator: gdpo\n.*?)```", DOCS.read_text(), re.S)
    algo = yaml.safe_load(block)["algorithm"]
    specs = load_config(kwargs["config"]).rewards
    assert algo["gdpo_reward_keys"] == [s.component for s in specs]
    assert algo["gdpo_reward_weights"] == [s.weight for s in specs]

"""verl's and EasyR1's reward entry points, called exactly as those trainers call them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from _training_data import ADAPTER_CONFIG as CONFIG
from _training_data import GOOD, GT_BOXES

from gritkit.adapters import easyr1, verl
from gritkit.errors import DataError

GT = {"answer": "2", "bboxs": GT_BOXES, "width": 100, "height": 50}


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
    with pytest.raises(DataError, match="reward_type=batch"):
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

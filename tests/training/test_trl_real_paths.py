"""TRL's real code paths: ``parse_response`` decoding, threaded scoring, and async GRPO's scoring.

* A tokenizer with TRL's Qwen3 chat template gets TRL's response template
  (``add_response_schema``, what ``GRPOTrainer`` does when tools are given);
  ``parse_response`` then moves ``<think>…</think>`` into ``reasoning_content``.
  gritkit must score the parsed message as it scores the raw text.
* Reward functions called concurrently on threads parse and score a batch once.
* ``trl.experimental.async_grpo``'s own ``_AsyncRolloutLoop._score_group`` (run
  without vLLM: it only needs the reward functions) sums functions unweighted:
  per-reward functions give the wrong total and warn; ``combine=True`` is right.
"""

from __future__ import annotations

import asyncio
import threading
import warnings

import pytest

from _training_data import ADAPTER_CONFIG, GOOD, GT_BOXES

from gritkit.adapters.trl import AsyncGRPOWeightsWarning, to_trl

QWEN3_RESPONSE = ("<think>\ncars (2, 20, 30, 40) and (35, 20, 60, 40)\n</think>\n\n"
                  "<rethink>two cars</rethink><answer>2</answer><|im_end|>")
COLUMNS = dict(answer=["2"], bboxs=[GT_BOXES], width=[100], height=[50], dataset=["tallyqa"])


@pytest.fixture(scope="module")
def qwen3_tokenizer():
    from trl.chat_template_utils import add_response_schema, qwen3_chat_template

    from gritkit.tiny import _QWEN_SPECIALS, build_tokenizer

    tok = build_tokenizer(_QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=qwen3_chat_template)
    add_response_schema(tok)
    assert getattr(tok, "response_template", None) or getattr(tok, "response_schema", None)
    return tok


def _parsed(tok, text: str) -> dict:
    from trl.chat_template_utils import parse_response

    prompt = tok.apply_chat_template([{"role": "user", "content": "How many cars?"}], add_generation_prompt=True,
                                     tokenize=False)
    return parse_response(tok, tok(text, add_special_tokens=False).input_ids,
                          prefix=tok(prompt, add_special_tokens=False).input_ids)


def test_parse_response_moves_think_and_gritkit_puts_it_back(qwen3_tokenizer):
    message = _parsed(qwen3_tokenizer, QWEN3_RESPONSE)
    assert message["reasoning_content"].startswith("cars (2, 20, 30, 40)")
    assert "<think>" not in message["content"] and message["content"].startswith("<rethink>")
    funcs, weights = to_trl(ADAPTER_CONFIG, model_family="qwen2_vl", box_format="xyxy")
    raw = QWEN3_RESPONSE.replace("<|im_end|>", "")
    for f in funcs:
        parsed_score = f(prompts=["q"], completions=[[message]], **COLUMNS)
        raw_score = f(prompts=["q"], completions=[[{"role": "assistant", "content": raw}]], **COLUMNS)
        assert parsed_score == raw_score, f.__name__
    totals = [f(prompts=["q"], completions=[[message]], **COLUMNS)[0] for f in funcs]
    assert sum(w * t for w, t in zip(weights, totals)) == 3.5  # format 1.5, count 0.5, answer 1, iou 0.5·1


def test_parse_response_of_garbage_never_breaks_scoring(qwen3_tokenizer):
    funcs, _ = to_trl(ADAPTER_CONFIG, model_family="qwen2_vl")
    for text in ("<think>never closed", "\ufffd</think><think>", "<tool_call>{bad json</tool_call><|im_end|>"):
        message = _parsed(qwen3_tokenizer, text)
        for f in funcs:
            [value] = f(prompts=["q"], completions=[[message]], **COLUMNS)
            assert value is None or isinstance(value, float)


def test_concurrent_calls_on_threads_parse_the_batch_once(monkeypatch):
    import gritkit

    calls = []
    real = gritkit.try_parse

    def counting(text, *args, **kwargs):
        calls.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(gritkit, "try_parse", counting)
    funcs, _ = to_trl(ADAPTER_CONFIG, model_family="qwen2_vl")
    n = 64
    kwargs = dict(prompts=["q"] * n, completions=[[{"role": "assistant", "content": f"{GOOD} {i}"}]
                                                  for i in range(n)],
                  completion_ids=[[1]] * n, **{k: v * n for k, v in COLUMNS.items()})
    results: dict[str, list] = {}
    barrier = threading.Barrier(len(funcs))

    def run(f):
        barrier.wait()
        results[f.__name__] = f(**kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AsyncGRPOWeightsWarning)
        threads = [threading.Thread(target=run, args=(f,)) for f in funcs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(calls) == n  # not n per function
    assert set(results) == {f.__name__ for f in funcs} and all(len(v) == n for v in results.values())


def _score_group(funcs, completions):
    """trl.experimental.async_grpo's own scoring of one group, without its vLLM rollout loop."""
    from accelerate import PartialState
    from trl.experimental.async_grpo.async_rollout_worker import (RolloutGroup, TrainingSequence,
                                                                  _AsyncRolloutLoop)
    from trl.trainer.utils import get_callable_name

    PartialState(cpu=True)  # its logger needs accelerate's state, as in the rollout child

    loop = object.__new__(_AsyncRolloutLoop)  # _score_group needs only these attributes
    loop.reward_funcs = funcs
    loop.reward_func_names = [get_callable_name(f) for f in funcs]
    loop._env_reward_types = []
    loop._provides_rollout_reward = False
    n = len(completions)
    seq = TrainingSequence(input_ids=[1, 2, 3], completion_mask=[0, 1, 1], old_log_probs=[0.0, -1.0, -1.0],
                           rollout_id=0)
    group = RolloutGroup(prompts=[[{"role": "user", "content": "How many cars?"}]] * n,
                         reward_kwargs={k: v * n for k, v in COLUMNS.items()},
                         completions=[[{"role": "assistant", "content": c}] for c in completions],
                         completions_ids=[[1, 2]] * n, completions_sequences=[[seq]] * n,
                         tool_call_counts=[0] * n, tool_failure_counts=[0] * n, model_version=0, group_id=0,
                         env_rewards=[None] * n, rollout_rewards=[None] * n)
    return asyncio.run(loop._score_group(group))


def test_async_grpo_ignores_weights_and_gritkit_warns_once():
    funcs, weights = to_trl(ADAPTER_CONFIG, model_family="qwen2_vl", box_format="xyxy")
    assert weights == [1.0, 1.0, 1.0, 0.5]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = _score_group(funcs, [GOOD, "<answer>1"])
        _score_group(funcs, [GOOD])
    ours = [w for w in caught if issubclass(w.category, AsyncGRPOWeightsWarning)]
    assert len(ours) == 1 and "combine=True" in str(ours[0].message) and "iou=0.5" in str(ours[0].message)
    assert first[0].metrics["reward"] == 4.0  # 1.5 + 0.5 + 1 + 1: iou's weight 0.5 is lost

    combined, _ = to_trl(ADAPTER_CONFIG, model_family="qwen2_vl", box_format="xyxy", combine=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        right = _score_group(combined, [GOOD, "<answer>1"])
    assert not [w for w in caught if issubclass(w.category, AsyncGRPOWeightsWarning)]
    assert right[0].metrics["reward"] == 3.5  # the weighted total
    assert right[0].metrics["rewards/gritkit"] == 3.5


def test_grpo_trainer_calls_do_not_warn():
    funcs, _ = to_trl(ADAPTER_CONFIG, model_family="qwen2_vl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for f in funcs:  # GRPOTrainer's call: trainer_state, log_extra and log_metric are always there
            f(prompts=["q"], completions=[GOOD], completion_ids=[[1]], trainer_state=None,
              log_extra=lambda *a: None, log_metric=lambda *a: None, **COLUMNS)
    assert not [w for w in caught if issubclass(w.category, AsyncGRPOWeightsWarning)]


def test_a_model_folder_given_as_a_path_sets_the_frame(tmp_path):
    # GRPOTrainer users pass pathlib folders; the family (here Qwen3-VL: 0..1000) is read from config.json.
    (tmp_path / "config.json").write_text('{"model_type": "qwen3_vl"}')
    [iou], _ = to_trl({"rewards": [{"name": "iou"}]}, model_family=tmp_path)
    text = "<think>the car (20, 400, 300, 800)</think><rethink>one</rethink><answer>1"
    assert iou(prompts=["q"], completions=[text], bboxs=[[[2.0, 20.0, 30.0, 40.0]]], width=[100], height=[50]) \
        == [1.0]

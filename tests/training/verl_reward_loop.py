"""Run verl's own reward loop on GRIT rows with gritkit's ``compute_score``; print the results as JSON.

Not a test module: ``tests/training/test_verl_reward_loop.py`` runs it with the
verl environment's Python (``.venv-verl/bin/python``, built by ``make venv-verl``
from ``constraints-verl.txt``), because verl 0.9.1 pins ``transformers<5.11`` while
gritkit's training extra is tested with 5.24.

What it does, all with verl's installed code:

1. starts a local Ray with 2 CPUs;
2. composes ``examples/trainers/verl_grit.yaml`` (the YAML docs/training.md shows: verl's
   ``ppo_trainer`` plus gritkit's reward) with Hydra, as ``verl.trainer.main_ppo`` does,
   so the inline reward config reaches gritkit as an OmegaConf ``DictConfig``;
3. builds a ``RewardLoopManager`` (2 ``RewardLoopWorker`` actors, verl's ``naive``
   reward manager, which decodes each response with the tokenizer and calls
   ``compute_score`` in executor threads) and scores a ``DataProto`` of tokenized
   GRIT responses;
4. runs verl's GDPO advantage estimator on the returned extra keys, and verl's legacy
   batch reward manager (the plural call) on the same rows;
5. prints one JSON object on the last line of stdout.

Usage: ``python verl_reward_loop.py OUT_DIR`` (OUT_DIR receives the tokenizer).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

REPO = Path(__file__).resolve().parents[2]
YAML = REPO / "examples" / "trainers" / "verl_grit.yaml"

GOOD = "<think>cars (2, 20, 30, 40) and (35, 20, 60, 40)</think><rethink>two cars</rethink><answer>2</answer>"
#: (data_source, response, ground_truth, extra_info, group uid). Image sides are multiples of 28, so
#: Qwen2.5-VL's resized frame is the original one and a perfect box has IoU 1.
ROWS = [
    ("tallyqa", GOOD, json.dumps({"answer": "2", "bboxs": [[2, 20, 30, 40], [35, 20, 60, 40]],
                                  "width": 112, "height": 56}), {"question": "How many cars?"}, "a"),
    ("tallyqa", "<think>one car (2, 20, 30, 40)</think><rethink>one</rethink><answer>1</answer>",
     {"answer": "2", "bboxs": [[2, 20, 30, 40], [35, 20, 60, 40]], "width": 112, "height": 56}, {}, "a"),
    ("vsr", "<think>the truck (0, 30, 78, 56)</think><rethink>below</rethink><answer>Yes</answer>", "Yes",
     {"width": 84, "height": 56, "bboxs": [[0, 30, 78, 56]]}, "b"),
    ("vsr", "\ufffd garbage <thi", "Yes", {"width": 84, "height": 56}, "b"),
]


def _tokenizer(folder: Path):
    from gritkit.tiny import _QWEN_SPECIALS, QWEN_CHAT_TEMPLATE, build_tokenizer

    tok = build_tokenizer(_QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=QWEN_CHAT_TEMPLATE)
    tok.save_pretrained(folder)
    return tok


def _config(tokenizer_dir: Path):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(YAML.parent), version_base=None):
        return compose(YAML.stem, overrides=[f"actor_rollout_ref.model.path={tokenizer_dir}",
                                             "reward.num_workers=2"])


def _data(tok):
    import numpy as np
    import torch
    from verl import DataProto

    prompt = tok("<|im_start|>user\nHow many?<|im_end|>\n<|im_start|>assistant\n").input_ids
    responses = [tok(row[1]).input_ids for row in ROWS]
    width = max(map(len, responses)) + 3
    pad = tok.pad_token_id
    prompts = torch.tensor([prompt] * len(ROWS))
    resp = torch.tensor([r + [pad] * (width - len(r)) for r in responses])
    mask = torch.tensor([[1] * len(prompt) + [1] * len(r) + [0] * (width - len(r)) for r in responses])
    non_tensors = {
        "data_source": np.array([row[0] for row in ROWS], dtype=object),
        "reward_model": np.array([{"ground_truth": row[2], "style": "rule"} for row in ROWS], dtype=object),
        "extra_info": np.array([dict(row[3], index=i) for i, row in enumerate(ROWS)], dtype=object),
        "uid": np.array([row[4] for row in ROWS], dtype=object),
    }
    return DataProto.from_dict(tensors={"prompts": prompts, "responses": resp, "attention_mask": mask,
                                        "input_ids": torch.cat([prompts, resp], dim=1)},
                               non_tensors=non_tensors), [len(r) for r in responses]


def _gdpo(data, extra: dict, keys: list[str], weights: list[float]) -> list[float]:
    import numpy as np
    import torch
    from omegaconf import OmegaConf
    from verl.trainer.ppo.core_algos import compute_gdpo_outcome_advantage

    prompt_len = data.batch["prompts"].size(1)
    response_mask = data.batch["attention_mask"][:, prompt_len:]
    config = OmegaConf.create({"gdpo_reward_keys": keys, "gdpo_reward_weights": weights,
                               "norm_adv_by_std_in_grpo": True})
    adv, _ = compute_gdpo_outcome_advantage(
        token_level_rewards=torch.zeros_like(response_mask, dtype=torch.float32), response_mask=response_mask,
        index=data.non_tensor_batch["uid"], config=config,
        non_tensor_batch={k: np.asarray(v, dtype=object) for k, v in extra.items()}, batch=data.batch)
    return [float(adv[i, 0]) for i in range(adv.size(0))]


def main(out_dir: str) -> None:
    import ray
    from omegaconf import DictConfig, OmegaConf
    from verl.experimental.reward_loop import RewardLoopManager
    from verl.workers.reward_manager.batch import BatchRewardManager

    import gritkit
    from gritkit.adapters import verl as gverl

    folder = Path(out_dir)
    tok = _tokenizer(folder / "tokenizer")
    config = _config(folder / "tokenizer")
    assert isinstance(config.reward.custom_reward_function.reward_kwargs.config, DictConfig)
    data, lengths = _data(tok)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=True,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}})
    try:
        manager = RewardLoopManager(config)
        out = manager.compute_rm_score(data)
    finally:
        ray.shutdown()
    rm = out.batch["rm_scores"]
    keys = list(out.meta_info["reward_extra_keys"])
    extra = {k: [float(v) for v in out.non_tensor_batch[k]] for k in keys}
    components = [k for k in keys if k != "score"]
    kwargs = OmegaConf.to_container(config.reward.custom_reward_function.reward_kwargs)
    weights = [spec.get("weight", 1.0) for spec in kwargs["config"]["rewards"]]

    nan_extra = {k: [] for k in keys}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, row in enumerate(ROWS):
            res = gverl.compute_score(row[0], tok.decode(data.batch["responses"][i][:lengths[i]],
                                                         skip_special_tokens=True),
                                      row[2], dict(row[3]), **dict(kwargs, none_value=float("nan")))
            for k in keys:
                nan_extra[k].append(res[k])

    batch_manager = BatchRewardManager(tok, num_examine=0, compute_score=gverl.compute_score,
                                       **OmegaConf.to_container(config.reward.custom_reward_function.reward_kwargs))
    batch_out = batch_manager(data, return_dict=True)

    result = {
        "gritkit": gritkit.__file__,
        "worker_count": len(manager.reward_loop_workers),
        "responses": [tok.decode(data.batch["responses"][i][:lengths[i]], skip_special_tokens=True)
                      for i in range(len(ROWS))],
        "rm_scores": [float(rm[i].sum()) for i in range(rm.size(0))],
        "rm_score_positions": [int(rm[i].nonzero()[0][0]) if rm[i].abs().sum() else -1 for i in range(rm.size(0))],
        "response_lengths": lengths,
        "reward_extra_keys": keys,
        "reward_extra_info": extra,
        "gdpo_weights": weights,
        "gdpo_advantages": _gdpo(data, extra, components, weights),
        "gdpo_advantages_nan_none_value": _gdpo(data, nan_extra, components, weights),
        "nan_none_value_warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
        "batch_manager_rewards": [float(batch_out["reward_tensor"][i].sum()) for i in range(len(ROWS))],
        "batch_manager_extra": {k: [float(v) for v in vs] for k, vs in batch_out["reward_extra_info"].items()},
    }
    print(json.dumps(result, default=str))  # NaN is written as NaN, which json.loads reads back


if __name__ == "__main__":
    main(sys.argv[1])

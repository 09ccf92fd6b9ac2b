"""The TRL setup docs/training.md shows (examples/trainers/trl_grit.py) runs, on a tiny offline Qwen2.5-VL."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trainers" / "trl_grit.py"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_docs_show_the_example_verbatim():
    assert f"```python\n{EXAMPLE.read_text().rstrip()}\n```" in DOCS.read_text()


def test_the_documented_trl_setup_trains(tiny_model, tmp_path):
    from datasets import Dataset
    from PIL import Image

    spec = importlib.util.spec_from_file_location("trl_grit", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    rows = [{"prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many cars?"}]}],
             "image": Image.new("RGB", (112, 56), (30, 30, 200)), "answer": "1", "bboxs": [[2.0, 20.0, 30.0, 40.0]],
             "width": 112, "height": 56, "dataset": "tallyqa"}] * 4
    trainer = example.make_trainer(str(tiny_model("qwen2_5_vl")), Dataset.from_list(rows), str(tmp_path / "run"),
                                   bf16=False, use_cpu=True, max_steps=1, max_completion_length=8,
                                   per_device_train_batch_size=4, logging_steps=1, save_strategy="no",
                                   report_to="none")
    trainer.train()
    keys = {k for entry in trainer.state.log_history for k in entry}
    assert {"rewards/format/mean", "rewards/count/mean", "rewards/answer/mean", "rewards/bleu/mean",
            "grit/parse_error_rate"} <= keys
    assert trainer.args.reward_weights == [f.weight for f in trainer.reward_funcs]
    assert list((tmp_path / "run" / "completions").glob("*.parquet"))  # log_completions: one column per reward

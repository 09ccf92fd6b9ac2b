"""A GRPO run with a zoom-in tool (DeepEyes style: the tool returns a crop of the image) on a tiny Qwen3-VL.

TRL 1.16's ``GRPOTrainer`` with ``tools=`` sets TRL's Qwen3 response template on
the tokenizer (``add_response_schema``), decodes each turn with
``parse_response`` (``<think>…</think>`` → ``reasoning_content``, the
``<tool_call>`` → ``tool_calls``), runs the tool, appends its reply (an image crop
and a text) and generates again. The reward functions then get the whole
multi-turn completion: assistant, tool, assistant.

A random model never writes a tool call, so the policy is scripted: a logits
processor forces the two assistant turns below (the weights still get GRPO's
update). What is checked is gritkit's side: the tool ran on the written box,
and the rewards read the reasoning TRL moved into ``reasoning_content`` and the
answer of the second turn, skipping the tool turn, in Qwen3-VL's frame (0..1000).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

# ground truth (2, 20, 30, 40) in a 100×50 image, written as Qwen3-VL does: 0..1000 of the image
TURN_1 = ('<think>the car is at (20, 400, 300, 800), zoom in</think>\n<tool_call>\n'
          '{"name": "zoom_in", "arguments": {"bbox_2d": [20, 400, 300, 800]}}\n</tool_call>')
TURN_2 = "<rethink>the crop shows one car</rethink><answer>1</answer>"
CONFIG = {"rewards": [{"name": "format", "options": {"mode": "paper"}}, {"name": "count"},
                      {"name": "answer_match", "as": "answer"}, {"name": "iou", "weight": 0.5}]}
CALLS: list[tuple] = []
SEEN: list = []


def zoom_in(bbox_2d: list) -> list:
    """Zoom in on a region of the image.

    Args:
        bbox_2d: the region as [x1, y1, x2, y2], 0..1000 of the image.

    Returns:
        The crop, and its size.
    """
    from PIL import Image

    x1, y1, x2, y2 = (float(v) for v in bbox_2d)
    box = (int(x1 * 100 / 1000), int(y1 * 50 / 1000), int(x2 * 100 / 1000), int(y2 * 50 / 1000))
    CALLS.append(box)
    crop = Image.new("RGB", (100, 50), (200, 30, 30)).crop(box).resize((32, 32))
    return [{"type": "image", "image": crop}, {"type": "text", "text": f"crop of {box}"}]


def _scripted(model, tok):
    """Make ``model.generate`` write TURN_1, then (after a tool reply) TURN_2, each ending with <|im_end|>."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    eos = tok.convert_tokens_to_ids("<|im_end|>")
    turns = [tok(t, add_special_tokens=False).input_ids + [eos] for t in (TURN_1, TURN_2)]
    original = model.generate

    class Forced(LogitsProcessor):
        def __init__(self, start: int, scripts: list[list[int]]):
            self.start, self.scripts = start, scripts

        def __call__(self, input_ids, scores):
            forced = torch.full_like(scores, float("-inf"))
            for row, script in enumerate(self.scripts):
                n = input_ids.shape[1] - self.start
                forced[row, script[n] if n < len(script) else eos] = 0.0
            return forced

    def generate(*args, **kwargs):
        ids = kwargs["input_ids"]
        scripts = [turns[min(1, tok.decode(row).count("<tool_response>"))] for row in ids]
        kwargs["logits_processor"] = LogitsProcessorList([Forced(ids.shape[1], scripts)])
        return original(*args, **kwargs)

    model.generate = generate


def _probe(completions, **kwargs):
    SEEN.extend(completions)
    return [0.0] * len(completions)


def test_grpo_with_a_zoom_in_tool(tiny_model, tmp_path):
    from datasets import Dataset
    from PIL import Image
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen3_vl_chat_template

    from gritkit.adapters.trl import to_trl
    from gritkit.tiny import load_processor

    folder = tiny_model("qwen3_vl")
    processor = load_processor(folder)
    processor.chat_template = processor.tokenizer.chat_template = qwen3_vl_chat_template  # TRL's, tool-aware
    model = AutoModelForImageTextToText.from_pretrained(folder)
    _scripted(model, processor.tokenizer)
    funcs, weights = to_trl(CONFIG, processor=processor, model_family=folder)
    _probe.__name__ = "probe"
    image = Image.new("RGB", (100, 50), (20, 20, 200))
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": [{"type": "image"}, {
        "type": "text", "text": "How many cars are there? Zoom in if needed."}]}], "image": image, "answer": "1",
        "bboxs": [[2.0, 20.0, 30.0, 40.0]], "width": 100, "height": 50, "dataset": "tallyqa"}] * 4)
    args = GRPOConfig(output_dir=str(tmp_path / "run"), per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=400, max_steps=2, learning_rate=1e-3, logging_steps=1,
                      save_strategy="no", report_to="none", use_cpu=True, bf16=False, seed=0,
                      reward_weights=[*weights, 0.0], max_tool_calling_iterations=2)
    CALLS.clear()
    SEEN.clear()
    trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=[*funcs, _probe], args=args,
                          train_dataset=ds, tools=[zoom_in])
    assert getattr(processor.tokenizer, "response_template", None) is not None  # set by GRPOTrainer for tools
    trainer.train()
    assert trainer.state.global_step == 2

    # The tool ran on the box the model wrote (0..1000 → pixels of the 100×50 image).
    assert CALLS and set(CALLS) == {(2, 20, 30, 40)}
    # The rewards got multi-turn completions: assistant (parsed), tool, assistant.
    assert SEEN and all([m["role"] for m in c] == ["assistant", "tool", "assistant"] for c in SEEN)
    first = SEEN[0][0]
    assert first["reasoning_content"].startswith("the car is at") and first["tool_calls"]
    assert "<think>" not in (first.get("content") or "")
    # ... and read them right: full format, the count, the answer and IoU 1 in Qwen3-VL's frame.
    logged = {k: v for entry in trainer.state.log_history for k, v in entry.items() if k.startswith("rewards/")}
    assert logged["rewards/format/mean"] == pytest.approx(1.5)
    assert logged["rewards/count/mean"] == pytest.approx(0.5)
    assert logged["rewards/answer/mean"] == pytest.approx(1.0)
    assert logged["rewards/iou/mean"] == pytest.approx(1.0)

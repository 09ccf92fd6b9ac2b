"""GRPO step cost on a GPU: gritkit's TRL rewards vs the same rewards as plain TRL functions.

Builds a model with **Qwen2.5-VL-3B-Instruct's configuration** (the values are
written out below; random weights, bf16, nothing downloaded) and a tiny
byte-level tokenizer trained on the spot, then runs a few GRPO steps of TRL's
``GRPOTrainer`` on synthetic GRIT-style images twice, side by side:

1. ``gritkit``: ``to_trl("grit")`` (the judge falls back to ``answer_match``: no
   endpoint is used, network latency is not what this measures);
2. ``plain``: the same four terms (format, count, answer match, BLEU-1 x 0.1)
   written as ordinary regex TRL reward functions, as a user would write them.

Every reward call is timed through a wrapper, and so is the model's ``generate``.
Reported per run: step time, generated tokens per second (over generation time
and over the whole step), peak GPU memory, and the share of step time spent in
rewards. Targets (docs/performance.md): rewards < 1% of step time, and the
adapter's reward time within 1% of step time of the plain functions'.

Usage::

    python benchmarks/bench_grpo_gpu.py                     # CUDA GPU required
    python benchmarks/bench_grpo_gpu.py --steps 6 --max-completion-length 1000 --out bench.json
    python benchmarks/bench_grpo_gpu.py --cpu-smoke         # the same code path, tiny config, on a CPU

The random model never emits EOS, so every completion runs to
``--max-completion-length`` tokens: a worst case for generation time, and
realistic-length text for the rewards.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

# Qwen2.5-VL-3B-Instruct's config.json (text and vision), written out so nothing is downloaded.
# Token ids are replaced by the tiny tokenizer's; the vocabulary size is kept (logits cost the same).
QWEN2_5_VL_3B_TEXT = dict(
    vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
    num_attention_heads=16, num_key_value_heads=2, hidden_act="silu", max_position_embeddings=128000,
    rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                        "mrope_section": [16, 24, 24]},
    sliding_window=32768, use_sliding_window=False, attention_dropout=0.0, tie_word_embeddings=True,
)
QWEN2_5_VL_3B_VISION = dict(
    depth=32, hidden_act="silu", hidden_size=1280, intermediate_size=3420, num_heads=16, in_channels=3,
    out_hidden_size=2048, patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
    fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2,
)
# The --cpu-smoke model: the same architecture, tiny.
SMOKE_TEXT = dict(vocab_size=None, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
                  tie_word_embeddings=True)
SMOKE_VISION = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14,
                    spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1],
                    out_hidden_size=64)

GRIT_PIXELS = (3136, 200704)  # GRIT's Qwen processor budget: a 640x480 image becomes 504x364

QUESTIONS = [("How many {o}s are there?", "count"), ("Is the {o} left of the box?", "vsr"),
             ("What color is the {o}?", "vsr")]
OBJECTS = ["car", "cup", "dog", "bird", "sign"]
COLORS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}


# ---------------------------------------------------------------------------
# The same rewards as plain TRL functions (what a user would write without gritkit)
# ---------------------------------------------------------------------------

_BOX = re.compile(r"\b\d+,\s*\d+,\s*\d+,\s*\d+\b")
_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_RETHINK = re.compile(r"</think>.*?<rethink>(.*?)</rethink>", re.S)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)
_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10}


def _text(completion: Any) -> str:
    return completion[0]["content"] if isinstance(completion, list) else completion


def _norm(text: str) -> str:
    text = re.sub(r"[^a-z0-9 ]", " ", text.lower())
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def format_reward(completions, **kwargs):
    out = []
    for c in completions:
        t = _text(c)
        out.append(0.5 * bool(_THINK.search(t)) + 0.5 * bool(_RETHINK.search(t)) + 0.5 * bool(_BOX.search(t)))
    return out


def count_reward(completions, answer, **kwargs):
    out = []
    for c, a in zip(completions, answer):
        a = _norm(str(a))
        n = int(a) if a.isdigit() else _WORDS.get(a)
        if n is None:
            out.append(None)
            continue
        t = _text(c)
        body = "".join(_THINK.findall(t)) + "".join(_RETHINK.findall(t))
        out.append(0.5 if len(_BOX.findall(body)) == n else 0.0)
    return out


def answer_reward(completions, answer, **kwargs):
    out = []
    for c, a in zip(completions, answer):
        m = _ANSWER.search(_text(c))
        out.append(float(m is not None and _norm(m.group(1)) == _norm(str(a))))
    return out


def bleu_reward(completions, answer, **kwargs):
    out = []
    for c, a in zip(completions, answer):
        m = _ANSWER.search(_text(c))
        pred, ref = (_norm(m.group(1)).split() if m else []), _norm(str(a)).split()
        if not pred or not ref:
            out.append(0.0)
            continue
        refs = {w: ref.count(w) for w in ref}
        hits = sum(min(pred.count(w), refs.get(w, 0)) for w in set(pred))
        bp = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
        out.append(bp * hits / len(pred))
    return out


PLAIN = ([format_reward, count_reward, answer_reward, bleu_reward], [1.0, 1.0, 1.0, 0.1])


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------

class Timed:
    """A reward function wrapper that keeps its ``__name__`` and adds up its wall time."""

    def __init__(self, fn, clock):
        self.fn, self.clock = fn, clock
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.clock.sync()
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


class Clock:
    """Synchronises CUDA before reading the time (no-op on a CPU)."""

    def __init__(self, cuda: bool):
        self.cuda = cuda

    def sync(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize()


def step_timer(clock: Clock, counters: dict):
    """A TrainerCallback recording, per optimiser step, its wall time and the growth of each counter.

    ``counters`` maps a name to a function returning a cumulative number (seconds
    spent in rewards, in ``generate``, ...); each step's share is the difference.
    """
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.deltas: dict[str, list[float]] = {k: [] for k in counters}
            self._start: Optional[float] = None
            self._base: dict[str, float] = {}

        def on_step_begin(self, args, state, control, **kwargs):
            clock.sync()
            self._base = {k: f() for k, f in counters.items()}
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            clock.sync()
            self.times.append(time.perf_counter() - self._start)
            for k, f in counters.items():
                self.deltas[k].append(f() - self._base[k])

    return StepTimer()


# ---------------------------------------------------------------------------
# Model, data, runs
# ---------------------------------------------------------------------------

def build_processor(smoke: bool):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from gritkit.tiny import QWEN_CHAT_TEMPLATE, _QWEN_SPECIALS, _shim, build_tokenizer

    tok = build_tokenizer(_QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=QWEN_CHAT_TEMPLATE)
    lo, hi = (28 * 28, 28 * 28 * 4) if smoke else GRIT_PIXELS
    image_processor = Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2,
                                               size={"shortest_edge": lo, "longest_edge": hi})
    return _shim("ImageOnlyQwen2_5_VLProcessor")(image_processor=image_processor, tokenizer=tok,
                                                   chat_template=QWEN_CHAT_TEMPLATE)


def build_model_folder(processor, smoke: bool, device: str, seed: int, folder: Path) -> tuple[Path, int, int]:
    """Build the random model, save it (with the processor) to ``folder``; ``(folder, model vocab, tokenizer vocab)``.

    Both runs load the same saved weights, and TRL builds the KL reference model from the same folder.
    """
    import torch

    model, model_vocab, tok_vocab = build_model(processor, smoke, device, seed)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder, model_vocab, tok_vocab


def build_model(processor, smoke: bool, device: str, seed: int):
    import torch
    import transformers

    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>",
                                                      "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                                                      "<|video_pad|>")}
    text = dict(SMOKE_TEXT if smoke else QWEN2_5_VL_3B_TEXT)
    if text["vocab_size"] is None:
        text["vocab_size"] = len(tok)
    text.update(bos_token_id=ids["<|im_start|>"], eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"])
    config = transformers.Qwen2_5_VLConfig(
        text_config=text, vision_config=dict(SMOKE_VISION if smoke else QWEN2_5_VL_3B_VISION),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True)
    dtype = torch.float32 if smoke else torch.bfloat16
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config = transformers.GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]], pad_token_id=ids["<|endoftext|>"], do_sample=True)
    return model, config.text_config.vocab_size, len(tok)


def synthetic_records(folder: Path, n: int, smoke: bool, seed: int) -> list[dict]:
    """GRIT-schema records over synthetic images (coloured rectangles on a grey background)."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        w, h = (96, 64) if smoke else rng.choice([(640, 480), (500, 375), (424, 351), (640, 427)])
        img = Image.new("RGB", (w, h), (128, 128, 128))
        draw = ImageDraw.Draw(img)
        obj = rng.choice(OBJECTS)
        color = rng.choice(list(COLORS))
        boxes = []
        for _ in range(rng.randint(1, 4)):
            x1, y1 = rng.randrange(0, w // 2), rng.randrange(0, h // 2)
            x2, y2 = x1 + rng.randrange(8, w // 2), y1 + rng.randrange(8, h // 2)
            draw.rectangle((x1, y1, x2, y2), fill=COLORS[color])
            boxes.append([float(x1), float(y1), float(x2), float(y2)])
        template, kind = rng.choice(QUESTIONS)
        answer = {"count": str(len(boxes)), "vsr": rng.choice(["Yes", "No", color])}[kind]
        name = f"img_{i}.png"
        img.save(folder / name)
        records.append({"question": template.format(o=obj), "answer": answer, "image": name, "width": w,
                        "height": h, "bboxs": boxes, "dataset": "tallyqa" if kind == "count" else "vsr"})
    return records


def run_once(label: str, reward_funcs, reward_weights, processor, dataset, args, clock: Clock,
             model_folder: tuple[Path, int, int], out_dir: Path) -> dict:
    import torch
    from trl import GRPOConfig, GRPOTrainer

    smoke = args.cpu_smoke
    folder, model_vocab, tok_vocab = model_folder
    timed_rewards = [Timed(f, clock) for f in reward_funcs]
    gen = {"seconds": 0.0, "calls": 0}

    def timed_generate(*a, **k):
        clock.sync()
        start = time.perf_counter()
        try:
            return generate(*a, **k)
        finally:
            clock.sync()
            gen["seconds"] += time.perf_counter() - start
            gen["calls"] += 1

    counters = {"rewards": lambda: sum(t.seconds for t in timed_rewards), "generate": lambda: gen["seconds"]}
    counters.update({t.__name__: (lambda t=t: t.seconds) for t in timed_rewards})
    timer = step_timer(clock, counters)
    gen_kwargs = {}
    if model_vocab > tok_vocab:  # never sample ids the tiny tokenizer cannot decode
        gen_kwargs["suppress_tokens"] = list(range(tok_vocab, model_vocab))
    config = GRPOConfig(
        output_dir=str(out_dir / label), max_steps=args.steps, per_device_train_batch_size=args.num_generations,
        num_generations=args.num_generations, max_completion_length=args.max_completion_length,
        learning_rate=2e-6, beta=0.01, temperature=0.9, reward_weights=list(reward_weights), logging_steps=1,
        save_strategy="no", report_to="none", seed=args.seed, dataloader_num_workers=0,
        use_cpu=smoke, bf16=not smoke, fp16=False,
        **{("activation_checkpointing" if "activation_checkpointing" in GRPOConfig.__dataclass_fields__
            else "gradient_checkpointing"): not smoke},
        generation_kwargs=gen_kwargs or None, model_init_kwargs={"dtype": "float32" if smoke else "bfloat16"})
    trainer = GRPOTrainer(model=str(folder), processing_class=processor, reward_funcs=timed_rewards, args=config,
                          train_dataset=dataset, callbacks=[timer])
    model = trainer.model
    generate = model.generate
    model.generate = timed_generate  # TRL generates with the unwrapped model: this same object
    if not smoke:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    peak = torch.cuda.max_memory_allocated() / 2**30 if not smoke else float("nan")
    history = trainer.state.log_history
    lengths = [e["completions/mean_length"] for e in history if "completions/mean_length" in e]
    completions_per_step = args.num_generations  # one prompt per step
    warm = slice(1, None) if len(timer.times) > 1 else slice(None)  # the first step loads, compiles, warms up
    steps = timer.times[warm]
    tokens = [n * completions_per_step for n in lengths][warm]
    reward_s = timer.deltas["rewards"][warm]
    gen_s = timer.deltas["generate"][warm]
    step_mean = statistics.mean(steps)
    result = {
        "label": label,
        "steps_timed": len(steps),
        "step_s_mean": step_mean,
        "step_s_stdev": statistics.stdev(steps) if len(steps) > 1 else 0.0,
        "generated_tokens_per_step": statistics.mean(tokens) if tokens else 0.0,
        "tokens_per_s_generation": sum(tokens) / sum(gen_s) if sum(gen_s) else float("nan"),
        "tokens_per_s_step": sum(tokens) / sum(steps),
        "generate_share_of_step": sum(gen_s) / sum(steps),
        "peak_gpu_memory_gib": peak,
        "reward_s_per_step": statistics.mean(reward_s),
        "reward_share_of_step": sum(reward_s) / sum(steps),
        "per_reward_ms_per_step": {t.__name__: 1000 * statistics.mean(timer.deltas[t.__name__][warm])
                                   for t in timed_rewards},
        "reward_means_last_step": {k[len("rewards/"):-len("/mean")]: v for k, v in history[-2].items()
                                   if k.startswith("rewards/") and k.endswith("/mean")} if len(history) > 1 else {},
    }
    del trainer, model
    gc.collect()
    if not smoke:
        torch.cuda.empty_cache()
    return result


def report(results: list[dict], args) -> str:
    a, b = results
    lines = [
        f"GRPO on Qwen2.5-VL-3B config ({'CPU smoke, tiny config' if args.cpu_smoke else 'random weights, bf16'}): "
        f"{args.steps} steps ({args.steps - 1} timed), {args.num_generations} generations x "
        f"{args.max_completion_length} tokens, 1 prompt/step",
        "",
        f"{'':34}{a['label']:>14}{b['label']:>14}",
    ]
    rows = [("step time (s)", "step_s_mean", "{:.3f}"), ("  stdev (s)", "step_s_stdev", "{:.3f}"),
            ("generated tokens / step", "generated_tokens_per_step", "{:.0f}"),
            ("tokens/s during generate", "tokens_per_s_generation", "{:.1f}"),
            ("tokens/s over the whole step", "tokens_per_s_step", "{:.1f}"),
            ("generate share of step time", "generate_share_of_step", "{:.1%}"),
            ("peak GPU memory (GiB)", "peak_gpu_memory_gib", "{:.2f}"),
            ("reward time / step (ms)", "reward_s_per_step", None),
            ("reward share of step time", "reward_share_of_step", "{:.4%}")]
    for title, key, fmt in rows:
        if fmt is None:
            va, vb = f"{1000 * a[key]:.2f}", f"{1000 * b[key]:.2f}"
        else:
            va, vb = (("n/a" if isinstance(r[key], float) and math.isnan(r[key]) else fmt.format(r[key]))
                      for r in (a, b))
        lines.append(f"{title:34}{va:>14}{vb:>14}")
    overhead = (a["reward_s_per_step"] - b["reward_s_per_step"]) / b["step_s_mean"]
    lines += [
        "",
        *(f"per reward (ms/step), {r['label']}: "
          + ", ".join(f"{k} {v:.2f}" for k, v in r["per_reward_ms_per_step"].items()) for r in (a, b)),
        "",
        f"target 1: rewards < 1% of step time ............ {a['reward_share_of_step']:.4%} "
        f"{'PASS' if a['reward_share_of_step'] < 0.01 else 'FAIL'}",
        f"target 2: adapter within 1% of plain functions . {overhead:+.4%} of step time "
        f"{'PASS' if abs(overhead) < 0.01 else 'FAIL'}",
    ]
    if args.cpu_smoke:
        lines.append("(CPU smoke run: the script works end to end; these figures say nothing about a GPU.)")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="GRPO steps per run; the first is not timed")
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=None, help="default 1000 (16 with --cpu-smoke)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run the same script end to end on a CPU with a tiny config (checks the wiring only)")
    args = parser.parse_args(argv)
    if args.max_completion_length is None:
        args.max_completion_length = 16 if args.cpu_smoke else 1000
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step is a warm-up)")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_smoke:
        print("bench_grpo_gpu.py needs a CUDA GPU: torch.cuda.is_available() is False "
              f"(torch {torch.__version__}). Run it on a GPU machine, or pass --cpu-smoke to check the script "
              "on this CPU with a tiny config.", file=sys.stderr)
        return 2
    device = "cpu" if args.cpu_smoke else "cuda"
    # The judge is left out: with no endpoint the grit preset's answer_match stands in for it.
    for key in [k for k in os.environ if k.startswith(("GRITKIT_JUDGE", "OPENAI_"))]:
        del os.environ[key]

    from gritkit.adapters.trl import to_trl
    from gritkit.train import build_dataset

    clock = Clock(cuda and not args.cpu_smoke)
    processor = build_processor(args.cpu_smoke)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        records = synthetic_records(tmp / "images", max(8, args.steps + 2), args.cpu_smoke, args.seed)
        dataset = build_dataset(records, tmp / "images")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the judge's fallback notice
            gritkit_funcs, gritkit_weights = to_trl("grit", processor=processor, model_family="qwen2_5_vl")
        model_folder = build_model_folder(processor, args.cpu_smoke, device, args.seed, tmp / "model")
        results = [
            run_once("gritkit", gritkit_funcs, gritkit_weights, processor, dataset, args, clock, model_folder, tmp),
            run_once("plain", *PLAIN, processor, dataset, args, clock, model_folder, tmp),
        ]
    text = report(results, args)
    print(text)
    if args.out:
        device_name = torch.cuda.get_device_name(0) if cuda and not args.cpu_smoke else "cpu"
        args.out.write_text(json.dumps({"device": device_name, "torch": torch.__version__,
                                        "settings": {k: (str(v) if isinstance(v, Path) else v)
                                                     for k, v in vars(args).items()},
                                        "results": results, "report": text}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

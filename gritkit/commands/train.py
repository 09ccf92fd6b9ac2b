"""`gritkit train`: GRPO-train a vision-language model on GRIT-schema data with gritkit rewards."""

from __future__ import annotations

import argparse
import json
import os
import warnings

from gritkit.tiny import FAMILIES

NAME = "train"
HELP = "GRPO-train a Hugging Face VLM on GRIT-schema data with gritkit rewards (TRL)"
DESCRIPTION = """\
GRPO-train any Hugging Face image-text-to-text model (a local folder or hub id)
on a dataset in GRIT's schema (JSON Lines + an image folder) with TRL's
GRPOTrainer: GRIT's prompt suffix, a preset or reward config (one logged reward
per component), and GRIT's defaults (lr 2e-6 cosine, beta 0.01, 4 generations,
1000-token completions, temperature 0.9, Qwen max_pixels 200,704). bf16 on a
GPU, fp32 on a CPU. Needs the training extras: pip install 'gritkit[train]'.

--tiny FAMILY builds a tiny RANDOM model (qwen2_5_vl, qwen2_vl, qwen3_vl,
internvl, llava or gemma3) into the output folder and trains it offline on a
CPU: it only proves the wiring.

examples:
  gritkit train --model Qwen/Qwen2.5-VL-3B-Instruct --data data/train.jsonl --images data/images \\
      --preset grit --output-dir runs/grit-qwen --max-steps 200
  gritkit train --model Qwen/Qwen2.5-VL-3B-Instruct --data d.jsonl --images img --lora --use-vllm
  gritkit train --tiny qwen2_5_vl --data examples/data/train.jsonl --images examples/data/images \\
      --max-steps 2 --output-dir /tmp/grit-demo
"""


def _kv(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("model and data")
    src.add_argument("--model", metavar="PATH_OR_HUB_ID", help="the model to train (folder or hub id)")
    src.add_argument("--tiny", metavar="FAMILY", choices=FAMILIES,
                     help="build and train a tiny random model of this family instead (proves the wiring)")
    src.add_argument("--data", required=True, metavar="FILE.jsonl", help="training records in GRIT's schema")
    src.add_argument("--images", metavar="DIR", help="folder the records' image paths are relative to")
    src.add_argument("--limit", type=int, metavar="N", help="use only the first N records")
    rew = parser.add_argument_group("rewards").add_mutually_exclusive_group()
    rew.add_argument("--preset", help="reward preset: grit (default), grit-official, r1")
    rew.add_argument("--config", metavar="FILE", help="reward config (.toml, .yaml, .json, .py)")
    rg = parser.add_argument_group("rewards options")
    rg.add_argument("--box-format", metavar="NAME",
                    help="coordinate convention of the model's boxes (default: from the model family)")
    rg.add_argument("--combine", action="store_true", help="one summed reward instead of one per component")
    tr = parser.add_argument_group("training (GRIT's defaults)")
    tr.add_argument("--output-dir", default="gritkit-grpo", metavar="DIR", help="default: %(default)s")
    tr.add_argument("--max-steps", type=int, default=-1, metavar="N", help="optimiser steps (default: epochs)")
    tr.add_argument("--epochs", type=float, default=1.0, metavar="N", help="epochs when --max-steps is not given")
    tr.add_argument("--learning-rate", "--lr", type=float, metavar="LR", help="default 2e-6")
    tr.add_argument("--beta", type=float, help="KL coefficient (default 0.01)")
    tr.add_argument("--num-generations", type=int, metavar="G", help="completions per prompt (default 4)")
    tr.add_argument("--max-completion-length", type=int, metavar="T", help="default 1000 (32 with --tiny)")
    tr.add_argument("--temperature", type=float, help="default 0.9")
    tr.add_argument("--batch-size", type=int, metavar="B",
                    help="completions per device per step (default: the number of generations)")
    tr.add_argument("--grad-accum", type=int, default=1, metavar="N", help="gradient accumulation steps")
    tr.add_argument("--min-pixels", type=int, help="Qwen processor min_pixels (default 3136)")
    tr.add_argument("--max-pixels", type=int, help="Qwen processor max_pixels (default 200704, GRIT's)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--save-steps", type=int, default=0, metavar="N", help="checkpoint every N steps")
    tr.add_argument("--no-save", action="store_true", help="do not save the final model")
    tr.add_argument("--report-to", default="none", help="none, wandb, tensorboard, trackio, ...")
    tr.add_argument("--log-completions", action="store_true", help="print and save TRL's completions table")
    tr.add_argument("--grpo", action="append", type=_kv, default=[], metavar="KEY=VALUE",
                    help="any other GRPOConfig field, e.g. --grpo gradient_checkpointing=true (repeatable)")
    lo = parser.add_argument_group("LoRA and vLLM")
    lo.add_argument("--lora", action="store_true", help="train LoRA adapters (peft) instead of the full model")
    lo.add_argument("--lora-r", type=int, default=16)
    lo.add_argument("--lora-alpha", type=int, default=32)
    lo.add_argument("--lora-dropout", type=float, default=0.05)
    lo.add_argument("--lora-target-modules", nargs="+", metavar="NAME",
                    help="default: q_proj k_proj v_proj o_proj ('all-linear' for every linear layer)")
    lo.add_argument("--use-vllm", action="store_true", help="generate with vLLM (CUDA)")
    lo.add_argument("--vllm-mode", choices=("colocate", "server"), default="colocate")


def run(args: argparse.Namespace) -> int:
    from gritkit.errors import ConfigError

    if bool(args.model) == bool(args.tiny):
        raise ConfigError("Give exactly one of --model PATH_OR_HUB_ID and --tiny FAMILY.")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    # transformers' own deprecation notices, triggered inside TRL; nothing a user of this command can act on.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")
    if args.tiny:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tiny model is built locally; nothing to download
    from gritkit.train import train

    train(args.model, args.data, args.images, preset=args.preset, config=args.config,
          output_dir=args.output_dir, max_steps=args.max_steps, num_train_epochs=args.epochs,
          learning_rate=args.learning_rate, beta=args.beta, num_generations=args.num_generations,
          max_completion_length=args.max_completion_length, temperature=args.temperature,
          per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
          lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
          lora_target_modules=args.lora_target_modules, use_vllm=args.use_vllm, vllm_mode=args.vllm_mode,
          min_pixels=args.min_pixels, max_pixels=args.max_pixels, box_format=args.box_format,
          combine=args.combine, tiny=args.tiny, seed=args.seed, save_steps=args.save_steps,
          save_final=False if args.no_save else None, report_to=args.report_to,
          log_completions=args.log_completions, limit=args.limit, grpo_kwargs=dict(args.grpo))
    return 0

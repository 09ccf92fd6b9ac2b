"""GRIT's setting with gritkit, end to end: GRPO on GRIT's 20 samples, then generate and eval on a held-out split.

The recipe of the paper (arXiv 2505.15879; docs/learning.md, "The GPU recipe"):

* model ``Qwen/Qwen2.5-VL-3B-Instruct``;
* data: GRIT's 20 training samples in its schema, ``tallyqa_train_10.jsonl`` and
  ``vsr_cot_train_10.jsonl`` from the ``yfan1997/GRIT_data`` dataset, images in
  one folder;
* rewards: the ``grit`` preset (format, count, answer; no box labels);
* GRIT's hyper-parameters (gritkit.train.GRIT_DEFAULTS): learning rate 2e-6
  with a cosine schedule, KL beta 0.01, 4 generations per prompt, temperature
  0.9, 1000-token completions, Qwen pixel budget 3,136 to 200,704; 200 steps;
* vLLM generation when vLLM is installed and a GPU is present;
* then greedy generation on a held-out split (e.g. GRIT's ``vsr_val.jsonl``)
  with GRIT's prompt, and ``gritkit eval`` on the outputs (accuracy, grounding
  IoU, ...), boxes read in Qwen2.5-VL's resized-image frame.

On a GPU machine::

    python examples/grit_gpu_recipe.py \\
        --data GRIT_data/tallyqa_train_10.jsonl GRIT_data/vsr_cot_train_10.jsonl \\
        --images GRIT_data/images --eval-data GRIT_data/vsr_val.jsonl --eval-limit 288 \\
        --out runs/grit-qwen

On a CPU, with a tiny random model (proves the wiring only; the tests run this)::

    python examples/grit_gpu_recipe.py --tiny qwen2_5_vl --data examples/data/train.jsonl \\
        --images examples/data/images --eval-data examples/data/sample_outputs.jsonl \\
        --max-steps 2 --out out/grit-recipe

Writes ``OUT/model/`` (the trained model; not for --tiny), ``OUT/outputs.jsonl``
(the held-out records plus ``output``) and ``OUT/eval.json`` (gritkit eval's
report).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

GRIT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"
GRIT_STEPS = 200
GRIT_EVAL_MAX_NEW_TOKENS = 1024


def has_vllm() -> bool:
    """vLLM generation is used when vLLM is installed and a CUDA GPU is visible."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help=f"model to train (default {GRIT_MODEL})")
    p.add_argument("--tiny", choices=("qwen2_5_vl", "qwen2_vl", "llava"),
                   help="train a tiny random model instead (CPU wiring check)")
    p.add_argument("--data", nargs="+", required=True, help="training JSON Lines files in GRIT's schema")
    p.add_argument("--images", required=True, help="folder the records' image paths are relative to")
    p.add_argument("--eval-data", required=True, help="held-out JSON Lines file in GRIT's schema")
    p.add_argument("--eval-images", help="image folder of the held-out file (default: --images)")
    p.add_argument("--eval-limit", type=int, help="evaluate only the first N held-out records")
    p.add_argument("--max-steps", type=int, default=GRIT_STEPS, help="GRPO steps (default %(default)s)")
    p.add_argument("--max-new-tokens", type=int, help=f"held-out generation length (default "
                                                      f"{GRIT_EVAL_MAX_NEW_TOKENS}; 32 with --tiny)")
    p.add_argument("--no-vllm", action="store_true", help="do not use vLLM even when installed")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from gritkit.evaluate import evaluate
    from gritkit.learning.evaluation import generate_records
    from gritkit.train import GRIT_DEFAULTS, GRIT_PROMPT_SUFFIX, load_grit_records, train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = [r for path in args.data for r in load_grit_records(path)]
    model = None if args.tiny else (args.model or GRIT_MODEL)
    use_vllm = not args.no_vllm and not args.tiny and has_vllm()
    print(f"1. GRPO: {len(records)} training records, {args.max_steps} steps, preset grit, "
          f"GRIT's hyper-parameters {GRIT_DEFAULTS}, vLLM {'on' if use_vllm else 'off'}.")
    run = train(model, records, args.images, preset="grit", output_dir=out / "model", max_steps=args.max_steps,
                use_vllm=use_vllm, seed=args.seed, save_final=not args.tiny, tiny=args.tiny)
    trained, processor = run.trainer.model, run.trainer.processing_class

    held = load_grit_records(args.eval_data, limit=args.eval_limit)
    family = "qwen2_5_vl" if args.tiny in (None, "qwen2_5_vl") else args.tiny
    max_new = args.max_new_tokens or (32 if args.tiny else GRIT_EVAL_MAX_NEW_TOKENS)
    print(f"2. Generate: {len(held)} held-out records, greedy, {max_new} new tokens, GRIT's prompt suffix.")
    trained.eval()
    outputs = generate_records(held, model=trained, processor=processor, images=args.eval_images or args.images,
                               max_new_tokens=max_new, temperature=0.0, seed=args.seed,
                               prompt_suffix=GRIT_PROMPT_SUFFIX)
    box_format = {"qwen2_5_vl": "qwen2_5_vl", "qwen2_vl": "norm_1000"}.get(family, "xyxy")
    with open(out / "outputs.jsonl", "w", encoding="utf-8") as fh:
        for rec in outputs:
            rec = {k: v for k, v in rec.items() if k != "output" or isinstance(v, str)}
            rec.update(box_format=box_format, min_pixels=GRIT_DEFAULTS["min_pixels"],
                       max_pixels=GRIT_DEFAULTS["max_pixels"])
            fh.write(json.dumps(rec, default=str) + "\n")
    print(f"3. Evaluate {out / 'outputs.jsonl'} with gritkit eval (boxes in the {box_format} frame).")
    report = evaluate(out / "outputs.jsonl", "grit", bootstrap=200)
    (out / "eval.json").write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    o = report.overall
    print(f"   n {o['n']}, accuracy {o['accuracy']}, grounding IoU {o['grounding_iou']}, "
          f"format ok {o['format_ok']}; report in {out / 'eval.json'}.")
    if run.random_model:
        print("   (a tiny random model: these numbers only show that the pipeline ran)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

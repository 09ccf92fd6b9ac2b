"""`gritkit generate`: run a VLM over GRIT-schema records, optionally grammar-constrained."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

NAME = "generate"
HELP = "generate outputs with a Hugging Face VLM (optionally grammar-constrained), resumably"
DESCRIPTION = """\
Generate one output per record (or --num-samples K) with a Hugging Face
image-text-to-text model, with GRIT's prompt (the question plus the same
instruction suffix `gritkit train` uses), the model's chat template and
processor. Writes JSON Lines: each input record's fields plus `output` (and
`sample` when K > 1), in input order, ready for `gritkit eval` and `render`.

--constrained masks the logits with the grammar (`gritkit grammar export`)
through xgrammar (default) or llguidance, so every output follows the grammar;
the closing tags are forced when the token budget runs out.

Resumable: each row is written and flushed as soon as it is generated; rerun
the same command to skip the rows already in --out (a torn last line is
rewritten). A record that cannot be generated gets `output: null` and `error`.

--tiny FAMILY builds a tiny RANDOM model (qwen2_5_vl, qwen2_vl or llava)
offline: it proves the wiring; its outputs are noise.

examples:
  gritkit generate --model Qwen/Qwen2.5-VL-3B-Instruct --data data/test.jsonl --images data/images \\
      --out runs/outputs.jsonl --temperature 0 --max-new-tokens 1000
  gritkit generate --tiny qwen2_5_vl --data examples/data/train.jsonl --images examples/data/images \\
      --out out/gen.jsonl --constrained --max-new-tokens 64
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gritkit.generate import BACKENDS, CONSTRAINED_BACKENDS

    src = parser.add_argument_group("model and data")
    src.add_argument("--model", metavar="PATH_OR_HUB_ID", help="the model (a local folder or hub id)")
    src.add_argument("--tiny", metavar="FAMILY", choices=("qwen2_5_vl", "qwen2_vl", "llava"),
                     help="build a tiny random model of this family instead (proves the wiring)")
    src.add_argument("--data", required=True, metavar="FILE.jsonl",
                     help="records in GRIT's schema ('question' or 'prompt', 'image')")
    src.add_argument("--images", metavar="DIR", help="folder the records' image paths are relative to")
    src.add_argument("--out", required=True, metavar="FILE.jsonl",
                     help="where the rows go; rerunning with the same file resumes")
    g = parser.add_argument_group("generation")
    g.add_argument("--max-new-tokens", type=int, default=256, metavar="N", help="default: %(default)s")
    g.add_argument("--temperature", type=float, default=0.9, help="0 decodes greedily (default: %(default)s)")
    g.add_argument("--top-p", type=float, default=1.0, help="default: %(default)s (GRIT's)")
    g.add_argument("--num-samples", type=int, default=1, metavar="K", help="outputs per record")
    g.add_argument("--batch-size", type=int, default=8, metavar="B", help="prompts per batch (default: 8)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--no-prompt-suffix", action="store_true",
                   help="send the bare question, without GRIT's instruction suffix")
    g.add_argument("--backend", choices=BACKENDS, default="transformers",
                   help="transformers (default) or vllm (needs vLLM and a GPU)")
    c = parser.add_argument_group("constrained decoding")
    c.add_argument("--constrained", action="store_true", help="constrain decoding with the grammar")
    c.add_argument("--grammar", default="grit",
                   help="grit (default), r1, or with renamed tags, e.g. 'grit[think=thinking]'")
    c.add_argument("--constrained-backend", default=None, metavar="NAME",
                   help=f"{', '.join(CONSTRAINED_BACKENDS)} (transformers; default xgrammar), or auto, "
                        "xgrammar, guidance (vLLM; default auto)")
    c.add_argument("--max-free", type=int, metavar="N",
                   help="bound on each free-text run of the grammar (default: from --max-new-tokens)")


def run(args: argparse.Namespace) -> int:
    from gritkit.errors import ConfigError

    if bool(args.model) == bool(args.tiny):
        raise ConfigError("Give exactly one of --model PATH_OR_HUB_ID and --tiny FAMILY.")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")
    say = (lambda m: print(m, file=sys.stderr))
    suffix = "" if args.no_prompt_suffix else None
    if args.backend == "vllm":
        return _run_vllm(args, say, suffix)

    from gritkit.generate import CONSTRAINED_BACKENDS, generate_file
    from gritkit.train import GRIT_PROMPT_SUFFIX

    backend = args.constrained_backend or "xgrammar"
    if backend not in CONSTRAINED_BACKENDS:
        raise ConfigError(f"--constrained-backend {backend!r} is not one of {', '.join(CONSTRAINED_BACKENDS)} "
                          "(with --backend transformers).")
    model_path = args.model
    if args.tiny:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from gritkit.tiny import make_tiny_vlm

        model_path = os.path.join(os.path.dirname(os.path.abspath(args.out)), f"tiny-{args.tiny}-random")
        say(f"NOTE: --tiny builds a tiny RANDOMLY INITIALISED {args.tiny} offline; its outputs are noise. "
            "This run only proves the wiring (records -> prompt -> generation -> --out).")
        make_tiny_vlm(args.tiny, model_path, seed=args.seed)
    model, processor = load_model(model_path)
    summary = generate_file(
        args.data, args.out, model=model, processor=processor, images=args.images,
        num_samples=args.num_samples, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
        top_p=args.top_p, constrained=args.constrained, grammar=args.grammar, batch_size=args.batch_size,
        seed=args.seed, prompt_suffix=GRIT_PROMPT_SUFFIX if suffix is None else suffix,
        constrained_backend=backend, max_free=args.max_free, print_fn=say)
    say(f"Wrote {summary.written} rows to {summary.out} ({summary.skipped} already there, "
        f"{summary.total} in all; {summary.errors} without output).")
    for err in summary.errors_seen:
        say(f"  not generated: {err}")
    return 1 if summary.errors else 0


def load_model(path_or_id: str):
    """``(model, processor)`` for a local folder or hub id: an image-text-to-text model, on a GPU if any."""
    import torch
    from transformers import AutoModelForImageTextToText

    from gritkit.tiny import load_processor
    from gritkit.train import check_model

    check_model(path_or_id)  # a missing folder, or a hub id not cached offline: fail now, with the fix
    kwargs = {}
    if torch.cuda.is_available():
        kwargs = {"dtype": torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
                  "device_map": "cuda"}
    model = AutoModelForImageTextToText.from_pretrained(path_or_id, **kwargs)
    model.eval()
    return model, load_processor(path_or_id)


def _run_vllm(args: argparse.Namespace, say, suffix) -> int:
    import importlib.util

    from gritkit.errors import ConfigError

    if args.tiny:
        raise ConfigError("--tiny builds a Hugging Face model on the CPU; use --backend transformers with it.")
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("--backend vllm needs vLLM on a CUDA machine: pip install vllm "
                          "(or use the default --backend transformers).")
    from gritkit.generate import generate_vllm_file

    summary = generate_vllm_file(args.data, args.out, model=args.model, images=args.images,
                                 num_samples=args.num_samples, max_new_tokens=args.max_new_tokens,
                                 temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                                 constrained=args.constrained, grammar=args.grammar,
                                 max_free=args.max_free, constrained_backend=args.constrained_backend or "auto",
                                 prompt_suffix=suffix, batch_size=args.batch_size, print_fn=say)
    say(f"Wrote {summary.written} rows to {summary.out} ({summary.skipped} already there, "
        f"{summary.total} in all; {summary.errors} without output).")
    return 1 if summary.errors else 0

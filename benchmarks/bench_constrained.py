"""Cost of grammar-constrained decoding per token, on a small and a ~150k-token vocabulary.

What is timed is what ``gritkit generate --constrained`` adds to each decoding
step: the matcher accepts the sampled token, fills the row's token bitmask, and
the bitmask is applied to the logits (``GrammarConstraint`` and its logits
processor). The tokens are drawn at random from those the grammar allows
(a random model), so the walks visit every part of the grammar; the model's own
forward pass is not included. Compile time (per tokenizer and grammar, once per
run) and the cost of the first 256 tokens (when masks are first built) are
reported separately.

Vocabularies, both built offline:

* ``tiny``: the tokenizer of ``gritkit.tiny`` (606 tokens, GRIT's tags as added tokens);
* ``150k``: a byte-level BPE with 151,643 tokens (Qwen2.5's size) made of random
  merges of the tiny tokenizer's alphabet, GRIT's tags added the same way.

Usage: python benchmarks/bench_constrained.py [--tokens 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import time


def big_tokenizer(size: int = 151_643, seed: int = 0):
    """A byte-level BPE tokenizer with ``size`` tokens (random merges), GRIT's tags as added tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from gritkit.tiny import GRIT_TAGS

    rng = random.Random(seed)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {c: i for i, c in enumerate(sorted(alphabet))}
    merges = []
    tokens = list(vocab)
    letters = [c for c in tokens if c.isalpha() or c in "Ġ0123456789"]
    while len(vocab) < size - 8:
        a = rng.choice(letters if rng.random() < 0.5 else tokens[-5000:] or letters)
        b = rng.choice(letters)
        new = a + b
        if new in vocab or len(new) > 16:
            continue
        vocab[new] = len(vocab)
        merges.append((a, b))
        tokens.append(new)
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tok.add_tokens(list(GRIT_TAGS), special_tokens=False)
    return tok


def walk(constraint, n_tokens: int, seed: int) -> tuple[float, int, int]:
    """Random walks through the grammar; returns (seconds, tokens, outputs)."""
    import torch

    rng = random.Random(seed)
    vocab = constraint.vocab_size
    done_tokens = outputs = 0
    seconds = 0.0
    budget = 64
    while done_tokens < n_tokens:
        proc = constraint.logits_processor(1, budget)
        ids = torch.zeros((1, 1), dtype=torch.long)
        for _ in range(budget):
            scores = torch.zeros((1, vocab))
            t0 = time.perf_counter()
            scores = proc(ids, scores)
            seconds += time.perf_counter() - t0
            allowed = torch.isfinite(scores[0]).nonzero().flatten().tolist()
            token = rng.choice(allowed)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
            done_tokens += 1
            if token in constraint.eos_ids:
                break
        outputs += 1
    return seconds, done_tokens, outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    import llguidance.hf  # noqa: F401  (imports are not compile time)
    import xgrammar  # noqa: F401

    from gritkit.generate import GrammarConstraint
    from gritkit.tiny import _QWEN_SPECIALS, QWEN_CHAT_TEMPLATE, build_tokenizer

    small = build_tokenizer(_QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=QWEN_CHAT_TEMPLATE)
    t0 = time.perf_counter()
    big = big_tokenizer()
    print(f"built the 150k tokenizer in {time.perf_counter() - t0:.1f} s")
    rows = []
    for name, tok in (("tiny", small), ("150k", big)):
        eos = [tok.convert_tokens_to_ids("<|im_end|>")]
        for backend in ("xgrammar", "llguidance"):
            for max_free in (12, 256):
                t0 = time.perf_counter()
                c = GrammarConstraint(tok, backend=backend, max_free=max_free, eos_ids=eos, vocab_size=len(tok))
                compile_s = time.perf_counter() - t0
                warm_s, warm_n, _ = walk(c, 256, seed=2)  # first masks of each state are built lazily
                seconds, n, outs = walk(c, args.tokens, seed=1)
                row = {"vocab": name, "vocab_size": len(tok), "backend": backend, "max_free": max_free,
                       "compile_s": round(compile_s, 3), "ms_per_token": round(1000 * seconds / n, 3),
                       "ms_per_token_first_256": round(1000 * warm_s / warm_n, 3),
                       "tokens": n, "outputs": outs}
                rows.append(row)
                print(json.dumps(row))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()

"""GRIT's official rule rewards as a plain script: the baseline `gritkit score` is measured against.

Five of the official code's six terms (``grpo-gr/rewards.py``; the sixth, the GPT
judge, is a network call and is left out of both sides), written the way the
official code computes them: plain string and regex code per completion, no parser.

* ``answer_format``: 0.25 per: ``<answer>`` occurs; it occurs exactly once.
* ``think_format``: the last-occurrence tag scan of ``<think>``, ``</think>``,
  ``<rethink>``, ``</rethink>`` plus the think-body check, ``hits / 5 * 0.5``.
* ``grounded_format``: 0 without ``<rethink>``; else the box regex over the text
  before the first ``<rethink>``: 0.5 for a match, +1.0 when the dataset is
  ``tallyqa`` and the number of matches equals ``int(answer)``.
* ``repetition``: the official loop over words, ``0.5 * w`` with ``w = 1 -
  back-to-back 8-gram repeats / (len(words) - 8)`` (no token ids here, so the
  token half is 1).
* ``bleu``: with the quirk, 0.1 * BLEU-1 (no smoothing) of the text after the
  first ``<answer>``, closing tag kept, against the reference.

Only the standard library is imported, so the script's start-up is Python's.

Usage (what `benchmarks/bench_rewards.py --process` times):
    python benchmarks/official_port.py IN.jsonl > OUT.jsonl
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter

BOX_RE = re.compile(r"\b\d+,\s*\d+,\s*\d+,\s*\d+\b")
NON_ALNUM = re.compile(r"[^a-zA-Z0-9]")
NON_ALNUM_SPACE = re.compile(r"[^a-zA-Z0-9\s]")
KEYS = ("<think>", "</think>", "<rethink>", "</rethink>")
TERMS = ("answer_format", "think_format", "grounded_format", "repetition", "bleu")


def official_structure(text: str) -> tuple:
    """The structural part of GRIT's official rewards: answer format, think format, the box matches."""
    answer_format = 0.25 * (("<answer>" in text) + (text.count("<answer>") == 1))
    hits, rest = 0, text
    for key in KEYS:
        if key in rest:
            hits += 1
            rest = rest.split(key)[-1]
    if hits == 4:
        body = text.split("<think>")[-1].split("</think>")[0].strip()
        if len(body) > 1 and len(NON_ALNUM.sub(" ", body).split(" ")) > 1:
            hits += 1
    think_format = hits / 5 * 0.5
    boxes = BOX_RE.findall(text.split("<rethink>")[0]) if "<rethink>" in text else []
    return answer_format, think_format, boxes


def grounded_format(boxes: list, dataset: str, answer: str) -> float:
    """``boxes``: the regex matches before the first ``<rethink>`` ([] without one)."""
    score = 0.5 if boxes else 0.0
    if dataset == "tallyqa" and answer.strip().isdigit() and len(boxes) == int(answer):
        score += 1.0
    return score


def repetition_words(text: str, n: int = 8) -> float:
    if not text:
        return 0.5
    words = text.split()
    if len(words) < n:
        return 0.5
    total = len(words) - n
    if total == 0:
        return 0.5
    repeats = sum(1 for i in range(len(words) - n) if words[i:i + n] == words[i + n:i + 2 * n])
    w = 1 - repeats / total
    t = 1.0  # the token half: no token ids
    return (t - (1 - w)) * 0.5


def bleu_quirk(text: str, answer: str) -> float:
    if "<answer>" not in text:
        return 0.0
    pred = NON_ALNUM_SPACE.sub(" ", text.split("<answer>", 1)[1]).lower().split()
    ref = NON_ALNUM_SPACE.sub(" ", answer).lower().split()
    if not pred:
        return 0.0
    ref_counts = Counter(ref)
    clipped = sum(min(c, ref_counts[w]) for w, c in Counter(pred).items())
    if clipped == 0:
        return 0.0
    precision = clipped / len(pred)
    bp = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return 0.1 * bp * precision


def port_terms(record: dict) -> tuple[float, ...]:
    """The five terms of one record in GRIT's schema."""
    text, answer = record["output"], str(record["answer"])
    answer_format, think_format, boxes = official_structure(text)
    grounded = grounded_format(boxes, record["dataset"], answer) if "<rethink>" in text else 0.0
    return answer_format, think_format, grounded, repetition_words(text), bleu_quirk(text, answer)


def main(argv: list[str]) -> int:
    out = sys.stdout
    with open(argv[0], "rb") as fh:
        for i, line in enumerate(fh):
            record = json.loads(line)
            terms = dict(zip(TERMS, port_terms(record)))
            out.write(json.dumps({"record": i, "total": sum(terms.values()), "rewards": terms}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

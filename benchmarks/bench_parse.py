"""Parsing throughput: gritkit.try_parse against a regex baseline, on one core.

The baseline does what GRIT's official rewards do to a completion's structure
(grpo-gr/rewards.py, as GRIT.md §2.2 describes): the answer-tag count of
``answer_format_reward``, the last-occurrence tag scan and think-body check of
``think_and_rethink_format_reward``, and the box regex
``\\b\\d+,\\s*\\d+,\\s*\\d+,\\s*\\d+\\b`` over the text before the first
``<rethink>`` of the grounded-format reward.

gritkit's figure is for ``try_parse`` with an empty cache (every completion is
new, as in training) and includes building the whole result: the sections and
every box as pydantic models (the benchmark touches ``.boxes`` and
``.sections``). Both run over the same corpus (benchmarks/corpus.py), in the
same process, one after the other, best of ``--repeat`` runs.

Usage:
    python benchmarks/bench_parse.py [--n 10000] [--seed 0] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corpus import make_corpus  # noqa: E402

import gritkit  # noqa: E402
from gritkit.parsing import clear_cache  # noqa: E402

BOX_RE = re.compile(r"\b\d+,\s*\d+,\s*\d+,\s*\d+\b")
NON_ALNUM = re.compile(r"[^a-zA-Z0-9]")
KEYS = ("<think>", "</think>", "<rethink>", "</rethink>")


def official_structure(text: str) -> tuple:
    """The structural part of GRIT's official rewards, as plain regex code."""
    # answer_format_reward
    answer_format = 0.25 * (("<answer>" in text) + (text.count("<answer>") == 1))
    # think_and_rethink_format_reward
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
    # grounded_region_specific_thinking_format_reward_think_rethink (box part)
    boxes = BOX_RE.findall(text.split("<rethink>")[0]) if "<rethink>" in text else []
    return answer_format, think_format, boxes


def gritkit_parse(text: str):
    r = gritkit.try_parse(text)
    return r.ok, r.boxes, r.sections


def throughput(fn, texts, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        clear_cache()
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def linearity() -> list[tuple[int, float]]:
    """Seconds to parse one completion of growing size (GRIT text repeated)."""
    unit = ("<think>The zebra at (200, 168, 248, 202) and {\"bbox_2d\": [1, 2, 3, 4], \"label\": \"z\"} "
            "stand near 380, 209, 453, 293. ")
    out = []
    for size in (10_000, 100_000, 1_000_000):
        text = (unit * (size // len(unit) + 1))[:size]
        clear_cache()
        t0 = time.perf_counter()
        gritkit.try_parse(text)
        out.append((size, time.perf_counter() - t0))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass
    records = make_corpus(args.n, args.seed)
    texts = [r["output"] for r in records]
    mean_len = sum(map(len, texts)) / len(texts)
    malformed = sum(not gritkit.try_parse(t).ok for t in texts) / len(texts)
    n_boxes = sum(len(gritkit.try_parse(t).boxes) for t in texts) / len(texts)
    gritkit_parse(texts[0])  # load the grammar outside the timing
    base = throughput(official_structure, texts, args.repeat)
    ours = throughput(gritkit_parse, texts, args.repeat)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"one core, {os.cpu_count()} cores visible")
    print(f"corpus: {len(texts):,} completions, mean {mean_len:.0f} chars, {n_boxes:.1f} boxes each, "
          f"{malformed:.0%} not following the grammar")
    print(f"regex baseline (official GRIT checks): {base:12,.0f} completions/s")
    print(f"gritkit.try_parse (uncached, full):    {ours:12,.0f} completions/s")
    print(f"ratio gritkit / baseline:              {ours / base:12.2f}  (target >= 0.50)")
    for size, secs in linearity():
        print(f"one completion of {size:>9,} chars: {secs:8.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

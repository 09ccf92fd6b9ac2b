"""Parsing throughput: gritkit.try_parse against a regex baseline, on one core.

The baseline does what GRIT's official rewards do to a completion's structure
(grpo-gr/rewards.py, as the official reward code describes): the answer-tag count of
``answer_format_reward``, the last-occurrence tag scan and think-body check of
``think_and_rethink_format_reward``, and the box regex
``\\b\\d+,\\s*\\d+,\\s*\\d+,\\s*\\d+\\b`` over the text before the first
``<rethink>`` of the grounded-format reward.

gritkit's figure is for ``try_parse`` as users call it (the default parse
cache, emptied before each run, so every completion is new, as in training),
and it reads the result: ``ok``, every box's ``coords`` and every section's
``text``, so no part of the structure can be left unbuilt (``try_parse`` may read
``ok`` from the tags alone and build the structure on first read, docs/grammar.md
step 5; when nearly every structure gets read, as here, it parses in full). Two
more rows show the other cases: the tags-alone path forced and the result read
(its worst case: the tags are read for nothing), and ``ok`` alone read (what
``gritkit score`` with GRIT's official terms needs). Both run over the same
corpus (benchmarks/corpus.py), in the same process, pinned to one core, taking
turns (baseline, gritkit, baseline, ...) so that load from other processes
hits both alike; each side's figure is its best of ``--repeat`` runs of CPU
time (``time.process_time``). The target is a ratio of at least 1.0.

It also times single degenerate completions of growing size (GRIT text
repeated, and the tag soups of issue 9) to show the cost is linear; the target
is under 3 s for any text up to 4 MB.

Usage:
    python benchmarks/bench_parse.py [--n 10000] [--seed 0] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corpus import make_corpus  # noqa: E402

import gritkit  # noqa: E402
from gritkit import parsing  # noqa: E402
from gritkit.parsing import clear_cache  # noqa: E402
from official_port import official_structure  # noqa: E402  (the official checks, shared with bench_rewards)


def gritkit_parse(text: str):
    """try_parse, reading what a reward reads: the verdict, every box's numbers, every section's text."""
    r = gritkit.try_parse(text)
    for b in r.boxes:
        b.coords
    for s in r.sections:
        s.text
    return r.ok


def gritkit_parse_tags_first(text: str):
    """gritkit_parse with the tags-alone path taken whenever it applies, however much is read."""
    saved = parsing.LAZY_BUILT_SHARE
    parsing.LAZY_BUILT_SHARE = float("inf")
    try:
        return gritkit_parse(text)
    finally:
        parsing.LAZY_BUILT_SHARE = saved


def gritkit_ok(text: str):
    """try_parse with only the verdict read."""
    return gritkit.try_parse(text).ok


def throughputs(fns: dict, texts, repeat: int) -> dict:
    """Completions per CPU second of each function, best of ``repeat`` runs, taking turns."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            clear_cache()
            t0 = time.process_time()
            for t in texts:
                fn(t)
            best[name] = min(best[name], time.process_time() - t0)
    return {name: len(texts) / secs for name, secs in best.items()}


GRIT_UNIT = ("<think>The zebra at (200, 168, 248, 202) and {\"bbox_2d\": [1, 2, 3, 4], \"label\": \"z\"} "
             "stand near 380, 209, 453, 293. ")
DEGENERATE = {  # issue 9, defect 7: one deviation per tag, all on one line
    "GRIT text": GRIT_UNIT,
    "<think><rethink><answer></answer></rethink></think> repeated": "<think><rethink><answer></answer></rethink></think>",
    "<think></think><rethink></rethink> repeated": "<think></think><rethink></rethink>",
}


def linearity() -> list[tuple[str, int, float]]:
    """CPU seconds to parse one completion of growing size, every part of the result read."""
    out = []
    for name, unit in DEGENERATE.items():
        for size in (100_000, 1_000_000, 4_000_000):
            text = (unit * (size // len(unit) + 1))[:size]
            clear_cache()
            t0 = time.process_time()
            r = gritkit.try_parse(text)
            r.output, r.error, r.deviations  # built on first read: make the parse build all
            out.append((name, size, time.process_time() - t0))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=7)
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
    tp = throughputs({"base": official_structure, "ours": gritkit_parse}, texts, args.repeat)
    base, ours = tp["base"], tp["ours"]
    more = {}
    for name, fn in (("tags_first", gritkit_parse_tags_first), ("ok", gritkit_ok)):
        parsing.load_grammar("grit").reads = None  # forget what was read before
        tp2 = throughputs({"base": official_structure, name: fn}, texts, args.repeat)
        more[name], more[name + "_base"] = tp2[name], tp2["base"]
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"one core, {os.cpu_count()} cores visible")
    print(f"corpus: {len(texts):,} completions, mean {mean_len:.0f} chars, {n_boxes:.1f} boxes each, "
          f"{malformed:.0%} not following the grammar")
    print(f"regex baseline (official GRIT checks): {base:12,.0f} completions/s")
    print(f"gritkit.try_parse, result read:        {ours:12,.0f} completions/s")
    print(f"ratio gritkit / baseline:              {ours / base:12.2f}  (target >= 1.0)")
    print(f"  tags alone first, then the result read: {more['tags_first']:9,.0f} completions/s, "
          f"ratio {more['tags_first'] / more['tags_first_base']:.2f}")
    print(f"  only ok read:                           {more['ok']:9,.0f} completions/s, "
          f"ratio {more['ok'] / more['ok_base']:.2f}")
    for name, size, secs in linearity():
        print(f"one completion of {size:>9,} chars, {name}: {secs:6.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Whole commands on a large file: `gritkit score` with 1 and N workers, and `gritkit eval`.

Writes the benchmark corpus (benchmarks/corpus.py) as a JSON Lines file, runs each
command as a subprocess (best of ``--repeat``, wall and CPU time of the process and
its workers), checks that ``--workers N`` writes byte-identical output, and breaks
``eval``'s time down by what it computes (one in-process profile).

Usage:
    python benchmarks/bench_commands.py [--n 20000] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corpus import make_corpus  # noqa: E402


def run(cmd: list[str], out_path: str, env: dict) -> tuple[float, float, str]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(out_path, "wb") as out:
        subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    with open(out_path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:16]
    return wall, cpu, digest


def eval_breakdown(path: str) -> list[tuple[str, float]]:
    """Share of eval's in-process time by what it spends it on (cProfile, cumulative)."""
    from gritkit.cli import main

    prof = cProfile.Profile()
    prof.enable()
    with redirect_stdout(io.StringIO()):
        main(["eval", path, "--json"])
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = max(v[3] for v in stats.values())
    groups = {"parse (try_parse)": ("parsing.py", "try_parse"), "iou reward (3 metrics)": ("iou.py", "iou_reward"),
              "answer_match": ("answer_match.py", "answer_match_reward"),
              "box_in_image": ("box_in_image.py", "box_in_image_reward"),
              "records -> samples": ("records.py", "read")}
    out = []
    for label, (file, fn) in groups.items():
        cum = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(file) and name == fn)
        out.append((label, cum / total))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    exe = os.path.join(os.path.dirname(sys.executable), "gritkit")
    env = {**os.environ, "GRITKIT_LOAD_PLUGINS": ""}
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{len(os.sched_getaffinity(0))} cores usable, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "corpus.jsonl")
        with open(data, "w", encoding="utf-8") as fh:
            for r in make_corpus(args.n, 0):
                fh.write(json.dumps(r) + "\n")
        cmds = {
            "score, 1 process": [exe, "score", data, "--preset", "grit", "--json"],
            f"score, --workers {args.workers}": [exe, "score", data, "--preset", "grit", "--json",
                                                 "--workers", str(args.workers)],
            "eval": [exe, "eval", data, "--json"],
        }
        best: dict = {}
        for _ in range(args.repeat):
            for name, cmd in cmds.items():
                wall, cpu, digest = run(cmd, os.path.join(tmp, "out"), env)
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu, digest)
        print(f"corpus: {args.n:,} records (benchmarks/corpus.py, seed 0); best of {args.repeat}")
        for name, (wall, cpu, _) in best.items():
            print(f"  {name:<22} {wall:7.2f} s wall  {cpu:7.2f} s CPU  {args.n / wall:9,.0f} records/s")
        one, many = best["score, 1 process"], best[f"score, --workers {args.workers}"]
        print(f"  --workers {args.workers} speed-up: {one[0] / many[0]:.2f}x wall; "
              f"output identical: {one[2] == many[2]}")
        print("where eval's time goes (one in-process profile, cumulative share):")
        for label, share in eval_breakdown(data):
            print(f"  {label:<24} {share:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

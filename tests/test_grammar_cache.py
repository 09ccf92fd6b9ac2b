"""The on-disk grammar cache: a new process parses without importing Lark, and a bad cache is rebuilt."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = ("import sys, gritkit; r = gritkit.try_parse('<think>(1, 2, 3, 4)</think><rethink>x</rethink>"
         "<answer>1'); print(r.ok, len(r.boxes), 'lark' in sys.modules)")


def run(cache: str) -> str:
    env = {**os.environ, "GRITKIT_CACHE_DIR": cache}
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                          check=True).stdout.split()


def test_warm_cache_skips_lark(tmp_path):
    cache = str(tmp_path / "cache")
    assert run(cache) == ["True", "1", "True"]        # cold: built with Lark, then kept
    assert [p.name for p in (tmp_path / "cache").iterdir()][0].startswith("grammar-")
    assert run(cache) == ["True", "1", "False"]       # warm: Lark is never imported


def test_corrupt_or_disabled_cache_rebuilds(tmp_path):
    cache = tmp_path / "cache"
    run(str(cache))
    for f in cache.iterdir():
        f.write_bytes(b"not a pickle")
    assert run(str(cache)) == ["True", "1", "True"]
    assert run(str(cache)) == ["True", "1", "False"]  # rewritten whole
    assert run("") == ["True", "1", "True"]           # GRITKIT_CACHE_DIR="" turns it off

"""Score a JSON Lines file with gritkit's Ray Data recipe on a local 2-CPU Ray; write the objects as JSON Lines.

Not a test module: ``tests/training/test_ray_data.py`` runs it with the verl
environment's Python (``.venv-verl``, which pins Ray 2.60). Usage::

    python ray_data_score.py INPUT.jsonl CONFIG.json OUTPUT.jsonl [FILE.jsonl ...]

Each further FILE is read with ``ray.data.read_json`` too, to report whether it rejects it.
"""

from __future__ import annotations

import json
import sys
import time


def main(path: str, config: str, out: str, *read_json_files: str) -> None:
    import ray

    from gritkit.ray_data import score_with_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        with open(out, "w", encoding="utf-8") as fh:
            n = 0
            for obj in score_with_ray(path, config, actors=2, num_cpus=0.5, batch_size=1000):
                fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
                n += 1
        seconds = time.perf_counter() - start
        read_json = {p: _read_json_error(ray, p) for p in read_json_files}
    finally:
        ray.shutdown()
    print(json.dumps({"records": n, "seconds": round(seconds, 2), "read_json_errors": read_json}))


def _read_json_error(ray, path: str):
    """Why ``ray.data.read_json`` rejects the file (the reason the recipe reads text), or ``None``."""
    try:
        ray.data.read_json(path).materialize()
    except Exception as exc:  # Ray wraps the reader's error in a RayTaskError
        return type(exc).__name__
    return None


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Score a JSON Lines file with gritkit's Ray Data recipe on a local 2-CPU Ray; write the objects as JSON Lines.

Not a test module: ``tests/training/test_ray_data.py`` runs it with the verl
environment's Python (``.venv-verl``, which pins Ray 2.60). Usage::

    python ray_data_score.py INPUT.jsonl CONFIG.json OUTPUT.jsonl
"""

from __future__ import annotations

import json
import sys
import time


def main(path: str, config: str, out: str) -> None:
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
    finally:
        ray.shutdown()
    print(json.dumps({"records": n, "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])

"""The small warm-start fixture the learning test starts from (``tests/fixtures/learning-warmstart``).

The test must show learning in well under two minutes, and a warm start that
localises takes minutes on a CPU, so a warm start is committed (fp16, about
1.5 MB) and rebuilt deterministically with::

    python -m gritkit.learning.fixture tests/fixtures/learning-warmstart

It is the experiment's model warm-started on the ``locate`` task only: 400
steps on the true boxes, then 150 steps where half the targets box a
distractor, so it localises squares but often boxes the wrong one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Union

from gritkit.learning.warmstart import WarmStartConfig

FIXTURE_CONFIG = WarmStartConfig(steps_clean=400, locate_first=400, steps_noisy=150, tasks=("locate",))


def build_fixture(folder: Union[str, os.PathLike]) -> Path:
    """Train the fixture warm start and save it to ``folder`` in fp16."""
    import torch

    from gritkit.learning.model import build_model
    from gritkit.learning.warmstart import warm_start

    torch.set_num_threads(1)
    folder, model, processor = build_model(folder, seed=FIXTURE_CONFIG.seed)
    warm_start(model, processor, FIXTURE_CONFIG, log=print)
    model.to(torch.float16).save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)


if __name__ == "__main__":  # pragma: no cover
    print(build_fixture(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/learning-warmstart"))

"""Constants and data writers shared by the training tests (a helper module, not a test module).

Test modules import from here rather than from ``conftest`` (another ``conftest``
module may hold that name in ``sys.modules``).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROBE_PLUGIN = HERE / "probe_plugin.py"


def verl_python() -> Path:
    """The verl environment's Python (``.venv-verl``, or ``$GRITKIT_VERL_PYTHON``).

    Missing, the calling test skips on a developer machine and fails in CI (``CI`` set).
    """
    import pytest

    python = Path(os.environ.get("GRITKIT_VERL_PYTHON") or REPO / ".venv-verl" / "bin" / "python")
    if not python.is_file():
        message = (f"verl's environment is missing ({python}). Build it with `make venv-verl` "
                   "(`make test` does), or set GRITKIT_VERL_PYTHON to a Python with verl 0.9 and Ray installed.")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python

#: the rewards every trainer test uses: GRIT's paper terms (rule-based answer), geometry, and the probe.
TRAIN_CONFIG = {
    "rewards": [
        {"name": "format", "options": {"mode": "paper"}},
        {"name": "count"},
        {"name": "answer_match", "as": "answer"},
        {"name": "bleu", "weight": 0.1},
        {"name": "iou", "weight": 0.5},
        {"name": "completion_chars", "weight": 0.01},
    ],
}

#: the rewards of the adapter unit tests (no probe): GRIT's paper terms with a rule-based answer, and IoU.
ADAPTER_CONFIG = {"rewards": [
    {"name": "format", "options": {"mode": "paper"}},
    {"name": "count"},
    {"name": "answer_match", "as": "answer"},
    {"name": "iou", "weight": 0.5},
]}
#: a well-formed completion for a 2-car TallyQA row whose boxes are GT_BOXES.
GOOD = "<think>cars (2, 20, 30, 40) and (35, 20, 60, 40)</think><rethink>two cars</rethink><answer>2</answer>"
GT_BOXES = [[2.0, 20.0, 30.0, 40.0], [35.0, 20.0, 60.0, 40.0]]

RECORDS = [
    ("How many zebras are pictured here?", 2, "tallyqa", (96, 64), [[8, 10, 30, 40], [50, 12, 80, 44]]),
    ("Is the truck beneath the cat?", "Yes", "vsr", (80, 60), [[0, 30, 78, 58], [20, 5, 40, 28]]),
    ("How many birds are there?", 1, "tallyqa", (64, 48), [[10, 10, 30, 25]]),
    ("What is above the dog?", "frisbee", "vsr", (72, 72), [[10, 40, 60, 70], [20, 2, 40, 12]]),
    ("How many cars are in the picture?", 3, "tallyqa", (100, 50), [[2, 20, 30, 40], [35, 20, 60, 40],
                                                                     [65, 20, 95, 40]]),
    ("Is the cup on the table?", "No", "vsr", (60, 80), [[5, 50, 55, 70]]),
    ("How many sheep are there?", 0, "tallyqa", (64, 64), []),
    ("Is the bus left of the car?", "Yes", "vsr", (90, 60), [[2, 10, 40, 50], [50, 20, 85, 50]]),
]


def write_grit_data(folder: Path, n: int = 8) -> tuple[Path, Path]:
    """Write ``n`` GRIT-schema records (JSON Lines) and their PNG images under ``folder``."""
    from PIL import Image, ImageDraw

    rng = random.Random(0)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        question, answer, dataset, (w, h), boxes = RECORDS[i % len(RECORDS)]
        img = Image.new("RGB", (w, h), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        draw = ImageDraw.Draw(img)
        for box in boxes:
            draw.rectangle(box, outline=(255, 0, 0))
        name = f"img_{i}.png"
        img.save(images / name)
        lines.append(json.dumps({"question": question, "answer": answer, "image": name, "width": w, "height": h,
                                 "bboxs": [[float(v) for v in b] for b in boxes], "dataset": dataset,
                                 "split": "train"}))
    data = folder / "train.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data, images

"""Synthetic grounding tasks with exact ground truth, images drawn on the fly.

Two tasks, both on small RGB images of coloured squares on a grey background:

* ``locate``: one red square among two blue or green distractors. Question
  "Where is the red square?"; the answer is ``left`` or ``right`` (which half of
  the image holds the red square's centre); the ground-truth box is the red
  square.
* ``count``: one to three red squares and one distractor. Question "How many red
  squares are there?"; the answer is the count; the ground-truth boxes are the
  red squares.

Boxes are ``(x1, y1, x2, y2)`` in pixels of the original image (``x2``/``y2``
exclusive), the convention of the LLaVA family (no resizing: the images are
already the vision tower's size). Every example is a plain record in GRIT's data
schema (``question``, ``answer``, ``bboxs``, ``width``, ``height``, ``dataset``)
plus the PIL ``image`` and the distractors' boxes (``distractors``), so gritkit's
own generate, eval and rewards read it unchanged.

Held-out sets are fixed by their seed: :func:`heldout` with the same arguments
gives the same images and answers on every machine.

Example:
    >>> ex = make_example("locate", random.Random(0))
    >>> ex["question"], ex["answer"] in ("left", "right"), len(ex["bboxs"]), len(ex["distractors"])
    ('Where is the red square?', True, 1, 2)
    >>> target_text(ex)[:7]
    '<think>'
"""

from __future__ import annotations

import random
from typing import Any, Optional, Sequence

TASKS = ("locate", "count")
"""The synthetic tasks."""

IMAGE_SIDE = 56
"""Image width and height in pixels (4 x 4 CLIP patches of 14 px)."""

BACKGROUND = (235, 235, 235)
RED = (220, 30, 30)
DISTRACTOR_COLOURS = {"blue": (40, 70, 220), "green": (30, 170, 60)}

QUESTIONS = {"locate": "Where is the red square?", "count": "How many red squares are there?"}

#: Square sides (inclusive range) per task.
SIDES = {"locate": (9, 18), "count": (8, 14)}

HELDOUT_SEED = 1000
"""The seed of the held-out evaluation sets (training prompts use other seeds)."""


def _place(rng: random.Random, sides: Sequence[int], side: int, tries: int = 500) -> list[tuple[int, ...]]:
    """Non-overlapping squares (a 1-px gap between them) of the given sides, or [] after ``tries``."""
    boxes: list[tuple[int, ...]] = []
    for s in sides:
        for _ in range(tries):
            x, y = rng.randint(0, side - s), rng.randint(0, side - s)
            box = (x, y, x + s, y + s)
            if all(box[2] + 1 <= b[0] or b[2] + 1 <= box[0] or box[3] + 1 <= b[1] or b[3] + 1 <= box[1]
                   for b in boxes):
                boxes.append(box)
                break
        else:
            return []
    return boxes


def draw(boxes: Sequence[Sequence[int]], colours: Sequence[tuple[int, int, int]], side: int = IMAGE_SIDE):
    """A ``side`` x ``side`` RGB image with each box filled in its colour."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side), BACKGROUND)
    pen = ImageDraw.Draw(image)
    for (x1, y1, x2, y2), colour in zip(boxes, colours):
        pen.rectangle((x1, y1, x2 - 1, y2 - 1), fill=colour)
    return image


def make_example(task: str, rng: random.Random, *, side: int = IMAGE_SIDE, index: int = 0) -> dict[str, Any]:
    """One example of ``task`` drawn with ``rng``: a GRIT-schema record plus ``image`` and ``distractors``."""
    if task not in TASKS:
        from gritkit.errors import ConfigError, unknown_name_message

        raise ConfigError(unknown_name_message("synthetic task", task, TASKS))
    lo, hi = SIDES[task]
    while True:
        n_red = 1 if task == "locate" else rng.randint(1, 3)
        n_other = 2 if task == "locate" else 1
        sides = [rng.randint(lo, hi) for _ in range(n_red + n_other)]
        boxes = _place(rng, sides, side)
        if boxes:
            break
    red, others = boxes[:n_red], boxes[n_red:]
    other_names = [rng.choice(sorted(DISTRACTOR_COLOURS)) for _ in others]
    image = draw(red + others, [RED] * n_red + [DISTRACTOR_COLOURS[c] for c in other_names], side)
    if task == "locate":
        cx = (red[0][0] + red[0][2]) / 2
        answer = "left" if cx < side / 2 else "right"
    else:
        answer = str(n_red)
        red = sorted(red)  # the target lists boxes left to right
    return {
        "question": QUESTIONS[task],
        "answer": answer,
        "bboxs": [list(b) for b in red],
        "distractors": [list(b) for b in others],
        "width": side,
        "height": side,
        "dataset": task,
        "image": image,
        "image_id": f"{task}-{index}",
    }


def target_text(example: dict, boxes: Optional[Sequence[Sequence[int]]] = None) -> str:
    """The completion the warm start teaches: the boxes in ``<think>``, an empty rethink, the answer.

    ``boxes`` replaces the ground-truth boxes (the warm start's noisy phase
    writes a distractor's box instead).

    Example:
        >>> target_text({"bboxs": [[1, 2, 11, 12]], "answer": "left"})
        '<think>(1,2,11,12)</think><rethink></rethink><answer>left</answer>'
    """
    boxes = example["bboxs"] if boxes is None else boxes
    written = "".join("(" + ",".join(str(int(v)) for v in b) + ")" for b in boxes)
    return f"<think>{written}</think><rethink></rethink><answer>{example['answer']}</answer>"


def examples(n: int, seed: int, tasks: Sequence[str] = TASKS) -> list[dict[str, Any]]:
    """``n`` examples cycling through ``tasks``, drawn from ``random.Random(seed)``."""
    rng = random.Random(seed)
    return [make_example(tasks[i % len(tasks)], rng, index=i) for i in range(n)]


def heldout(n_per_task: int, tasks: Sequence[str] = TASKS, seed: int = HELDOUT_SEED) -> list[dict[str, Any]]:
    """The fixed held-out set: ``n_per_task`` examples of each task from ``seed`` (one stream per task)."""
    out = []
    for k, task in enumerate(tasks):
        rng = random.Random(seed * 100 + k)
        out.extend(make_example(task, rng, index=i) for i in range(n_per_task))
    return out

"""A local gritkit plugin for the training tests (loaded by path, as GRITKIT_PLUGINS would).

``completion_chars`` varies on a random model's noise (so GRPO advantages are not
all zero and weights move) and records every sample it sees, so the tests can
check that the dataset's columns reached the rewards through TRL.
"""

from __future__ import annotations

from gritkit.hookspecs import hookimpl

SEEN: list[dict] = []


def completion_chars(result, sample):
    """len(completion) / 100, recording the sample."""
    SEEN.append({
        "answer": sample.answer, "dataset": sample.dataset, "gt_boxes": sample.gt_boxes,
        "image_size": None if sample.image_size is None else (sample.image_size.width, sample.image_size.height),
        "box_format": sample.box_format, "min_pixels": sample.min_pixels, "max_pixels": sample.max_pixels,
        "question": sample.question, "has_ids": bool(sample.completion_ids), "extra": sorted(sample.extra),
    })
    return len(result.text) / 100.0


@hookimpl
def register_rewards(register):
    register(completion_chars, name="completion_chars", description="test probe: completion length / 100")

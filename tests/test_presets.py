"""The shipped presets on GRIT's example outputs (GRIT's published example outputs), with hand-checked values."""

from __future__ import annotations

import pytest

from gritkit.compose import Composer
from gritkit.records import ColumnMap
from gritkit.config import list_presets, load_preset
from gritkit.plugins import isolated_plugin_manager

EX1 = ("<think>\nThere are six zebras in the picture. The coordinates for the zebras are as follows:\n"
       "1. (200, 168, 248, 202)\n2. (260, 174, 314, 213)\n3. (331, 158, 370, 197)\n4. (389, 182, 430, 214)\n"
       "5. (118, 188, 178, 230)\n6. (463, 171, 483, 186)\n7. (540, 200, 600, 240)\n</think>\n"
       "<rethink>\nThe coordinates provided for the zebras are accurate and cover all the zebras visible in "
       "the image.\n</rethink>\n<answer>\n7\n</answer>")
EX3 = ("<think>\nThe bounding box coordinates for the knife would be outside the image area.\n</think>\n"
       "<rethink>\nNo knife is visible in the image.\n</rethink>\n<answer>\nNo\n</answer>")
TRUNCATED = ('<think> dog at [120, 45, 300, 260] and a ball {"bbox_2d": [310, 20, 360, 70]} '
             '<rethink> the dog is there </rethink> <answer> yes')
NO_RETHINK = '<think> {"bbox_2d": [10, 20, 30, 40]} </think> <answer> 2 </answer>'
TWO_ANSWERS = "<think>a</think><rethink> x </rethink><answer>1</answer> <answer>1</answer>"
SIGN = ("<think>The sign reads 1,000,000,000 and the box is [12.5, 30.2, 40.1, 50.0].</think>"
        "<rethink>I am sure.</rethink><answer>3</answer>")


def official(a, t, g, b):
    return {"answer_format": a, "think_format": t, "grounded_format": g, "bleu": b}


# GRIT's published example outputs, "Illustrative malformed outputs": the official per-term scores.
OFFICIAL_CASES = [
    (EX1, {"answer": 7, "dataset": "tallyqa"}, official(0.5, 0.5, 1.5, 0.05)),
    (EX3, {"answer": "No", "dataset": "vsr"}, official(0.5, 0.5, 0.0, 0.05)),
    (TRUNCATED, {"answer": "Yes", "dataset": "vsr"}, official(0.5, 0.3, 0.5, 0.10)),
    (NO_RETHINK, {"answer": 2, "dataset": "tallyqa"}, official(0.5, 0.2, 0.0, 0.05)),
    (TWO_ANSWERS, {"answer": "1", "dataset": "vsr"}, official(0.25, 0.4, 0.0, 0.02)),
    (SIGN, {"answer": 3, "dataset": "tallyqa"}, official(0.5, 0.5, 0.5, 0.05)),
]


@pytest.fixture(scope="module")
def composers():
    with isolated_plugin_manager() as pm:
        yield {name: Composer(name, pm, warn=False) for name in list_presets()}


@pytest.mark.parametrize("text, record, expected", OFFICIAL_CASES,
                         ids=["example1", "example3", "truncated", "no_rethink", "two_answers", "sign"])
def test_grit_official_matches_the_official_code(composers, text, record, expected):
    s = composers["grit-official"].score(text, ColumnMap().to_sample(record))
    assert {k: s.rewards[k] for k in expected} == pytest.approx(expected, abs=1e-12)
    # every output here has fewer than 8 repeated words and no token ids: the official 0.5
    assert s.rewards["repetition"] == 0.5
    assert s.rewards["judge"] is None  # no endpoint: skipped
    assert s.total == pytest.approx(sum(expected.values()) + 0.5)


def test_grit_official_says_the_judge_is_skipped(composers):
    [notice] = composers["grit-official"].notices
    assert notice.startswith("Component 'judge': reward 'judge' cannot run (")
    assert notice.endswith("it is skipped (None) in this run.")


def test_grit_preset_is_the_papers_reward(composers):
    c = composers["grit"]
    assert c.names == ["format", "count", "answer", "bleu"]
    [notice] = c.notices
    assert "'answer_match' stands in for it" in notice
    sample = ColumnMap().to_sample({"answer": 7, "dataset": "tallyqa"})
    s = c.score(EX1, sample)
    # r_format = 0.5 (think pair) + 0.5 (rethink pair) + 0.5 (a box); r_count = 0.5 (7 boxes = 7);
    # r_ans = 1 (answer_match for the judge) + 0.1 * BLEU-1 of "7" vs "7" = 0.1: the paper's maximum 3.1
    assert s.rewards == pytest.approx({"format": 1.5, "count": 0.5, "answer": 1.0, "bleu": 0.1})
    assert s.total == pytest.approx(3.1)
    s = c.score(EX3, ColumnMap().to_sample({"answer": "No", "dataset": "vsr"}))
    # no box: 1.0 format; count not applicable to a yes/no answer
    assert s.rewards == pytest.approx({"format": 1.0, "count": None, "answer": 1.0, "bleu": 0.1})


def test_r1_preset(composers):
    c = composers["r1"]
    assert c.config.grammar == "r1" and c.names == ["format", "answer_match", "iou"]
    sample = ColumnMap().to_sample({"answer": "2", "bboxs": [[10, 10, 50, 60]]})
    s = c.score("<think>the cat is at (10, 10, 50, 50)</think><answer>(10, 10, 50, 50)</answer>", sample)
    # follows the r1 grammar: format 1.0; answer "(10, 10, 50, 50)" is not "2"; IoU 1600/2000
    assert s.ok and s.rewards == pytest.approx({"format": 1.0, "answer_match": 0.0, "iou": 0.8})
    s = c.score("<think>two</think><answer>2</answer>", ColumnMap().to_sample({"answer": "2"}))
    assert s.rewards == pytest.approx({"format": 1.0, "answer_match": 1.0, "iou": None})


def test_every_preset_names_existing_rewards_and_options():
    with isolated_plugin_manager() as pm:
        for name in list_presets():
            cfg = load_preset(name)
            for spec in cfg.rewards:
                info = pm.get_reward(spec.name)
                info.make_options(spec.options)
                if spec.fallback not in (None, "skip"):
                    pm.get_reward(spec.fallback)

"""Plain ``pickle`` (not cloudpickle) round-trips a Composer, a grammar and every adapter function.

Ray ships functions and actors with cloudpickle, spawned workers (TRL's async
rollout workers, ``gritkit score --workers``) with plain pickle; both must work.
Grammars travel by name and are rebuilt on load (their Lark tables do not pickle).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest

from _training_data import ADAPTER_CONFIG, GOOD, GT_BOXES

from gritkit.adapters import easyr1, easyr1_sequential, verl
from gritkit.adapters.trl import to_trl
from gritkit.compose import Composer
from gritkit.grammar import load_grammar
from gritkit.models import ImageSize, Sample

GT = {"answer": "2", "bboxs": GT_BOXES, "width": 100, "height": 50}
SAMPLE = Sample(answer="2", gt_boxes=GT_BOXES, image_size=ImageSize(width=100, height=50), dataset="tallyqa")
TEXTS = [GOOD, "<think>x</think><rethink>y</rethink><answer>3", "\ufffd<thi garbage"]


def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


@pytest.mark.parametrize("grammar", ["grit", "r1", "grit[think=thinking]"])
def test_grammar_pickles_by_name(grammar):
    g = load_grammar(grammar)
    assert len(pickle.dumps(g)) < 200
    assert _roundtrip(g) is g  # rebuilt through load_grammar's cache in this process


def test_used_composer_round_trips_and_scores_the_same():
    composer = Composer(ADAPTER_CONFIG)
    before = composer.score_many(TEXTS, [SAMPLE] * len(TEXTS))  # parsed and scored: Lark objects loaded
    copy = _roundtrip(composer)
    assert copy.names == composer.names and copy.weights == composer.weights
    assert copy.score_many(TEXTS, [SAMPLE] * len(TEXTS)) == before


def test_composer_with_renamed_tags_survives_pickle():
    config = {"grammar": "grit[think=thinking]", "rewards": [{"name": "format", "options": {"mode": "paper"}}]}
    composer = _roundtrip(Composer(config))
    text = "<thinking>a (1, 2, 3, 4)</thinking><rethink>b</rethink><answer>1"
    assert composer.score(text, SAMPLE).rewards["format"] == Composer(config).score(text, SAMPLE).rewards["format"]


def test_composer_unpickles_in_a_fresh_process(tmp_path):
    # A fresh interpreter has no grammar cache and no plugin manager yet: both are rebuilt from names.
    blob = tmp_path / "composer.pkl"
    blob.write_bytes(pickle.dumps(Composer(ADAPTER_CONFIG)))
    code = ("import pickle, sys, json; from gritkit.models import Sample, ImageSize\n"
            f"c = pickle.loads(open({str(blob)!r}, 'rb').read())\n"
            f"s = Sample(answer='2', gt_boxes={GT_BOXES!r}, image_size=ImageSize(width=100, height=50))\n"
            f"print(json.dumps(c.score({GOOD!r}, s).rewards))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == Composer(ADAPTER_CONFIG).score(GOOD, SAMPLE).rewards


@pytest.mark.parametrize("fn", [verl.compute_score, easyr1.compute_score, easyr1.compute_score_one, easyr1.main,
                                easyr1_sequential.compute_score, easyr1_sequential.main])
def test_verl_and_easyr1_functions_pickle(fn):
    copy = _roundtrip(fn)
    assert copy is fn  # module-level functions travel by reference


@pytest.mark.parametrize("combine", [False, True])
def test_trl_functions_round_trip_after_a_batch(combine):
    funcs, _ = to_trl(ADAPTER_CONFIG, model_family="qwen2_vl", combine=combine)
    kwargs = dict(prompts=["q"] * 3, completions=[[{"role": "assistant", "content": t}] for t in TEXTS],
                  answer=["2"] * 3, bboxs=[GT_BOXES] * 3, width=[100] * 3, height=[50] * 3)
    before = [f(**kwargs) for f in funcs]  # the batch cache is full now
    copies = _roundtrip(funcs)
    assert [f.__name__ for f in copies] == [f.__name__ for f in funcs]
    assert [f(**kwargs) for f in copies] == before

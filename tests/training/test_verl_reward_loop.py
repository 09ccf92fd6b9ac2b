"""verl 0.9.1's own reward loop (RewardLoopManager on a local Ray) scoring GRIT rows with gritkit.

verl pins ``transformers<5.11``, so it lives in a second environment, ``.venv-verl``
(``make venv-verl``; ``make test`` builds it). This test runs
``tests/training/verl_reward_loop.py`` with that environment's Python and checks
what verl returned against gritkit scoring the same rows here. Without the
environment the test skips on a developer machine and **fails** in CI (``CI`` set),
so a broken build cannot pass unnoticed. ``GRITKIT_VERL_PYTHON`` points at another
interpreter with verl installed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from _training_data import REPO, verl_python

from gritkit.adapters import verl as gverl

HERE = Path(__file__).resolve().parent
import verl_reward_loop as driver  # noqa: E402  (the rows and YAML it uses; it imports no verl at module level)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def verl_run(tmp_path_factory) -> dict:
    python = verl_python()
    out = tmp_path_factory.mktemp("verl")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    proc = subprocess.run([str(python), str(HERE / "verl_reward_loop.py"), str(out)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=REPO)
    assert proc.returncode == 0, f"verl's reward loop failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _reward_kwargs() -> dict:
    return yaml.safe_load(driver.YAML.read_text())["reward"]["custom_reward_function"]["reward_kwargs"]


def test_reward_loop_runs_gritkit_in_two_ray_workers(verl_run):
    assert verl_run["worker_count"] == 2
    assert Path(verl_run["gritkit"]).parent == REPO / "gritkit"  # this checkout, not another install
    assert verl_run["responses"] == [row[1] for row in driver.ROWS]  # the tokenizer round trip kept the tags


def test_rm_scores_are_gritkit_totals(verl_run):
    here = [gverl.compute_score(ds, text, gt, dict(extra), **_reward_kwargs())
            for ds, text, gt, extra, _ in driver.ROWS]
    assert verl_run["rm_scores"] == [3.5, 1.75, 3.0, 0.0]
    assert verl_run["rm_scores"] == [h["score"] for h in here]
    # verl places the score on the last valid response token
    for pos, n, score in zip(verl_run["rm_score_positions"], verl_run["response_lengths"], verl_run["rm_scores"]):
        assert pos == (n - 1 if score else -1)
    # the extra keys: one per reward, every row the same keys, equal to gritkit's values here
    assert verl_run["reward_extra_keys"] == ["score", "format", "count", "answer", "iou"]
    for key, values in verl_run["reward_extra_info"].items():
        assert values == [h[key] for h in here], key
    assert verl_run["reward_extra_info"]["count"] == [0.5, 0.0, 0.0, 0.0]  # not applicable (vsr) → none_value 0.0


def test_gdpo_needs_a_finite_none_value(verl_run):
    assert verl_run["gdpo_weights"] == [1.0, 1.0, 1.0, 0.5]
    assert all(math.isfinite(a) for a in verl_run["gdpo_advantages"])
    assert verl_run["gdpo_advantages"][0] > 0 > verl_run["gdpo_advantages"][1]  # the better answer of group "a"
    assert all(math.isnan(a) for a in verl_run["gdpo_advantages_nan_none_value"])  # NaN: every advantage NaN
    assert verl_run["nan_none_value_warnings"] == [gverl.NAN_NONE_VALUE_WARNING]  # warned once for 4 rows


def test_legacy_batch_reward_manager_plural_call(verl_run):
    assert verl_run["batch_manager_rewards"] == verl_run["rm_scores"]
    assert verl_run["batch_manager_extra"] == verl_run["reward_extra_info"]

"""Fixtures for the training tests: tiny random VLMs (built once per run), GRIT-schema data, a probe reward.

Everything runs offline on a CPU: ``HF_HUB_OFFLINE=1`` makes any accidental hub
access fail fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _training_data import PROBE_PLUGIN, TRAIN_CONFIG, write_grit_data


@pytest.fixture(scope="session")
def grit_data(tmp_path_factory) -> tuple[Path, Path]:
    """(train.jsonl, images folder): 8 GRIT-schema records with small images."""
    return write_grit_data(tmp_path_factory.mktemp("grit-data"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """``tiny_model(family) -> folder``: each family's tiny random VLM, built once per test run."""
    from gritkit.tiny import make_tiny_vlm

    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = make_tiny_vlm(family, tmp_path_factory.mktemp(f"tiny-{family}"), seed=0)
        return built[family]

    return get


@pytest.fixture(scope="session")
def probe_composer():
    """A Composer over :data:`TRAIN_CONFIG`, with the built-ins plus the probe plugin."""
    from gritkit.compose import Composer
    from gritkit.plugins import isolated_plugin_manager

    with isolated_plugin_manager(plugins=[str(PROBE_PLUGIN)]) as pm:
        return Composer(TRAIN_CONFIG, plugin_manager=pm)


@pytest.fixture()
def probe_seen(probe_composer):
    """The probe reward's record of samples, emptied for this test."""
    import sys

    module = sys.modules["probe_plugin"]
    module.SEEN.clear()
    return module.SEEN

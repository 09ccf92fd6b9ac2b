"""Shared test setup: offline by default, and a fresh parse cache per test."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_parse_cache():
    from gritkit.parsing import clear_cache

    clear_cache()
    yield

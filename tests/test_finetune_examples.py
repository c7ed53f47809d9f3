"""tools/finetune_examples.py: its small helpers, and a run with no models (sections marked missing)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tool_loader import load_tool


@pytest.fixture(scope="module")
def tool():
    return load_tool("finetune_examples")


def test_thin_curve_keeps_first_last_and_best(tool):
    curve = [{"threshold": float(i), "f1": float(-(i - 123) ** 2), "exact": 0.0} for i in range(1000)]
    thin = tool.thin_curve(curve, keep=50)
    assert len(thin) <= 51
    taus = [c["threshold"] for c in thin]
    assert taus[0] == 0.0 and taus[-1] == 999.0 and 123.0 in taus
    assert taus == sorted(taus)
    short = curve[:10]
    assert [c["threshold"] for c in tool.thin_curve(short, keep=50)] == [c["threshold"] for c in short]


def test_softmax_is_a_distribution_and_stable(tool):
    p = tool.softmax(np.array([1000.0, 1000.0, -1000.0]))
    assert np.isclose(p.sum(), 1.0) and np.allclose(p[:2], 0.5) and p[2] == 0.0


def test_rounded(tool):
    assert tool.rounded([0.123456, 1], 3) == [0.123, 1.0]


def test_run_without_models_marks_sections_missing_and_keeps_made_ones(tool, tmp_path):
    out = tmp_path / "examples.json"
    made = {"provenance": {"model": "x"}, "questions": []}
    out.write_text(json.dumps({"sections": {"squad_spans": made}}))
    tool.main(["--runs", str(tmp_path / "none"), "--out", str(out),
               "--sections", "squad_spans", "null_threshold", "sst2_sentences"])
    doc = json.loads(out.read_text())
    assert doc["sections"]["squad_spans"] == made  # an existing section is kept
    assert "missing" in doc["sections"]["null_threshold"]
    assert "squad-v2.0-minilm-seed42" in doc["sections"]["null_threshold"]["missing"]
    assert "missing" in doc["sections"]["sst2_sentences"]
    assert doc["sst2_widget_sentences"] == tool.SST2_SENTENCES

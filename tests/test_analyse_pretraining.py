"""tools/analyse_pretraining.py on a real (tiny) run: curves, baselines, export and PROVENANCE.md."""

import json
import os
from pathlib import Path

import pytest
from tool_loader import load_tool

pytestmark = pytest.mark.skipif(not os.environ.get("BERTEDU_DATA"), reason="set BERTEDU_DATA to the shared data")


def _tool():
    return load_tool("analyse_pretraining")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from bertedu.pretrain import main as pretrain

    run = tmp_path_factory.mktemp("run") / "r"
    pretrain(["--out", str(run), "--corpus", "wikitext-valid", "speeches", "--holdout", "5", "--max-documents",
              "30", "--vocab-size", "600", "--preset", "tiny", "--seq-len", "32", "--batch-size", "8", "--steps",
              "4", "--save-every", "2", "--eval-every", "0", "--dropout", "0", "--threads", "1", "--no-progress"])
    return run


def test_analysis_export_and_provenance(run_dir: Path, tmp_path: Path):
    tool = _tool()
    dest = tmp_path / "ckpt"
    tool.main([str(run_dir), "--max-pairs", "40", "--export", "4", str(dest), "--out", str(tmp_path / "d.json"),
               "--provenance", "--command", "python -m bertedu.pretrain ...", "--commit", "abc1234",
               "--minutes", "1"])
    diag = json.loads((tmp_path / "d.json").read_text())
    steps = [r["step"] for r in diag["checkpoints"]]
    assert steps == [0, 2, 4]  # the untrained model, then every kept checkpoint
    for row in diag["checkpoints"]:
        mask = row["mlm"]["mask"]
        assert 0 <= mask["accuracy"] <= 1 and mask["targets"] == diag["mask_targets"] > 0
        assert set(row["nsp"]) == {"is_next", "not_next_same_genre", "not_next_other_genre"}
        assert len(row["fill_mask"]) == len(tool.PROBES)
    import bertedu

    model = bertedu.from_pretrained(dest)  # the export loads
    assert isinstance(model, bertedu.BertForPreTraining)
    text = (dest / "PROVENANCE.md").read_text()
    assert "abc1234" in text and "step 4" in text and "x best context-free guess" in text
    assert max(json.loads(line)["step"] for line in (dest / "metrics.jsonl").read_text().splitlines()) <= 4


def test_export_of_a_missing_step_is_a_clear_error(run_dir: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="step-0000003.pt does not exist"):
        _tool().export(run_dir, 3, tmp_path / "x")

"""tools/target_kinds.py: accuracy per kind of masked-LM target at a run's last step (chapter 12, Table 8)."""

import json
import os
from pathlib import Path

import pytest
from tool_loader import load_tool

pytestmark = pytest.mark.skipif(not os.environ.get("BERTEDU_DATA"), reason="set BERTEDU_DATA to the shared data")

tool = load_tool("target_kinds")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from bertedu.pretrain import main as pretrain

    run = tmp_path_factory.mktemp("run") / "r"
    pretrain(["--out", str(run), "--corpus", "wikitext-valid", "--holdout", "5", "--max-documents", "30",
              "--vocab-size", "600", "--preset", "tiny", "--seq-len", "32", "--batch-size", "8", "--steps", "6",
              "--save-every", "2", "--keep-checkpoints", "2", "--eval-every", "0", "--dropout", "0",
              "--threads", "1", "--no-progress", "--mask-mix", "80,0,20"])
    return run


def test_a_row_scores_the_last_checkpoint_per_kind(run_dir: Path, tmp_path: Path):
    assert tool.last_step(run_dir) == 6
    out = tmp_path / "kinds.json"
    assert tool.main([str(run_dir), "--max-pairs", "40", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["command"].endswith("--max-pairs 40") and doc["commit"]
    (row,) = doc["runs"]
    assert row["step"] == 6 and row["mask_mix"] == [0.8, 0.0, 0.2] and row["nsp"] is True
    # the held-out set is 80/10/10 whatever the run trained with: all three kinds are there, and they add up
    assert all(row[k]["targets"] > 0 for k in ("mask", "kept", "random"))
    assert sum(row[k]["targets"] for k in ("mask", "kept", "random")) == row["all"]["targets"]
    assert 1 <= row["mask"]["distinct_answers"] <= row["mask"]["targets"]
    # the same numbers as the analysis tool gives for that step
    diag = load_tool("analyse_pretraining").analyse(run_dir, max_pairs=40, steps=[6])
    mlm = diag["checkpoints"][-1]["mlm"]
    for kind in tool.KINDS:
        assert row[kind]["accuracy"] == pytest.approx(mlm[kind]["accuracy"], abs=1e-5)
        assert row[kind]["loss"] == pytest.approx(mlm[kind]["loss"], abs=1e-4)


def test_the_file_is_merged_in_place_unless_replaced(run_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "kinds.json"
    other = {"run": "other-run", "step": 8000, "commit": "abc"}
    out.write_text(json.dumps({"what": "something else", "command": "old",
                               "runs": [other]}))
    with pytest.raises(SystemExit):  # made with other settings ('what' differs): refused, one line
        tool.main([str(run_dir), "--max-pairs", "40", "--out", str(out)])
    err = capsys.readouterr().err
    assert "--out" in err and "--replace" in err and len(err.strip().splitlines()) == 1
    assert tool.main([str(run_dir), "--max-pairs", "40", "--out", str(out), "--replace"]) == 0
    doc = json.loads(out.read_text())
    out.write_text(json.dumps({**doc, "runs": [other, *doc["runs"]]}))
    assert tool.main([str(run_dir), "--max-pairs", "40", "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert [r["run"] for r in merged["runs"]] == ["other-run", run_dir.name]
    assert merged["runs"][0] == other and merged["earlier_commands"] == [doc["command"]]
    with pytest.raises(SystemExit):  # another --max-pairs would mix rows scored on different sets
        tool.main([str(run_dir), "--max-pairs", "30", "--out", str(out)])
    assert "max_pairs = 40" in capsys.readouterr().err


def test_bad_run_folders_are_one_line_errors(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path)])
    assert "no run.json" in capsys.readouterr().err
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(ValueError, match="no checkpoints/step-"):
        tool.last_step(tmp_path)
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path), "--max-pairs", "0"])
    assert "--max-pairs: must be >= 1" in capsys.readouterr().err

"""The provenance report of a pre-training run (bertedu.pretraining.report), on a tiny run of the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from bertedu.pretraining.report import KINDS, Targets, main, split_by_what_was_read


def test_targets_are_split_by_what_the_model_read():
    # ids: 4 = [MASK]; targets 0-1 read [MASK], 2 the original word, 3-4 another word
    t = Targets(gold=torch.tensor([7, 8, 9, 10, 11]), seen=torch.tensor([4, 4, 9, 12, 13]),
                pred=torch.tensor([7, 5, 9, 12, 11]), nll=torch.tensor([0.5, 1.5, 0.1, 2.0, 1.0]))
    split = split_by_what_was_read(t, mask_token_id=4, top_id=7)
    assert [split[k]["n"] for k in KINDS] == [2, 1, 2]
    assert split[KINDS[0]] == {"n": 2, "loss": 1.0, "acc": 0.5, "top": 0.5}
    assert split[KINDS[1]]["acc"] == 1.0 and split[KINDS[2]]["acc"] == 0.5 and split[KINDS[2]]["top"] == 0.0


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A 4-step run of `python -m bertedu.pretrain` on 20 WikiText articles, copied like the training script."""
    pytest.importorskip("safetensors")
    from bertedu import dataset_path

    try:
        dataset_path("wikitext-2-raw", download=False)
    except FileNotFoundError:
        pytest.skip("WikiText-2 not available (set BERTEDU_DATA)")
    from bertedu.pretrain import main as pretrain

    run = tmp_path_factory.mktemp("run")
    pretrain(["--out", str(run), "--corpus", "wikitext-valid", "--holdout", "5", "--max-documents", "20",
              "--vocab-size", "400", "--seq-len", "32", "--batch-size", "8", "--steps", "4", "--eval-every", "2",
              "--save-every", "0", "--log-every", "2", "--no-progress", "--threads", "1"])
    folder = tmp_path_factory.mktemp("checkpoint")
    for name in ("final/model.safetensors", "final/config.json", "final/vocab.txt", "metrics.jsonl", "run.json"):
        shutil.copy(run / name, folder)
    return folder


def test_report_rebuilds_the_heldout_set_and_writes_provenance(tiny_run: Path):
    text = main([str(tiny_run), "--command", "python -m bertedu.pretrain ...", "--commit", "abc1234",
                 "--seconds", "12"])
    assert (tiny_run / "PROVENANCE.md").read_text(encoding="utf-8") == text
    run = json.loads((tiny_run / "run.json").read_text())
    assert run["corpus"] == ["wikitext-valid"] and run["holdout"] == 5 and run["argv"][:2] == ["--out", run["argv"][1]]
    last = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["split"] == "eval"][-1]
    # the report's own pass over the rebuilt held-out set gives the accuracy the run logged at its last step
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    targets = sum(int(rows[k].split(" | ")[1].replace(",", "")) for k in KINDS)
    assert f"All {targets:,} held-out targets" in text
    hits = sum(float(rows[k].split(" | ")[3].rstrip("%")) / 100 * int(rows[k].split(" | ")[1].replace(",", ""))
               for k in KINDS)
    assert hits / targets == pytest.approx(last["mlm_accuracy"], abs=2e-3)  # rows are rounded to 0.1%
    assert "commit `abc1234`" in text and "every 5th WikiText article" in text


def test_report_refuses_a_heldout_set_it_cannot_rebuild(tiny_run: Path):
    with pytest.raises(ValueError, match="--holdout"):
        main([str(tiny_run), "--command", "x", "--commit", "x", "--seconds", "1", "--holdout", "3"])

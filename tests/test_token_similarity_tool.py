"""tools/token_similarity.py: the mean cosine between different tokens' vectors (chapter 12, Table 8)."""

from __future__ import annotations

import json
import os

import pytest
import torch

from bertedu import BertConfig, BertModel
from tool_loader import load_tool

tool = load_tool("token_similarity")


def test_mean_cosine_is_the_mean_over_pairs_of_different_rows():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(7, 5, generator=g)
    unit = torch.nn.functional.normalize(v, dim=-1)
    brute = [float(unit[i] @ unit[j]) for i in range(7) for j in range(7) if i != j]
    assert tool.mean_cosine(v) == pytest.approx(sum(brute) / len(brute), abs=1e-6)
    assert tool.mean_cosine(torch.ones(4, 3) * torch.tensor([[1.0], [2.0], [3.0], [4.0]])) == pytest.approx(1.0)
    assert tool.mean_cosine(torch.eye(3)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="N >= 2"):
        tool.mean_cosine(torch.ones(1, 3))


def test_layer_similarity_reads_real_tokens_of_every_layer():
    config = BertConfig(vocab_size=50, hidden_size=12, num_hidden_layers=3, num_attention_heads=3,
                        intermediate_size=24, max_position_embeddings=16)
    model = BertModel(config, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([[2, 7, 8, 9, 3, 0], [2, 10, 11, 3, 0, 0]])
    batch = {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": torch.zeros_like(ids)}
    out = tool.layer_similarity(model, batch, special_ids=[0, 2, 3], positions=100)
    assert len(out) == 4 and all(-1.0 <= x <= 1.0 for x in out)  # embeddings + 3 layers
    # only the 5 real tokens count: the same numbers as by hand on the embedding layer
    with torch.no_grad():
        h = model(**batch, output_hidden_states=True).hidden_states[0]
    real = h[torch.tensor([[0, 1, 1, 1, 0, 0], [0, 1, 1, 0, 0, 0]]).bool()]
    assert out[0] == pytest.approx(tool.mean_cosine(real), abs=1e-6)
    with pytest.raises(ValueError, match="fewer than two"):
        tool.layer_similarity(model, {**batch, "attention_mask": torch.zeros_like(ids)}, special_ids=[0])


@pytest.mark.skipif(not os.environ.get("BERTEDU_DATA"), reason="set BERTEDU_DATA to the shared data")
def test_main_measures_a_run_and_merges_the_file_in_place(tmp_path, capsys):
    from bertedu.pretrain import main as pretrain

    run = tmp_path / "tiny-run"
    pretrain(["--out", str(run), "--corpus", "wikitext-valid", "--holdout", "5", "--max-documents", "30",
              "--vocab-size", "600", "--preset", "tiny", "--seq-len", "32", "--batch-size", "8", "--steps", "2",
              "--save-every", "2", "--keep-checkpoints", "1", "--eval-every", "0", "--dropout", "0",
              "--threads", "1", "--no-progress"])
    out = tmp_path / "similarity.json"
    assert tool.main([str(run), "--out", str(out)]) == 0
    first = json.loads(out.read_text())
    (row,) = first["runs"]
    assert row["run"] == "tiny-run" and row["nsp"] is True and row["commit"] == first["commit"]
    assert len(row["mean_cosine_by_layer"]) == 3  # the embeddings and the tiny model's two layers
    other = {"run": "other-run", "mean_cosine_by_layer": [0.5], "commit": "abc"}
    out.write_text(json.dumps({**first, "runs": [other, row]}))
    assert tool.main([str(run), "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert [r["run"] for r in merged["runs"]] == ["other-run", "tiny-run"] and merged["runs"][0] == other
    assert merged["runs"][1]["mean_cosine_by_layer"] == row["mean_cosine_by_layer"]  # deterministic
    out.write_text(json.dumps({**first, "text": "other sentences", "runs": [other]}))
    with pytest.raises(SystemExit):
        tool.main([str(run), "--out", str(out)])
    err = capsys.readouterr().err
    assert "text" in err and "--replace" in err and len(err.strip().splitlines()) == 1
    assert tool.main([str(run), "--out", str(out), "--replace"]) == 0
    assert [r["run"] for r in json.loads(out.read_text())["runs"]] == ["tiny-run"]

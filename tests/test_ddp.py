"""Data parallelism (DDP): two CPU processes with the gloo backend train like one process on the same batch.

Each rank draws the same global batch and trains on its half; DistributedDataParallel averages the
gradients. Because train_step weights each half's mean loss by its share of the *global* masked tokens,
two ranks x 3 sequences must give the update of one process x 6 sequences (up to float rounding).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bertedu.config import BertConfig
from bertedu.pretraining.data import prepare_dataset
from bertedu.pretraining.loop import build_model, train
from bertedu.pretraining.recipe import PretrainConfig
from bertedu.pretraining.state import read_metrics
from bertedu.text.tokenizer import BertTokenizer

WORDS = [f"w{i}" for i in range(94)]  # vocab 99


def _setup() -> tuple[PretrainConfig, BertConfig, object]:
    tokenizer = BertTokenizer.from_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)
    rng = random.Random(7)
    docs = [[" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(rng.randint(3, 8))]
            for _ in range(30)]
    cfg = PretrainConfig(max_seq_length=31, batch_size=6, grad_accum_steps=2, total_steps=4, warmup_steps=1,
                         log_every=1, eval_every=0, save_every=0, masking="dynamic", dupe_factor=2,
                         max_predictions_per_seq=5, seed=3, num_threads=1)
    # no dropout: each rank would draw its own dropout masks, which one process cannot reproduce
    mcfg = BertConfig(vocab_size=99, hidden_size=36, num_hidden_layers=2, num_attention_heads=3,
                      intermediate_size=50, max_position_embeddings=40, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)
    return cfg, mcfg, prepare_dataset(docs, tokenizer, cfg)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    # what torchrun would set; train() joins the group itself (bertedu.pretraining.distributed.init_distributed)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    try:
        cfg, mcfg, data = _setup()
        model = build_model(cfg, 99, mcfg)
        # only rank 0 writes: give every rank the same out_dir and check who wrote
        history = train(cfg, data, None, model=model, out_dir=Path(out) / "run", progress=False)
        assert dist.get_world_size() == world
        torch.save({"state": model.state_dict(), "losses": [r["loss"] for r in history]},
                   Path(out) / f"rank{rank}.pt")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_gloo_ranks_match_one_process(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, p in ranks[0]["state"].items():
        assert torch.equal(p, ranks[1]["state"][name]), name  # replicas never drift apart

    cfg, mcfg, data = _setup()
    single = build_model(cfg, 99, mcfg)
    history = train(cfg, data, None, model=single, progress=False)
    for name, p in single.state_dict().items():
        torch.testing.assert_close(ranks[0]["state"][name], p, atol=2e-6, rtol=1e-5, msg=name)
    # the logged loss is the global one (all-reduced), the same number one process computes
    assert ranks[0]["losses"] == pytest.approx([r["loss"] for r in history], abs=1e-5)
    assert ranks[1]["losses"] == ranks[0]["losses"]
    # rank 0 wrote the log and the checkpoint, once
    assert len(read_metrics(tmp_path / "run/metrics.jsonl")) == cfg.total_steps
    assert [p.name for p in (tmp_path / "run/checkpoints").glob("step-*.pt")] == ["step-0000004.pt"]


@pytest.mark.slow
def test_torchrun_runs_the_same_entry_point(tmp_path):
    """`torchrun --nproc_per_node 2 -m bertedu.pretrain`: the CLI under a real launcher, on real text."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed next to this python")
    try:
        from bertedu import dataset_path
        dataset_path("speeches", download=False)
    except Exception as err:  # noqa: BLE001 - the shared data are not here: nothing to run on
        pytest.skip(f"speeches corpus not available: {err}")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    run = tmp_path / "run"
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "bertedu.pretrain", "--out", str(run),
           "--corpus", "speeches", "--max-documents", "8", "--vocab-size", "400", "--holdout", "0",
           "--seq-len", "32", "--batch-size", "4", "--steps", "3", "--dupe-factor", "1", "--log-every", "1",
           "--threads", "1", "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '"world_size": 2' in (run / "run.json").read_text()
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2, 3]  # written once, by rank 0
    assert (run / "final/model.safetensors").is_file()

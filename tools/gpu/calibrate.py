"""Step 3 of ``tools/gpu/run_device.sh``: how many optimiser steps fit the training time on this machine.

``python -m bertedu.pretrain`` decays the learning rate linearly to 0 at ``--steps`` (paper A.2), and
``--max-minutes`` only stops the run. A guessed ``--steps`` either stops the run with the learning rate still
high or ends it early. So this times the run's own step first: the library's ``train_step`` on the
chapter's model (same preset, vocabulary, batch, length, dtype, device), fed by its own ``BatchStream`` with
dynamic masking on the CPU, exactly as :func:`bertedu.pretraining.loop.train` does it (one after the other);
plus one held-out evaluation and one checkpoint save. Prints ``KEY='value'`` lines for the shell and writes
the measurements as JSON.

    python tools/gpu/calibrate.py --device cuda --dtype bfloat16 --preset mini --vocab VOCAB --batch 256 \
        --seq 128 --train-seconds 330 --json calibration.json
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bertedu.pretraining.data import BatchStream, PretrainingDataset
from bertedu.pretraining.loop import build_model
from bertedu.pretraining.masking import MaskSpec, mask_kwargs
from bertedu.pretraining.recipe import PretrainConfig, build_optimizer, build_scheduler, evaluate, train_step
from bertedu.pretraining.state import save_checkpoint
from bertedu.text.tokenizer import BertTokenizer
from bertedu._io import OneLineParser

EVALS = 12  # held-out evaluations during the run (plus the one at step 0)
SAVES = 8  # resumable checkpoints during the run (plus the final one): what is left if the run is cut


def synthetic_dataset(tokenizer: BertTokenizer, rows: int, seq: int, config: PretrainConfig,
                      seed: int = 0) -> PretrainingDataset:
    """``rows`` full-length pairs of random pieces laid out like the real ones: [CLS] A [SEP] B [SEP].

    Real batches of 256 almost always contain a full-length pair, and a batch is as wide as its longest
    pair, so full length is the cost the run pays."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, len(tokenizer.vocab), (rows, seq), generator=g)
    half = seq // 2
    ids[:, 0], ids[:, half], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.sep_token_id
    types = torch.zeros_like(ids)
    types[:, half + 1:] = 1
    spec = MaskSpec(mlm_probability=config.mlm_probability, max_predictions=config.max_predictions_per_seq,
                    **mask_kwargs(tokenizer))
    return PretrainingDataset(ids, types, torch.ones_like(ids), torch.randint(0, 2, (rows,), generator=g), spec)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config: PretrainConfig, tokenizer: BertTokenizer, seconds: float, heldout_examples: int) -> dict[str, Any]:
    """Seconds per training step (data + step), per data draw, per held-out evaluation and per save."""
    device = torch.device(config.device)
    model = build_model(config, len(tokenizer.vocab)).to(device)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, 0, 10**9)
    data = synthetic_dataset(tokenizer, max(4 * config.batch_size, 256), config.max_seq_length, config)
    stream = BatchStream(data, config.batch_size, config.seed)
    for _ in range(3):  # warm-up: CUDA context, cuBLAS handles, the allocator
        train_step(model, optimizer, scheduler, [next(stream)], config)
    _sync(device)
    steps, start = 0, time.perf_counter()
    while steps < 5 or time.perf_counter() - start < seconds:
        train_step(model, optimizer, scheduler, [next(stream)], config)  # ends in .item()s: synchronised
        steps += 1
    step_s = (time.perf_counter() - start) / steps
    draws, start = 0, time.perf_counter()
    while draws < 3 or time.perf_counter() - start < min(1.0, seconds / 4):
        next(stream)
        draws += 1
    data_s = (time.perf_counter() - start) / draws
    fixed = [data.batch(torch.arange(config.batch_size), torch.Generator().manual_seed(1))]
    evaluate(model, fixed, config)
    start = time.perf_counter()
    evaluate(model, fixed * 2, config)
    eval_s = (time.perf_counter() - start) / 2 * math.ceil(heldout_examples / config.batch_size)
    with tempfile.TemporaryDirectory(prefix="bertedu-calib-") as tmp:
        start = time.perf_counter()
        save_checkpoint(tmp, 1, model, optimizer, scheduler, stream, config, keep=1)
        save_s = time.perf_counter() - start
    peak_mib = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"step_s": step_s, "data_s": data_s, "eval_s": eval_s, "save_s": save_s, "timed_steps": steps,
            "sequences_per_s": config.batch_size / step_s, "tokens_per_s": config.batch_size * config.max_seq_length / step_s,
            "peak_gpu_mib": peak_mib}


def schedule(m: dict[str, Any], train_seconds: float, evals: int = EVALS, saves: int = SAVES,
             margin: float = 0.93) -> dict[str, int | float]:
    """``--steps`` and the intervals that fill ``train_seconds``.

    Evaluations (at most ``evals``, and at most ~20% of the time; 0 = only at the start and the end) and saves
    (at most ``saves``, ~5% of the time) are paid for first; ``margin`` is kept for noise (``--max-minutes`` is
    the hard stop should the run still be slower). The loop's clock includes the evaluations and saves."""
    evals = min(evals, int(0.2 * train_seconds / max(m["eval_s"], 1e-9)) - 2)
    saves = min(saves, int(0.05 * train_seconds / max(m["save_s"], 1e-9)) - 1)
    evals, saves = max(evals, 0), max(saves, 0)
    left = train_seconds - (evals + 2) * m["eval_s"] - (saves + 1) * m["save_s"]
    steps = max(10, int(margin * max(left, 0.0) / m["step_s"]))
    return {"TRAIN_STEPS": steps, "TRAIN_WARMUP": max(1, steps // 50),
            "EVAL_EVERY": steps // evals if evals else 0, "SAVE_EVERY": steps // saves if saves else 0,
            "LOG_EVERY": max(1, min(50, steps // 200)), "MAX_MINUTES": round(train_seconds / 60, 3)}


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--preset", default="mini")
    p.add_argument("--vocab", required=True, help="the run's vocab.txt")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seconds", type=float, default=8.0, help="time the training step for this long")
    p.add_argument("--train-seconds", type=float, required=True, help="training time to fill (--max-minutes)")
    p.add_argument("--heldout-examples", type=int, default=1300, help="pairs in the held-out set (about)")
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = BertTokenizer.from_vocab_file(args.vocab)
    config = PretrainConfig(preset=args.preset, max_seq_length=args.seq, batch_size=args.batch, masking="dynamic",
                            dupe_factor=1, masked_only=True, device=args.device, dtype=args.dtype)
    m = measure(config, tokenizer, args.seconds, args.heldout_examples)
    plan = schedule(m, args.train_seconds)
    args.json.write_text(json.dumps({"measured": m, "train_seconds": args.train_seconds, "schedule": plan,
                                     "settings": vars(args) | {"json": str(args.json)}}, indent=2) + "\n")
    print(f"run_device: calibration: {m['step_s'] * 1e3:.1f} ms a step ({m['data_s'] * 1e3:.1f} ms of it drawing and "
          f"masking the batch on the CPU), {m['sequences_per_s']:.0f} sequences/s; eval {m['eval_s']:.1f}s, save "
          f"{m['save_s']:.1f}s -> {plan['TRAIN_STEPS']} steps in {args.train_seconds:.0f}s", file=sys.stderr)
    sys.stdout.write("".join(f"{k}={shlex.quote(str(v))}\n" for k, v in plan.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

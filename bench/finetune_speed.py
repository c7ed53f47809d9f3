"""Fine-tuning speed: bertedu's loop vs ``transformers.BertForSequenceClassification`` on SST-2, both from MiniLM.

Both sides start from the same all-MiniLM-L6-v2 weights, see the same SST-2 training examples (a seeded
subset of ``--steps x --batch`` sentences, tokenised once by bertedu's tokenizer, at most ``--seq`` tokens),
and use the same hyper-parameters: AdamW with bertedu's two parameter groups (``bertedu.build_optimizer``:
weight decay 0.01, none on biases and LayerNorm), lr ``--lr`` with 10% linear warmup and linear decay
(``bertedu.build_scheduler``), gradient clipping at 1.0, dropout 0.1, one epoch of ``--steps`` steps.
Each side uses its best standard batching:

- transformers: random order, each batch padded to its own longest sentence (what the Hugging Face course
  teaches with ``DataCollatorWithPadding``; written here with plain torch);
- bertedu: :func:`bertedu.finetuning.loop.finetune` with its length-bucketed batches.

The two runs alternate (``--reps`` times each, the order swapped every repetition); reported: examples per
second of each (median, min, max over the repetitions; wall time of the whole training run, batch building
included, model loading and evaluation excluded), the ratio bertedu / transformers, the tokens each side
pushes through the model (real + padding), and the SST-2 dev accuracy of each after the same steps
(scored by the same code, :func:`bertedu.finetuning.scoring.evaluate_task`).

    python bench/finetune_speed.py --json bench/results/finetune_cpu-minilm-sst2.json     # the real run
    python bench/finetune_speed.py --steps 4 --reps 2 --eval-examples 32                  # a quick check
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

import bertedu
from bertedu.finetuning.backbones import build_task_model, load_tokenizer, minilm_path
from bertedu.finetuning.batching import bucket_batches
from bertedu.finetuning.features import encode_task
from bertedu.finetuning.loop import FinetuneConfig, finetune, schedule_steps
from bertedu.finetuning.recipes import load_records
from bertedu.finetuning.scoring import evaluate_task
from bertedu.pretraining.report import cpu_name
from bertedu._io import OneLineParser


def pad_batch(features: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """The course's dynamic padding with plain torch: pad ids/segments to the batch's longest sentence."""
    seqs = [torch.tensor(f["input_ids"]) for f in features]
    ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=pad_id)
    types = torch.nn.utils.rnn.pad_sequence([torch.tensor(f["token_type_ids"]) for f in features], batch_first=True)
    mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(s), dtype=torch.long) for s in seqs], batch_first=True)
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "labels": torch.tensor([f["labels"] for f in features])}


def random_batches(n: int, batch: int, seed: int) -> list[list[int]]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[k:k + batch] for k in range(0, n, batch)]


def run_reference(features: list[dict], config: FinetuneConfig, pad_id: int) -> tuple[Any, float]:
    """transformers' BertForSequenceClassification from MiniLM, trained one epoch; (model, seconds)."""
    import transformers

    transformers.logging.set_verbosity_error()  # no load report: the new classifier is expected
    torch.manual_seed(config.seed)  # its new classifier and its dropout draw from the global generator
    model = transformers.BertForSequenceClassification.from_pretrained(str(minilm_path()), num_labels=2)
    optimizer = bertedu.build_optimizer(model, config)
    _, total, warmup = schedule_steps(len(features), config)
    scheduler = bertedu.build_scheduler(optimizer, warmup, total)
    start = time.perf_counter()
    for idx in random_batches(len(features), config.batch_size, config.seed):
        batch = pad_batch([features[i] for i in idx], pad_id)
        model.train()
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return model, time.perf_counter() - start


def run_bertedu(features: list[dict], config: FinetuneConfig, pad_id: int) -> tuple[Any, float]:
    """bertedu's head on MiniLM, trained one epoch by its loop (length-bucketed); (model, seconds)."""
    model, _, _ = build_task_model("minilm", "sst2", seed=config.seed)
    start = time.perf_counter()
    finetune(model, features, config, pad_token_id=pad_id, progress=False)
    return model, time.perf_counter() - start


def tokens_processed(lengths: list[int], batches: list[list[int]]) -> int:
    """Positions the model computes (real tokens + padding) when each batch is padded to its longest."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> dict:
    p = OneLineParser(description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=200, help="optimiser steps per run (one epoch of steps x batch)")
    p.add_argument("--batch", type=int, default=32, help="batch size")
    p.add_argument("--lr", type=float, default=3e-5, help="peak learning rate (the paper's grid: 2e-5 .. 5e-5)")
    p.add_argument("--seq", type=int, default=128, help="max_seq_length (GLUE's)")
    p.add_argument("--reps", type=int, default=3, help="timed runs of each side, interleaved")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--eval-examples", type=int, default=None, help="SST-2 dev sentences to score (default: all 872)")
    p.add_argument("--seed", type=int, default=42, help="head init, batch order, dropout")
    p.add_argument("--json", default=None, help="write the results here (e.g. bench/results/finetune_cpu-minilm-sst2.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = FinetuneConfig(lr=args.lr, batch_size=args.batch, epochs=1, max_seq_length=args.seq, seed=args.seed,
                            log_every=10 ** 9)
    tokenizer = load_tokenizer(minilm_path())
    train_records, _ = load_records("sst2", "train", args.steps * args.batch, seed=0)
    features = encode_task("sst2", train_records, tokenizer, args.seq).features
    dev = encode_task("sst2", load_records("sst2", "eval", args.eval_examples, seed=0)[0], tokenizer, args.seq)
    lengths = [len(f["input_ids"]) for f in features]
    pad = tokenizer.pad_token_id
    runners = {"transformers": run_reference, "bertedu": run_bertedu}
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    accuracy: dict[str, float] = {}
    for rep in range(args.reps):
        for name in (list(runners) if rep % 2 == 0 else list(runners)[::-1]):
            model, took = runners[name](features, config, pad)
            seconds[name].append(took)
            print(f"rep {rep + 1}/{args.reps} {name:12s} {len(features) / took:8.1f} examples/s ({took:.1f} s)", flush=True)
            if rep == args.reps - 1:  # the same seeds every repetition: score the last models
                accuracy[name] = evaluate_task(model, dev, pad_token_id=pad)["accuracy"]
            del model
    rates = {name: [len(features) / s for s in seconds[name]] for name in runners}
    ratio = statistics.median(rates["bertedu"]) / statistics.median(rates["transformers"])
    import transformers

    result = {
        "device": cpu_name(), "threads": args.threads,
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "bertedu": bertedu.__version__},
        "command": "python bench/finetune_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {"task": "sst2", "model": "all-MiniLM-L6-v2", "steps": args.steps, "batch": args.batch,
                     "lr": args.lr, "warmup_fraction": config.warmup_fraction, "weight_decay": config.weight_decay,
                     "max_grad_norm": config.max_grad_norm, "max_seq_length": args.seq, "seed": args.seed,
                     "train_examples": len(features), "dev_examples": len(dev.features), "reps": args.reps,
                     "transformers_batching": "random order, padded to each batch's longest (DataCollatorWithPadding style)",
                     "bertedu_batching": f"length-bucketed (pools of {config.pool_batches} batches), dynamic padding"},
        "tokens_processed": {"real": sum(lengths),
                             "transformers": tokens_processed(lengths, random_batches(len(features), args.batch, args.seed)),
                             "bertedu": tokens_processed(lengths, bucket_batches(lengths, args.batch, seed=args.seed,
                                                                                 pool_batches=config.pool_batches))},
        "seconds": seconds, "examples_per_s": {name: spread(rates[name]) for name in runners},
        "ratio": ratio, "dev_accuracy": accuracy,
    }
    print(f"{result['device']} | threads={args.threads} | {args.steps} steps x {args.batch}, max {args.seq} tokens")
    for name in runners:
        s = result["examples_per_s"][name]
        print(f"{name:12s} {s['median']:8.1f} examples/s (min {s['min']:.1f}, max {s['max']:.1f}); "
              f"tokens {result['tokens_processed'][name]:,}; dev accuracy {accuracy.get(name, float('nan')):.4f}")
    print(f"ratio bertedu / transformers: {ratio:.2f}x")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

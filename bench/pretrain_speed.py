"""Pre-training speed: bertedu's train step vs ``transformers.BertForPreTraining`` on the same batch.

Both models get the same config, the same random batch (15% of positions labelled, NSP labels), the same
AdamW (``bertedu.build_optimizer``: two groups, lr 1e-4) and gradient clipping at 1.0. bertedu runs
its own ``train_step`` with the masked-only MLM head and SDPA attention; the reference runs its default forward,
which scores the vocabulary at every position. Reported: optimiser steps per second, median over the timed
steps (warmup steps excluded), and the ratio bertedu / reference.

    python bench/pretrain_speed.py                          # tiny, vocab 30,522, batch 32 x 128, 2 threads
    python bench/pretrain_speed.py --device cuda --preset base --json bench/results/h100-base.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

import bertedu
from bertedu.config import BertConfig
from bertedu.model.heads import BertForPreTraining
from bertedu.pretraining.recipe import PretrainConfig, build_optimizer, train_step


def make_batch(batch: int, seq: int, vocab: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random ids (no special ids 0-4), segment B in the second half, 15% of positions labelled."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, seq), generator=g)
    chosen = torch.rand(batch, seq, generator=g) < 0.15
    chosen[:, 0] = False  # [CLS] is never a target
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    types = torch.zeros_like(ids)
    types[:, seq // 2:] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": torch.ones_like(ids),
            "labels": labels, "next_sentence_label": torch.randint(0, 2, (batch,), generator=g)}


def time_steps(step: Callable[[], None], warmup: int, timed: int, device: torch.device) -> list[float]:
    """Seconds of each timed call of ``step`` (after ``warmup`` untimed calls)."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(timed):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times


def bertedu_step(config: BertConfig, batch: dict[str, torch.Tensor], device: torch.device,
                 dtype: str) -> Callable[[], None]:
    model = BertForPreTraining(config, generator=torch.Generator().manual_seed(0)).to(device)
    pcfg = PretrainConfig(masked_only=True, dtype=dtype, device=device.type, batch_size=len(batch["input_ids"]))
    optimizer = build_optimizer(model, pcfg)
    on_device = {k: v.to(device) for k, v in batch.items()}
    return lambda: train_step(model, optimizer, None, [on_device], pcfg)


def reference_step(config: BertConfig, batch: dict[str, torch.Tensor], device: torch.device,
                   dtype: str) -> tuple[Callable[[], None], str]:
    import transformers

    ref_config = transformers.BertConfig(**{k: v for k, v in config.to_dict().items()
                                            if k not in ("architectures", "attn_implementation")})
    model = transformers.BertForPreTraining(ref_config).to(device)
    optimizer = build_optimizer(model, PretrainConfig())
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bfloat16")
    on_device = {k: v.to(device) for k, v in batch.items()}

    def step() -> None:
        model.train()
        with autocast:
            out = model(**on_device)  # logits at every position: its default
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, getattr(model.config, "_attn_implementation", "default")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (allocator, caches)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (the median is reported)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                   help="default: bfloat16 autocast on cuda, float32 on cpu (the same for both models)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    config = BertConfig.preset(args.preset, vocab_size=args.vocab, attn_implementation="sdpa")
    batch = make_batch(args.batch, args.seq, args.vocab)

    ref, ref_attn = reference_step(config, batch, device, dtype)
    ref_times = time_steps(ref, args.warmup, args.steps, device)
    del ref
    ours_times = time_steps(bertedu_step(config, batch, device, dtype), args.warmup, args.steps, device)
    ref_sps, ours_sps = 1 / statistics.median(ref_times), 1 / statistics.median(ours_times)
    import transformers

    result = {
        "device": device_name(device), "device_type": device.type, "threads": args.threads,
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "bertedu": bertedu.__version__},
        "settings": {"preset": args.preset, "vocab_size": args.vocab, "batch": args.batch, "seq": args.seq,
                     "dtype": dtype, "warmup_steps": args.warmup, "timed_steps": args.steps,
                     "layers": config.num_hidden_layers, "hidden": config.hidden_size,
                     "bertedu": "train_step, masked-only MLM logits, SDPA attention",
                     "reference": f"transformers.BertForPreTraining default forward (logits at every position, "
                                  f"attention {ref_attn}), same AdamW and clipping"},
        "reference_step_s": ref_times, "bertedu_step_s": ours_times,
        "reference_steps_per_s": ref_sps, "bertedu_steps_per_s": ours_sps, "speedup": ours_sps / ref_sps,
    }
    print(f"{result['device']} | {args.preset} V={args.vocab} batch {args.batch}x{args.seq} {dtype} "
          f"threads={args.threads}")
    print(f"reference (transformers): {ref_sps:8.3f} steps/s   (median {statistics.median(ref_times):.3f} s/step)")
    print(f"bertedu:                  {ours_sps:8.3f} steps/s   (median {statistics.median(ours_times):.3f} s/step)")
    print(f"speed-up: {result['speedup']:.2f}x")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

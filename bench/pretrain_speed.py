"""Pre-training speed: bertedu's train step vs ``transformers.BertForPreTraining`` on the same batch.

Both models get the same config, the same random batch (15% of positions labelled, NSP labels), the same
AdamW (``bertedu.build_optimizer``: two groups, lr 1e-4) and gradient clipping at 1.0. bertedu runs
its own ``train_step`` with the masked-only MLM head and SDPA attention; the reference runs its default forward,
which scores the vocabulary at every position.

On a shared machine one short timing of each is noise (3.6x and 5.4x a minute apart), so the two models are
timed in *interleaved* rounds (A B, B A, A B, ...): whatever else the machine does hits both alike. Reported per
model: the median steps/s over rounds and its spread (min-max and the interquartile range), the ratio of each
round and their median; plus the model FLOP/s each achieves, as a fraction of a dense matrix product measured
in the same run with the same threads (the CPU's practical peak), or of a given peak (``--peak-tflops``, a
GPU's datasheet figure).

    python bench/pretrain_speed.py                          # tiny, vocab 30,522, batch 32 x 128, 2 threads, 7 rounds
    python bench/pretrain_speed.py --device cuda --preset base --json bench/results/h100-base.json
"""

from __future__ import annotations

import json
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
from bertedu.pretraining.report import cpu_name
from bertedu._io import OneLineParser


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
    return cpu_name()


def model_flops_per_step(config: BertConfig, batch: int, seq: int, masked: int) -> float:
    """Floating-point operations one training step *needs* (forward + backward = 3x forward, 2 per MAC).

    Per token and layer: Q, K, V and output projections (4 H^2), the feed-forward (2 H I), attention scores and
    the weighted sum (2 T H). The MLM head at the ``masked`` labelled positions only (H^2 + H V each): what
    predicting the targets requires, whatever a given implementation computes. Embedding look-ups are free."""
    h, i, layers, v = config.hidden_size, config.intermediate_size, config.num_hidden_layers, config.vocab_size
    tokens = batch * seq
    macs = tokens * layers * (4 * h * h + 2 * h * i + 2 * seq * h) + masked * (h * h + h * v) + batch * (h * h + 2 * h)
    return 3 * 2 * macs


def matmul_flops_per_s(device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a dense ``size``-square float32 (bf16 on CUDA) matrix product: the practical peak here."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g).to(device, dtype)
    b = torch.randn(size, size, generator=g).to(device, dtype)
    times = time_steps(lambda: torch.mm(a, b), 1, repeats, device)
    return 2 * size ** 3 / statistics.median(times)


def spread(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "q1": q[0], "q3": q[2]}


def interleaved(steps: dict[str, Callable[[], None]], rounds: int, per_round: int, warmup: int,
                device: torch.device) -> dict[str, list[float]]:
    """Steps/s of each function in every round; the order alternates round by round (A B, B A, ...)."""
    for fn in steps.values():
        time_steps(fn, warmup, 0, device)
    names, out = list(steps), {n: [] for n in steps}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            out[name].append(1 / statistics.median(time_steps(steps[name], 0, per_round, device)))
    return out


def main(argv: list[str] | None = None) -> dict:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    p.add_argument("--preset", default="tiny", help="model size, BertConfig.preset (default: %(default)s)")
    p.add_argument("--vocab", type=int, default=30522, help="vocabulary size (default: %(default)s)")
    p.add_argument("--batch", type=int, default=32, help="sequences per step (default: %(default)s)")
    p.add_argument("--seq", type=int, default=128, help="tokens per sequence (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps of each model first (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (default: %(default)s)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per model and round (default: %(default)s)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="datasheet dense peak (TFLOP/s) to report utilisation against, e.g. 989 for H100/H200 bf16")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                   help="default: bfloat16 autocast on cuda, float32 on cpu (the same for both models)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    for flag in ("batch", "seq", "threads", "rounds", "steps"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be >= 1")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    config = BertConfig.preset(args.preset, vocab_size=args.vocab, attn_implementation="sdpa")
    batch = make_batch(args.batch, args.seq, args.vocab)
    ref, ref_attn = reference_step(config, batch, device, dtype)
    runs = interleaved({"reference": ref, "bertedu": bertedu_step(config, batch, device, dtype)},
                       args.rounds, args.steps, args.warmup, device)
    ratios = [o / r for o, r in zip(runs["bertedu"], runs["reference"])]
    flops = model_flops_per_step(config, args.batch, args.seq, int((batch["labels"] != -100).sum()))
    peak = args.peak_tflops * 1e12 if args.peak_tflops else matmul_flops_per_s(device)
    import transformers

    result = {
        "device": device_name(device), "device_type": device.type, "threads": args.threads,
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "bertedu": bertedu.__version__},
        "settings": {"preset": args.preset, "vocab_size": args.vocab, "batch": args.batch, "seq": args.seq,
                     "dtype": dtype, "warmup_steps": args.warmup, "rounds": args.rounds, "steps_per_round": args.steps,
                     "layers": config.num_hidden_layers, "hidden": config.hidden_size,
                     "bertedu": "train_step, masked-only MLM logits, SDPA attention",
                     "reference": f"transformers.BertForPreTraining default forward (logits at every position, "
                                  f"attention {ref_attn}), same AdamW and clipping"},
        "reference_steps_per_s": spread(runs["reference"]), "bertedu_steps_per_s": spread(runs["bertedu"]),
        "rounds_steps_per_s": runs, "ratio_per_round": ratios, "speedup": spread(ratios),
        "model_flops_per_step": flops, "peak_flops_per_s": peak,
        "peak_source": "datasheet (--peak-tflops)" if args.peak_tflops else "dense matmul measured in this run",
        "utilisation": {k: flops * statistics.median(v) / peak for k, v in runs.items()},
    }
    print(f"{result['device']} | {args.preset} V={args.vocab} batch {args.batch}x{args.seq} {dtype} "
          f"threads={args.threads} | {args.rounds} interleaved rounds of {args.steps} steps")
    for name in ("reference", "bertedu"):
        s = result[f"{name}_steps_per_s"]
        print(f"{name:>9}: {s['median']:8.3f} steps/s  (min {s['min']:.3f}, max {s['max']:.3f}, "
              f"IQR {s['q1']:.3f}-{s['q3']:.3f})   {flops * s['median'] / 1e9:7.2f} GFLOP/s = "
              f"{result['utilisation'][name]:.1%} of the peak")
    sp = result["speedup"]
    print(f"speed-up: {sp['median']:.2f}x  (per round: min {sp['min']:.2f}x, max {sp['max']:.2f}x)")
    print(f"peak: {peak / 1e9:.1f} GFLOP/s ({result['peak_source']})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

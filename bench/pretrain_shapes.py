"""Which batch shape and number format train fastest on this CPU? (issue 15: "sequence length and batch picked
for tokens/s on 2 cores", "bf16 on CPU if it pays")

bertedu's ``train_step`` (masked-only MLM logits, SDPA, NSP, clipping, AdamW) on the book's CPU model (tiny
preset, the 8,000-piece vocabulary) for batches of the same number of token positions (default 4,096 a step:
128 x 32, 64 x 64, 32 x 128), each in float32 and in bfloat16 autocast. All configurations are timed in
interleaved rounds (see ``pretrain_speed.py``) so that other load on the machine hits them alike; reported:
token positions per second, median and min-max over the rounds.

Tokens per second is only half of the choice: a shorter sequence gives each target less context, and the
longest dependency a model can learn is bounded by the sequence length. Chapter 8's recipe uses 64 x 64.

    python bench/pretrain_shapes.py                         # 1 thread (what each pre-training run uses here)
    python bench/pretrain_shapes.py --threads 2 --json bench/results/cpu-shapes.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pretrain_speed import bertedu_step, interleaved, make_batch, spread  # noqa: E402

import bertedu  # noqa: E402
from bertedu.config import BertConfig  # noqa: E402
from bertedu.pretraining.report import cpu_name  # noqa: E402
from bertedu._io import OneLineParser  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=4096, help="token positions per step (default: %(default)s)")
    p.add_argument("--seqs", type=int, nargs="+", default=[32, 64, 128], help="sequence lengths to compare")
    p.add_argument("--vocab", type=int, default=8000, help="vocabulary size (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per configuration and round")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    for seq in args.seqs:
        if seq < 8 or args.tokens % seq:
            p.error(f"argument --seqs: {seq} must be >= 8 and divide --tokens {args.tokens}")
    torch.set_num_threads(args.threads)
    config = BertConfig.preset("tiny", vocab_size=args.vocab)
    device = torch.device("cpu")
    steps = {}
    for seq in args.seqs:
        batch = make_batch(args.tokens // seq, seq, args.vocab)
        for dtype in ("float32", "bfloat16"):
            steps[f"{args.tokens // seq}x{seq} {dtype}"] = bertedu_step(config, batch, device, dtype)
    runs = interleaved(steps, args.rounds, args.steps, warmup=2, device=device)
    tokens_per_s = {name: spread([args.tokens * s for s in values]) for name, values in runs.items()}
    print(f"{cpu_name()} | tiny, V={args.vocab:,} | {args.tokens:,} token positions a step | threads={args.threads}"
          f" | {args.rounds} interleaved rounds of {args.steps} steps")
    best = max(tokens_per_s.values(), key=lambda s: s["median"])["median"]
    for name, s in tokens_per_s.items():
        print(f"{name:<18} {s['median']:>9,.0f} tokens/s  (min {s['min']:,.0f}, max {s['max']:,.0f})"
              f"  {s['median'] / best:5.0%} of the fastest")
    result = {"device": cpu_name(), "threads": args.threads, "torch": torch.__version__,
              "bertedu": bertedu.__version__, "settings": vars(args), "tokens_per_s": tokens_per_s,
              "rounds_steps_per_s": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()

"""How long bertedu.mask_tokens takes on one pretraining batch (it runs every step of dynamic masking).

    python bench/masking_speed.py [--batch 32 --seq 128 --vocab 30522 --repeat 50]
"""

from __future__ import annotations

import statistics
import time

import torch

from bertedu.pretraining.masking import mask_tokens, whole_word_mask_tokens
from bertedu._io import OneLineParser


def main(argv: list[str] | None = None) -> None:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args(argv)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, args.vocab, (args.batch, args.seq), generator=gen)
    kw = dict(special_ids=[0, 100, 101, 102, 103], vocab_size=args.vocab, mask_token_id=103)
    cont = torch.zeros(args.vocab, dtype=torch.bool)
    cont[torch.arange(args.vocab) % 3 == 0] = True  # a third of the vocabulary are "##" pieces
    for name, fn, extra in (("mask_tokens", mask_tokens, {}),
                            ("whole_word_mask_tokens", whole_word_mask_tokens, {"is_continuation": cont})):
        fn(ids, generator=gen, **kw, **extra)  # warm-up
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn(ids, generator=gen, **kw, **extra)
            times.append(time.perf_counter() - start)
        print(f"{name:>24}: median {1e3 * statistics.median(times):.2f} ms per {args.batch}x{args.seq} batch")


if __name__ == "__main__":
    main()

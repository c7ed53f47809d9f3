"""Length-bucketed batches for dynamic padding: fewer [PAD] tokens, the same examples.

The released BERT code pads every fine-tuning sequence to ``max_seq_length`` (128 for GLUE). Most
GLUE sentences are far shorter, and attention and the feed-forward layers pay for every padded
position. Padding each batch only to its own longest sequence (dynamic padding, :func:`collate
<bertedu.finetuning.features.collate>`) helps; grouping examples of similar length into the same
batch helps more. :func:`bucket_batches` does that without giving up the shuffle:

1. shuffle all examples with a generator seeded by (seed, epoch);
2. cut the shuffled list into pools of ``batch_size * pool_batches`` examples, sort each pool by
   length and cut it into batches (so a batch holds neighbours in length);
3. shuffle the order of the batches with the same generator.

Every example appears exactly once per epoch; the batches change from epoch to epoch; the same
(seed, epoch) always gives the same batches, which is what an exact resume needs (a resumed run
recomputes the epoch's batches and continues at the saved batch index).
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["bucket_batches", "eval_batches", "epoch_seed", "padding_fraction"]


def epoch_seed(seed: int, epoch: int) -> int:
    """The generator seed of one epoch's order (distinct for every (seed, epoch) pair of small ints)."""
    return seed * 1_000_003 + epoch


def _check(lengths: Sequence[int], batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not len(lengths):
        raise ValueError("lengths is empty: there are no examples to batch")


def bucket_batches(lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int = 0,
                   pool_batches: int = 50) -> list[list[int]]:
    """One epoch of batches (lists of example indices), grouped by length (see the module docstring).

    ``pool_batches=1`` is a plain shuffle; a pool as large as the data sorts the whole epoch by length.
    Only the last pool can leave a partial batch, so an epoch has ``ceil(n / batch_size)`` batches.
    """
    _check(lengths, batch_size)
    if isinstance(pool_batches, bool) or not isinstance(pool_batches, int) or pool_batches < 1:
        raise ValueError(f"pool_batches must be a positive int, got {pool_batches!r}")
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    order = torch.randperm(len(lengths), generator=g).tolist()
    pool = batch_size * pool_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])  # stable: ties keep the shuffle
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]


def eval_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches for evaluation: all examples sorted by length (longest first), no randomness."""
    _check(lengths, batch_size)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of the padded positions that are [PAD] when each batch is padded to its longest example."""
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    real = sum(lengths[i] for b in batches for i in b)
    return 1.0 - real / padded if padded else 0.0

"""Data-parallel pre-training under ``torchrun`` (DistributedDataParallel), kept apart from the recipe.

Every process (rank) draws the same global batch, takes its contiguous slice (:func:`shard`) and computes
gradients on it; DDP averages the gradients over ranks before the optimiser step, so every rank makes the
same update.  :func:`distributed_train_step` is :func:`bertedu.train_step` with the three things DDP
needs: the shard, ``no_sync`` while accumulating micro-batches (one gradient exchange per step), and a
loss scaled by the number of ranks (our loss shares already sum to 1 over ranks; DDP's mean would divide
them again).  With one process it *is* :func:`bertedu.train_step`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from bertedu.pretraining.recipe import apply_update, micro_step_loss, step_totals, train_step

if TYPE_CHECKING:  # annotations only
    from bertedu.pretraining.data import Batch
    from bertedu.pretraining.recipe import PretrainConfig


@dataclass
class DistInfo:
    """Where this process sits in a data-parallel job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def shard(batch: Batch, dist: DistInfo) -> Batch:
    """This rank's contiguous slice of a global batch (every rank draws the same global batch)."""
    if dist.world_size == 1:
        return batch
    size = len(batch["input_ids"])
    if size % dist.world_size:
        raise ValueError(f"batch_size ({size}) must be divisible by the number of processes ({dist.world_size})")
    per = size // dist.world_size
    return {k: v[dist.rank * per:(dist.rank + 1) * per] for k, v in batch.items()}


def init_distributed(device: str = "cpu") -> DistInfo:
    """Join the process group ``torchrun`` describes (RANK / WORLD_SIZE in the environment), if any."""
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        return DistInfo(tdist.get_rank(), tdist.get_world_size())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    tdist.init_process_group(backend=backend)
    return DistInfo(tdist.get_rank(), tdist.get_world_size())


def pick_device(config: PretrainConfig, dist: DistInfo) -> torch.device:
    """The device of this process: ``config.device``; under torchrun each rank gets its own GPU."""
    if config.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("PretrainConfig.device is 'cuda' but no GPU is visible; use device='cpu'")
        local = int(os.environ.get("LOCAL_RANK", dist.rank if dist.world_size > 1 else 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device(config.device)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or ``model`` itself): what is saved and evaluated."""
    return getattr(model, "module", model)


def distributed_train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                           scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                           micro_batches: Sequence[Batch], config: PretrainConfig,
                           dist: DistInfo) -> dict[str, float]:
    """One optimiser step over global ``micro_batches``, each rank on its shard; same update as one process."""
    if dist.world_size == 1:
        return train_step(model, optimizer, scheduler, micro_batches, config)
    if not micro_batches:
        raise ValueError("micro_batches is empty: pass at least one batch")
    device = next(model.parameters()).device
    total_mask, total_seq = step_totals(micro_batches)  # of the global batches: shares sum to 1 over ranks
    totals = torch.zeros(6)
    model.train()
    for i, global_batch in enumerate(micro_batches):
        batch = {k: v.to(device) for k, v in shard(global_batch, dist).items()}
        last = i == len(micro_batches) - 1
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:  # exchange gradients once, after the last micro-batch
            loss, counts = micro_step_loss(model, batch, config, total_mask, total_seq)
            # DDP averages gradients over ranks; our shares already sum to 1 over ranks, so undo the mean.
            (loss * dist.world_size).backward()
        totals += counts
    torch.distributed.all_reduce(totals)
    return apply_update(model, optimizer, scheduler, totals, config)

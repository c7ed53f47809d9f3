"""Resumable fine-tuning checkpoints: a killed run continues to the same weights, bit for bit (CPU).

A checkpoint (``OUT/checkpoints/step-XXXXXXX.pt``, then ``OUT/checkpoints/latest.json`` pointing at
it, both written atomically with :func:`bertedu._io.atomic_write`) holds everything the next step
depends on: the weights, the AdamW moments, the schedule's position, torch's global generator
(dropout reads it), where the data order stands (epoch and batch; the epoch's batches are recomputed
from the seed), the early-stopping state (best score, its step and weights, evaluations since),
the run's settings and a fingerprint of the training data. Loading uses ``weights_only=True``: a
checkpoint file can hold tensors and plain values only, never code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertedu._io import latest_step_file, write_step_file

__all__ = ["save_state", "load_state", "latest_state", "remove_checkpoints", "data_fingerprint",
           "RESUMABLE_CHANGES", "CHECKPOINT_DIR"]

CHECKPOINT_DIR = "checkpoints"
# settings a resumed run may change: they do not alter what any later step computes
RESUMABLE_CHANGES = frozenset({"threads", "log_every", "save_every", "keep_checkpoints", "device"})


def data_fingerprint(lengths: list[int]) -> str:
    """sha256 of the features' lengths: a resumed run must see the same training data."""
    return hashlib.sha256(json.dumps(lengths).encode()).hexdigest()[:16]


def save_state(out_dir: str | Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, progress: dict[str, Any], config: Any,
               fingerprint: str, keep: int = 1) -> Path:
    """Write the checkpoint of ``step`` and point ``latest.json`` at it (last); keep the newest ``keep``."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
             "progress": progress, "config_json": json.dumps(config.to_dict()), "fingerprint": fingerprint}
    return write_step_file(folder, step, state, keep)


def latest_state(out_dir: str | Path) -> Path | None:
    """The checkpoint ``latest.json`` points at, or None when the run has none."""
    return latest_step_file(Path(out_dir) / CHECKPOINT_DIR)


def load_state(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, config: Any, fingerprint: str
               ) -> tuple[int, dict[str, Any]]:
    """Restore a checkpoint into the run; returns (step, progress). Refuses other settings or data."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved, now = json.loads(state["config_json"]), json.loads(json.dumps(config.to_dict()))
    changed = sorted(k for k in saved.keys() | now.keys() if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if changed:
        raise ValueError(f"cannot resume {path}: settings differ from the checkpoint's: "
                         + ", ".join(f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
                         + "; resume with the same settings or use a new output directory")
    if state["fingerprint"] != fingerprint:
        raise ValueError(f"cannot resume {path}: the training data differ from the checkpoint's (other task, "
                         "subset, tokenizer or max_seq_length); use the same data or a new output directory")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), state["progress"]


def remove_checkpoints(out_dir: str | Path) -> None:
    """Delete ``OUT/checkpoints`` (after a finished run has saved its final model and results)."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    if folder.is_dir():
        shutil.rmtree(folder)

"""The state of a pre-training run on disk: resumable checkpoints and the metrics log.

* :func:`save_checkpoint` / :func:`load_checkpoint` write and read ``OUT/checkpoints/step-XXXXXXX.pt``
  atomically, with ``OUT/checkpoints/latest.json`` updated last, so that a killed run resumes bit for bit
  (weights, AdamW moments, schedule, the global torch RNG that dropout reads, the data stream);
* :class:`MetricsLog` appends one JSON record per line to ``OUT/metrics.jsonl``; the chapters read it back
  with :func:`read_metrics`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertedu._io import LATEST, atomic_write, latest_step_file, write_step_file  # noqa: F401 (LATEST)
from bertedu.pretraining.data import BatchStream
from bertedu.pretraining.distributed import unwrap_model

CHECKPOINT_DIR = "checkpoints"


def save_checkpoint(out_dir: str | Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, stream: BatchStream,
                    config: Any, keep: int = 2) -> Path:
    """Write ``checkpoints/step-XXXXXXX.pt`` atomically, then point ``checkpoints/latest.json`` at it.

    The file holds everything a resumed run needs to continue *bit for bit*: weights, AdamW moments,
    scheduler position, the global torch RNG (dropout), the data stream's generators and position, and the
    run's config (a :class:`bertedu.PretrainConfig`). The pointer is updated last, so a crash mid-save leaves the previous checkpoint as "latest".
    Loading uses ``torch.load(weights_only=True)``: no arbitrary unpickling.
    """
    ckpt_dir = Path(out_dir) / CHECKPOINT_DIR
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "step": step,
        "model": unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "stream": stream.state_dict(),
        "config_json": json.dumps(config.to_dict()),
    }
    return write_step_file(ckpt_dir, step, state, keep)


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The checkpoint file ``latest.json`` points at, or None if there is none yet."""
    return latest_step_file(Path(out_dir) / CHECKPOINT_DIR)


# settings a resumed run may change: they do not alter what the next step computes
RESUMABLE_CHANGES = frozenset({"eval_every", "eval_max_batches", "save_every", "keep_checkpoints", "log_every",
                               "num_threads", "max_minutes", "device"})


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, stream: BatchStream,
                    config: Any = None) -> int:
    """Restore everything :func:`save_checkpoint` wrote; returns the step to continue from.

    With ``config`` (the resumed run's PretrainConfig), refuse to continue under different training
    settings (batch size, schedule, masking, ...): the result would be neither run.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if config is not None:
        from bertedu.pretraining.recipe import ADDED_FIELDS
        # a checkpoint from before a field existed was made with its old behaviour, the field's default
        saved = {**ADDED_FIELDS, **json.loads(state["config_json"])}
        now = json.loads(json.dumps(config.to_dict()))
        changed = sorted(k for k in saved.keys() | now.keys()
                         if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))
        if changed:
            raise ValueError(f"cannot resume {path}: these settings differ from the checkpoint's: "
                             + ", ".join(f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
                             + "; resume with the original settings or start a new out_dir")
    unwrap_model(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    stream.load_state_dict(state["stream"])
    return int(state["step"])


class MetricsLog:
    """Append-only JSON-lines log (one dict per line) that the chapters read back with :func:`read_metrics`."""

    def __init__(self, path: str | Path | None, enabled: bool = True) -> None:
        self.path = Path(path) if path is not None and enabled else None
        self.records: list[dict[str, Any]] = []

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (a resumed run redoes those steps)."""
        if self.path is not None and self.path.is_file():
            kept = [r for r in read_metrics(self.path) if r["step"] <= step]
            text = "".join(json.dumps(r) + "\n" for r in kept)
            atomic_write(self.path, lambda tmp: tmp.write_text(text))
            self.records = kept

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file, optionally only one split ("train" or "eval")."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut short by a crash
                records.append(json.loads(line))
    return [r for r in records if split is None or r.get("split") == split]

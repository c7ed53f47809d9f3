"""The committed results of the experiments: ``data/experiments/{table}.json``, one record per cell.

A record is one (variant, task, metric) over seeds::

    {"variant", "label", "row", "kind": "finetune" | "pretrain", "task", "metric", "values": [one per seed],
     "seeds", "mean", "std", "paper", "unit", "command", "commit", "minutes", "budget", ...provenance}

* ``values`` are in bertedu's units, as every results file of the project: accuracies and F1 as
  fractions, SQuAD's F1 and exact match as percentages, perplexities as they are; ``paper`` is the
  paper's number converted to the same unit (:func:`to_unit`; paper 92.7 -> 0.927), or null where the
  paper has no counterpart.  ``std`` is the population standard deviation over the seeds (as
  ``data/finetune/results.json``).  Pre-training rows (``kind: "pretrain"``) have one value: one
  pre-training run per variant (the seeds are fine-tuning seeds).
* ``command`` re-runs the cell (``python -m bertedu.experiments ...``); ``commit`` is the code it ran at.

:func:`merge_records` rewrites the file under an exclusive lock, atomically, with the records in the
table's declared order, so several processes (``--jobs``) can fill one table and a kill never leaves a
half-written file.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
from pathlib import Path
from typing import Any, Iterable, Sequence

from bertedu._io import atomic_write_text
from bertedu.pretraining.report import git_commit  # noqa: F401 (re-exported)

__all__ = ["ROOT", "load_records", "merge_records", "record_key", "make_record", "to_unit", "git_commit",
           "machine", "PERCENT_METRICS", "effect"]

ROOT = Path(__file__).resolve().parents[2]
# metrics bertedu reports in percent (the official SQuAD script's unit); every other score is a fraction
PERCENT_METRICS = frozenset({"f1", "exact", "best_f1", "best_exact"})
RAW_METRICS = frozenset({"mlm_perplexity", "ltr_perplexity", "mlm_loss", "ltr_loss"})


def unit_of(task: str, metric: str) -> str:
    if metric in RAW_METRICS:
        return "as is"
    if task.startswith("squad") and metric in PERCENT_METRICS:
        return "percent"
    return "fraction (paper 92.7 -> 0.927)"


def to_unit(paper: float | None, task: str, metric: str) -> float | None:
    """A paper number (percent, or a perplexity) in the unit bertedu reports ``metric`` of ``task`` in."""
    if paper is None:
        return None
    return round(paper / 100, 6) if unit_of(task, metric).startswith("fraction") else paper


def machine(device: str) -> str:
    """What the numbers were measured on (CPU model, or the GPU's name)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    from bertedu.pretraining.report import cpu_name

    return f"{cpu_name()} ({platform.machine()})"


def effect(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, float]:
    """(b's mean - a's mean, the noise bar 2 sqrt(std_a^2 + std_b^2)) of two records of one metric.

    The book's rule (chapters 11-13): a difference is an effect when it is larger than its bar, the two
    standard deviations of the mean differences of independent seeds added in quadrature, doubled. Each
    record needs at least two seeds: with one value there is no spread to compare with.
    """
    for name, r in (("a", a), ("b", b)):
        if len(r.get("values", [])) < 2:
            raise ValueError(f"{name}: record {r.get('variant')!r}/{r.get('task')!r} has "
                             f"{len(r.get('values', []))} value(s); an effect needs >= 2 seeds per record")
    return b["mean"] - a["mean"], 2 * math.hypot(a["std"], b["std"])


def load_records(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def record_key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    return record["variant"], record.get("kind", "finetune"), record["task"], record["metric"]


def make_record(*, variant: Any, kind: str, task: str, metric: str, values: Sequence[float],
                seeds: Sequence[int] | None, paper: float | None, command: str, minutes: float, budget: str,
                **provenance: Any) -> dict[str, Any]:
    """One result row (see the module docstring); ``variant`` is a :class:`bertedu.experiments.spec.Variant`."""
    values = [float(v) for v in values]
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{variant.name} / {task} / {metric}: values must be finite numbers, got {values}")
    record = {"variant": variant.name, "label": variant.label, "row": variant.row, "kind": kind, "task": task,
              "metric": metric, "values": values, "seeds": list(seeds) if seeds is not None else None,
              "mean": statistics.fmean(values), "std": statistics.pstdev(values),
              "paper": to_unit(paper, task, metric), "unit": unit_of(task, metric), "command": command,
              "commit": git_commit(), "minutes": round(float(minutes), 3), "budget": budget}
    record.update(provenance)
    return record


def merge_records(path: str | Path, new: Iterable[dict[str, Any]], order: Sequence[str], lock_dir: str | Path,
                  task_order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Put ``new`` into the results file as it is on disk now (replacing records of the same key), under
    an exclusive lock, atomically; records sorted by ``order`` (variant names), then pre-training rows
    first, then ``task_order``, then metric."""
    import fcntl

    path, lock_dir = Path(path), Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{path.stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = {record_key(r): r for r in load_records(path)}
        records.update({record_key(r): r for r in new})
        rank = {name: i for i, name in enumerate(order)}
        tasks = {name: i for i, name in enumerate(task_order)}
        rows = sorted(records.values(), key=lambda r: (rank.get(r["variant"], len(rank)), r["variant"],
                                                       r.get("kind") != "pretrain", tasks.get(r["task"], len(tasks)),
                                                       r["task"], r["metric"]))
        atomic_write_text(path, json.dumps(rows, indent=2) + "\n")
    return rows

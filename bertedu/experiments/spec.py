"""What an experiment is made of: a :class:`Variant` (one row of a paper table) and a :class:`Budget`
(how much compute each row gets), both declared, never computed from results.

A variant = pre-training flags (overrides of the budget's ``python -m bertedu.pretrain`` flags) + the
fine-tuning tasks it is scored on + fine-tuning switches (``bilstm``, ``pool``) + which weights to start
from (the final ones, an export at ``step``, or none: ``pretrained=False``, the same architecture with
random weights).  Variants of different tables that pre-train with the same flags share one run
(:func:`pretrain_key`): Table 5's "MLM + NSP", Table 6's 2/128/2 row, Table 8's 80/10/10 row and
Figure 5's MLM curve are one pre-training.

The budgets (why each is sized as it is: README.md beside this file):

* ``rehearsal``: a few steps on a handful of documents; checks the plumbing in seconds (tests).
* ``cpu``: the issue-15 recipe (tiny, 64 x 64-token pairs, lr 2e-3, dynamic masking, no dropout) for 8,000
  steps: past the unigram plateau (data/pretrained/cpu-tiny broke away from it at step ~5,000 and was at
  3.2x the best context-free guess at step 8,000), ~65 CPU minutes per tiny MLM run.
* ``gpu``: the same runs (the same numbers of steps, so results compare), on a lent GPU.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Variant", "Budget", "BUDGETS", "RUNTIME_FLAGS", "pretrain_flags", "pretrain_argv", "pretrain_key",
           "relative_step_cost", "TASK_MINUTES"]

# flags that change how a run is executed, not what it computes: left out of the key that names the run
RUNTIME_FLAGS = frozenset({"--threads", "--no-progress", "--device", "--export-steps", "--max-minutes",
                           "--eval-every", "--eval-max-batches", "--save-every", "--keep-checkpoints", "--log-every"})


@dataclass(frozen=True)
class Variant:
    """One row of a table: how it is pre-trained, fine-tuned and compared with the paper.

    ``pretrain``: flag -> value overrides of the budget's pre-training flags (``{"--no-nsp": True}``;
    True = a switch, None = drop the flag).  ``row``: the paper's row label (see paper_values.py), None
    when the paper has no such row.  ``step``: fine-tune the weights exported at this pre-training step
    (Figure 5) instead of the final ones; ``pretrained=False``: random weights of the same architecture.
    """

    name: str
    label: str
    row: str | None = None
    pretrain: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = ()
    bilstm: bool = False
    pool: str = "first"
    step: int | None = None
    pretrained: bool = True


@dataclass(frozen=True)
class Budget:
    """Compute for every variant: pre-training flags, the steps whose weights are kept, fine-tuning
    settings per task, seeds, device."""

    name: str
    pretrain: dict[str, Any]
    export_steps: tuple[int, ...]
    finetune: dict[str, dict[str, Any]]
    finetune_lr: float = 5e-4
    seeds: tuple[int, ...] = (42, 43, 44)
    device: str = "cpu"
    threads: int | None = 1
    minutes_per_tiny_step: float = 0.49 / 60  # measured (data/pretrained/cpu-tiny: 106 min for 13,000 steps)
    minutes_per_task_seed: float = 1.0  # a rough mean over the tasks (data/finetune/results.json)
    setup_minutes: float = 0.6  # per pre-training: corpus, 216,340 pairs, imports (35 CPU seconds measured)
    cost_exponent: float = 1.0  # how minutes grow with multiply-adds (a CPU: linearly; a GPU: far less)
    scale: str = "miniature"  # budgets of one scale compute the same runs: their results stand for each other
    about: str = ""

    def finetune_config(self, task: str, seed: int) -> Any:
        """The :class:`bertedu.finetuning.loop.FinetuneConfig` of one seed's run of ``task``."""
        from bertedu.finetuning.loop import FinetuneConfig

        if task not in self.finetune:
            raise ValueError(f"budget {self.name!r} has no fine-tuning settings for task {task!r}; "
                             f"it has {', '.join(self.finetune)}")
        return FinetuneConfig(lr=self.finetune_lr, batch_size=32, seed=seed, threads=self.threads,
                              device=self.device, **self.finetune[task])


def pretrain_flags(budget: Budget, variant: Variant) -> dict[str, Any]:
    """The budget's pre-training flags with the variant's overrides (None drops a flag)."""
    merged = {**budget.pretrain, **variant.pretrain}
    return {k: v for k, v in merged.items() if v is not None and v is not False}


def pretrain_argv(flags: dict[str, Any]) -> list[str]:
    """``{"--steps": 8000, "--no-nsp": True}`` -> ``["--steps", "8000", "--no-nsp"]`` (in the dict's order)."""
    argv: list[str] = []
    for flag, value in flags.items():
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def pretrain_key(flags: dict[str, Any]) -> str:
    """A folder name for the run these flags make: readable parts + a hash of every flag that matters."""
    kept = {k: v for k, v in flags.items() if k not in RUNTIME_FLAGS}
    digest = hashlib.sha1(json.dumps(sorted((k, str(v)) for k, v in kept.items())).encode()).hexdigest()[:8]
    parts = [str(kept.get("--preset", "tiny")), str(kept.get("--objective", "mlm"))]
    parts.append("nonsp" if kept.get("--no-nsp") else "nsp")
    if "--mask-mix" in kept:
        parts.append("mix" + str(kept["--mask-mix"]).replace(",", "-"))
    parts.append(f"{kept.get('--steps', 'default')}steps")
    return "-".join(parts) + "-" + digest


def relative_step_cost(flags: dict[str, Any], vocab_size: int = 8000) -> float:
    """Multiply-adds of one training step relative to the tiny MLM run's (the CPU-minute estimates).

    Per token: each layer ~12 H^2 + 2 T H (projections, feed-forward, attention scores), and the output
    layer H (H + V) at every *predicted* position: ~15% of the tokens for MLM (logits at masked positions
    only), every position for a left-to-right LM -- which makes an LTR step ~2.5x an MLM step at V = 8,000.
    """
    from bertedu.config import parse_size

    def cost(preset: str, objective: str, seq: int) -> float:
        size = parse_size(preset)
        if size is None:
            raise ValueError(f"unknown preset {preset!r}")
        layers, hidden, _ = size
        predicted = 1.0 if objective == "ltr" else 0.15
        return layers * (12 * hidden ** 2 + 2 * seq * hidden) + predicted * hidden * (hidden + vocab_size)

    seq = int(flags.get("--seq-len", 64))
    ours = cost(str(flags.get("--preset", "tiny")), str(flags.get("--objective", "mlm")), seq)
    return ours / cost("tiny", "mlm", seq)


# minutes of one fine-tuning seed of a 2-layer H=128 model on this machine's CPU (data/finetune/results.json:
# the three seeds' minutes / 3, rounded up), used only for the --dry-run estimates
TASK_MINUTES = {"sst2": 0.3, "mrpc": 0.6, "rte": 0.5, "stsb": 0.9, "conll2003": 0.9, "squad-v1.1": 0.9,
                "conll2003-feature": 1.0}

_COMMON = {"--vocab": "data/pretrained/cpu-tiny/vocab.txt", "--holdout": 5, "--drop-books": "bible-kjv",
           "--masking": "dynamic", "--dupe-factor": 5, "--dropout": 0, "--seed": 12345, "--preset": "tiny",
           "--no-progress": True}
# tools/finetune_results.py's CPU settings (so the numbers compare with data/finetune/results.json)
_FINETUNE = {
    "sst2": dict(max_train_examples=4000, epochs=3),
    "mrpc": dict(epochs=3),  # 3,668 / 408
    "rte": dict(epochs=3),  # 2,490 / 277
    "stsb": dict(max_train_examples=4000, epochs=3),
    "conll2003": dict(max_train_examples=4000, max_eval_examples=1000, epochs=3),
    "conll2003-feature": dict(max_train_examples=4000, max_eval_examples=1000, epochs=3),
    "squad-v1.1": dict(max_train_examples=1500, max_eval_examples=400, epochs=2, max_seq_length=192),
}
_CPU_STEPS = {"--seq-len": 64, "--batch-size": 64, "--steps": 8000, "--lr": 2e-3, "--eval-every": 1000,
              "--save-every": 500, "--keep-checkpoints": 2, "--log-every": 50}
_SMOKE = dict(max_train_examples=16, max_eval_examples=16, epochs=1, max_seq_length=64)

BUDGETS: dict[str, Budget] = {
    "rehearsal": Budget(
        "rehearsal", {**_COMMON, "--corpus": "wikitext-valid", "--max-documents": 6, "--seq-len": 32,
                      "--batch-size": 4, "--steps": 4, "--lr": 1e-3, "--eval-every": 2, "--eval-max-batches": 1,
                      "--save-every": 2, "--keep-checkpoints": 2, "--log-every": 1, "--threads": 1},
        export_steps=(2, 4), seeds=(42,), minutes_per_tiny_step=0.01 / 60, minutes_per_task_seed=0.05,
        setup_minutes=0.1, scale="rehearsal",
        finetune={t: {**_SMOKE, **({"max_seq_length": 96} if t.startswith("squad") else {})} for t in _FINETUNE},
        about="a few steps on six documents: the plumbing, in seconds; the numbers mean nothing"),
    "cpu": Budget(
        "cpu", {**_COMMON, **_CPU_STEPS, "--threads": 1}, export_steps=(1000, 2000, 4000, 6000, 8000),
        finetune=_FINETUNE,
        about="8,000 steps of the issue-15 recipe: past the plateau (~65 CPU minutes per tiny MLM run)"),
    "gpu": Budget(
        "gpu", {**_COMMON, **_CPU_STEPS, "--device": "cuda"}, export_steps=(1000, 2000, 4000, 6000, 8000),
        finetune=_FINETUNE, device="cuda", threads=None, minutes_per_tiny_step=1.0 / 8000,
        minutes_per_task_seed=0.15, cost_exponent=0.5,
        about="the cpu budget's runs on a lent GPU (~1 minute per tiny run); results only come back"),
}

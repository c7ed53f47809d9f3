"""Run a table's variants: pre-train (runs.py), fine-tune every task with every seed, write the records.

A table module (table5.py, ...) declares ``VARIANTS`` (name -> :class:`~bertedu.experiments.spec.Variant`),
``TASKS`` (task -> the metrics recorded) and ``paper(variant, task, metric)`` (``task="pretrain"`` for the
held-out pre-training rows), optionally ``PRETRAIN_ROWS = False`` and ``SEED_RUNNERS`` (task -> how one
seed is scored, when not by ``run_task``); :func:`run_table` does the rest.  Resumable at three levels, none of which re-computes finished work:

* a cell (variant, task) whose records already hold every requested seed is skipped outright (its
  pre-training is not even looked at);
* a seed whose fine-tuning folder has ``results.json`` is read back, not re-run (``run_task(resume=True)``);
* a pre-training run resumes from its last checkpoint (runs.py).

Each finished cell is merged into ``RESULTS/{table}.json`` at once (results.py).  Everything done is also
logged as events (``ctx.events`` and ``WORK/<budget>/events.jsonl``): "pretrain" started / resumed /
reused / finished, "finetune" ran / reused, "cell" skipped / written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bertedu.experiments.results import load_records, machine, make_record, merge_records, record_key
from bertedu.experiments.runs import (OutOfTime, heldout_at, model_spec, pretrain_command, ran_with, run_dir,
                                      run_flags, run_status, planned_spec, training_minutes)
from bertedu.experiments.spec import TASK_MINUTES, Budget, Variant, relative_step_cost

__all__ = ["Context", "run_table", "plan_table", "finetune_folder", "table_variants", "OutOfTime"]


def table_variants(module: Any, budget: Budget) -> dict[str, Variant]:
    """A table's variants under ``budget`` (Figure 5's depend on the budget's export steps)."""
    return module.variants_for(budget) if hasattr(module, "variants_for") else module.VARIANTS


@dataclass
class Context:
    """Where and how a table runs: budget, seeds, folders, time limit, and what happened (``events``)."""

    table: str
    budget: Budget
    results_dir: Path
    work_dir: Path
    seeds: tuple[int, ...]
    say: Callable[[str], None] = print
    threads: int | None = None
    deadline: float | None = None  # time.monotonic() after which no new work starts
    command_extra: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    planned: set[Path] = field(default_factory=set)  # pre-training runs already counted by --dry-run

    @property
    def results_path(self) -> Path:
        return Path(self.results_dir) / f"{self.table}.json"

    def minutes_left(self) -> float | None:
        return None if self.deadline is None else (self.deadline - time.monotonic()) / 60

    def event(self, what: str, **info: Any) -> None:
        entry = {"event": what, "table": self.table, "budget": self.budget.name, **info}
        self.events.append(entry)
        log = Path(self.work_dir) / self.budget.name / "events.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({**entry, "time": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")

    def command(self, variant: str) -> str:
        seeds = "" if self.seeds == self.budget.seeds else " --seeds " + " ".join(map(str, self.seeds))
        return (f"python -m bertedu.experiments {self.table} --variants {variant} --budget {self.budget.name}"
                f"{seeds}{self.command_extra}")


def finetune_folder(ctx: Context, variant: Variant, task: str, seed: int) -> Path:
    """``WORK/<budget>/finetune/<run>[-bilstm][-last][-stepN | -random]/<task>/seed-<k>``."""
    name = run_dir(ctx.work_dir, ctx.budget, variant).name
    name += ("-bilstm" if variant.bilstm else "") + ("-last" if variant.pool == "last" else "")
    name += "-random" if not variant.pretrained else (f"-step{variant.step}" if variant.step is not None else "")
    return Path(ctx.work_dir) / ctx.budget.name / "finetune" / name / task / f"seed-{seed}"


def _same_scale(record: dict[str, Any], budget: Budget) -> bool:
    """A record made under a budget of the same scale (cpu and gpu run the same runs; rehearsal does not)."""
    from bertedu.experiments.spec import BUDGETS

    made = BUDGETS.get(record.get("budget", ""))
    return made is not None and made.scale == budget.scale


def _done(records: list[dict[str, Any]], variant: str, kind: str, task: str, metrics: Sequence[str],
          seeds: Sequence[int], budget: Budget) -> bool:
    have = {record_key(r): r for r in records}
    for metric in metrics:
        r = have.get((variant, kind, task, metric))
        if r is None or not _same_scale(r, budget) or (kind == "finetune" and not set(seeds) <= set(r.get("seeds")
                                                                                                    or [])):
            return False
    return True


def _seed_results(ctx: Context, variant: Variant, task: str, runner: Callable[..., dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """One results dict per seed (read back when the seed's folder has one; the model is built, and
    pre-trained if need be, only for a seed that must run)."""
    out, spec = [], None
    for seed in ctx.seeds:
        folder = finetune_folder(ctx, variant, task, seed)
        if (folder / "results.json").is_file():
            ctx.event("finetune", variant=variant.name, task=task, seed=seed, status="reused")
            out.append(json.loads((folder / "results.json").read_text(encoding="utf-8")))
            continue
        if ctx.minutes_left() is not None and ctx.minutes_left() <= 0:
            raise OutOfTime(f"no time left for {variant.name} / {task} / seed {seed}")
        spec = spec or model_spec(ctx, variant)
        ctx.event("finetune", variant=variant.name, task=task, seed=seed, status="ran")
        out.append(runner(ctx, variant, task, seed, spec, folder))
    return out


def _finetune_one(ctx: Context, variant: Variant, task: str, seed: int, spec: str, folder: Path) -> dict[str, Any]:
    """One seed's fine-tuning through :func:`bertedu.finetuning.run.run_task` (its results dict)."""
    from bertedu.finetuning.run import run_task

    config = ctx.budget.finetune_config(task, seed)
    return run_task(task, spec, config, out_dir=folder, resume=True, progress=False, save_model=False,
                    bilstm=variant.bilstm, pool=variant.pool)


def _finetune_records(ctx: Context, module: Any, variant: Variant, task: str) -> list[dict[str, Any]]:
    # a table may score a task its own way (Table 8's feature-based NER): SEED_RUNNERS[task](ctx, variant,
    # task, seed, model_spec, folder) -> a results dict with "metrics" and "minutes", saved in folder
    runner = getattr(module, "SEED_RUNNERS", {}).get(task, _finetune_one)
    runs = _seed_results(ctx, variant, task, runner)
    minutes = sum(float(r.get("minutes", 0.0)) for r in runs)
    base = variant if variant.pretrained else None
    pre = (pretrain_command(run_flags(ctx.budget, base), run_dir(ctx.work_dir, ctx.budget, base))
           if base is not None else None)
    rows = []
    for metric in module.TASKS[task]:
        rows.append(make_record(
            variant=variant, kind="finetune", task=task, metric=metric,
            values=[r["metrics"][metric] for r in runs], seeds=ctx.seeds, paper=module.paper(variant, task, metric),
            command=ctx.command(variant.name), minutes=minutes, budget=ctx.budget.name,
            model=planned_spec(ctx, variant), pretrain_command=pre, step=variant.step, encoder_top={"bilstm": variant.bilstm,
                                                                               "pool": variant.pool},
            settings={k: v for k, v in runs[0].get("config", {}).items() if k != "seed"},
            train_records=runs[0].get("train_records"), eval_records=runs[0].get("eval_records"),
            device=ctx.budget.device, machine=machine(ctx.budget.device)))
    return rows


def _pretrain_records(ctx: Context, module: Any, variant: Variant) -> list[dict[str, Any]]:
    from bertedu.experiments.runs import ensure_pretrained

    out = ensure_pretrained(ctx, variant)
    objective = str(run_flags(ctx.budget, variant).get("--objective", "mlm"))
    found = heldout_at(out, variant.step, objective)
    rows = []
    for metric in (f"{objective}_perplexity", f"{objective}_accuracy"):
        rows.append(make_record(
            variant=variant, kind="pretrain", task="heldout-wikitext", metric=metric, values=[found[metric]],
            seeds=None, paper=module.paper(variant, "pretrain", metric), command=ctx.command(variant.name),
            minutes=training_minutes(out), budget=ctx.budget.name, step=found["step"],
            pretrain_command=pretrain_command(ran_with(run_flags(ctx.budget, variant), out), out),
            device=ctx.budget.device, machine=machine(ctx.budget.device)))
    return rows


def _cells(module: Any, variant: Variant) -> list[tuple[str, str, tuple[str, ...]]]:
    """(kind, task, metrics) of a variant: its held-out pre-training numbers, then each task."""
    cells = []
    if variant.pretrained and getattr(module, "PRETRAIN_ROWS", True):
        objective = str(variant.pretrain.get("--objective", "mlm"))
        cells.append(("pretrain", "heldout-wikitext", (f"{objective}_perplexity", f"{objective}_accuracy")))
    return cells + [("finetune", task, tuple(module.TASKS[task])) for task in variant.tasks]


def run_table(ctx: Context, module: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """Every cell of the named variants that the results file does not hold yet; returns the records."""
    variants = table_variants(module, ctx.budget)
    order, task_order = list(variants), list(module.TASKS)
    for name in names:
        variant = variants[name]
        for kind, task, metrics in _cells(module, variant):
            if _done(load_records(ctx.results_path), name, kind, task, metrics, ctx.seeds, ctx.budget):
                ctx.event("cell", variant=name, kind=kind, task=task, status="skipped")
                continue
            rows = (_pretrain_records(ctx, module, variant) if kind == "pretrain"
                    else _finetune_records(ctx, module, variant, task))
            merge_records(ctx.results_path, rows, order, Path(ctx.work_dir) / "locks", task_order)
            ctx.event("cell", variant=name, kind=kind, task=task, status="written")
            for r in rows:
                ctx.say(f"{ctx.table} / {name} / {task} / {r['metric']}: {r['mean']:.4f} +- {r['std']:.4f} "
                        f"(paper {r['paper']})")
    return load_records(ctx.results_path)


def estimate_minutes(ctx: Context, variant: Variant, task: str | None) -> float:
    """Rough minutes of one cell under the budget (``task=None``: the pre-training)."""
    flags = run_flags(ctx.budget, variant)
    if task is None:
        steps = int(flags.get("--steps", 1000))
        return (relative_step_cost(flags) ** ctx.budget.cost_exponent * steps * ctx.budget.minutes_per_tiny_step
                + ctx.budget.setup_minutes)
    per_seed = (TASK_MINUTES.get(task, 1.0) if ctx.budget.name == "cpu" else ctx.budget.minutes_per_task_seed)
    size = relative_step_cost({**flags, "--objective": "mlm"})  # fine-tuning cost grows with the encoder
    return per_seed * max(1.0, size) ** ctx.budget.cost_exponent * len(ctx.seeds)


def plan_table(ctx: Context, module: Any, names: Sequence[str]) -> float:
    """Print what :func:`run_table` would do (nothing is trained or written); returns the estimated minutes."""
    records = load_records(ctx.results_path)
    total, seen = 0.0, ctx.planned
    variants = table_variants(module, ctx.budget)
    for name in names:
        variant = variants[name]
        ctx.say(f"{ctx.table} / {name} ({variant.label}):")
        if variant.pretrained:
            folder = run_dir(ctx.work_dir, ctx.budget, variant)
            status = run_status(folder)
            if folder in seen:
                ctx.say(f"  pre-training [{status}; shared, counted above]: {folder.name}")
            else:
                minutes = 0.0 if status == "finished" else estimate_minutes(ctx, variant, None)
                total += minutes
                ctx.say(f"  pre-training [{status}, ~{minutes:.0f} min]: "
                        f"{pretrain_command(run_flags(ctx.budget, variant), folder)}")
            seen.add(folder)
        for kind, task, metrics in _cells(module, variant):
            if kind == "pretrain":
                continue
            done = _done(records, name, kind, task, metrics, ctx.seeds, ctx.budget)
            minutes = 0.0 if done else estimate_minutes(ctx, variant, task)
            total += minutes
            ctx.say(f"  {task} x seeds {list(ctx.seeds)} -> {', '.join(metrics)} "
                    f"[{'done' if done else f'to run, ~{minutes:.0f} min'}]")
    ctx.say(f"{ctx.table}: ~{total:.0f} minutes left under budget {ctx.budget.name!r} "
            f"({ctx.budget.about})")
    return total

"""The pre-training runs behind the variants, through the real loop (``python -m bertedu.pretrain``).

Each run lives in ``WORK/<budget>/pretrain/<key>/`` (:func:`bertedu.experiments.spec.pretrain_key`), is
started by calling :func:`bertedu.pretraining.cli.main` with the variant's flags, and is resumable: a run
with a checkpoint continues with ``--resume`` (the loop's own bit-exact resume), a finished one
(``experiment.json`` says so, ``final/`` exists) is never touched again.  A lock file serialises two
processes that want the same run (``--jobs``): the second waits, then finds it finished.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from bertedu._io import atomic_write_text
from bertedu.experiments.results import ROOT
from bertedu.experiments.spec import Budget, Variant, pretrain_argv, pretrain_flags, pretrain_key

__all__ = ["OutOfTime", "shown", "run_dir", "run_flags", "is_finished", "trained_to_the_end", "ensure_pretrained", "model_spec", "heldout_at", "planned_spec",
           "training_minutes", "pretrain_command", "ran_with", "architecture_dir", "run_status"]


class OutOfTime(RuntimeError):
    """The time limit (``--max-minutes``) came before the work was done; rerun to continue."""


def run_flags(budget: Budget, variant: Variant) -> dict[str, Any]:
    """Every flag of the variant's pre-training (the exports for Figure 5 included)."""
    return {**pretrain_flags(budget, variant), "--export-steps": list(budget.export_steps)}


def run_dir(work: Path, budget: Budget, variant: Variant) -> Path:
    return Path(work) / budget.name / "pretrain" / pretrain_key(run_flags(budget, variant))


def shown(path: str | Path) -> str:
    """A path as records cite it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def pretrain_command(flags: dict[str, Any], out: Path) -> str:
    """The ``python -m bertedu.pretrain`` command line of a run (what its records cite)."""
    return "python -m bertedu.pretrain --out " + shown(out) + " " + " ".join(pretrain_argv(flags))


def ran_with(flags: dict[str, Any], out: Path) -> dict[str, Any]:
    """``flags`` with ``--threads`` as the run in ``out`` last ran (its ``run.json``): a runtime flag that
    ``--threads`` of the runner overrides, so the budget's value is not always the one used."""
    try:
        threads = json.loads((Path(out) / "run.json").read_text(encoding="utf-8"))["config"].get("num_threads")
    except (OSError, ValueError, KeyError, TypeError):
        return flags
    return {**flags, "--threads": threads} if "--threads" in flags and threads is not None else flags


def _resolved(flags: dict[str, Any]) -> dict[str, Any]:
    """Paths given relative to the repository (the committed vocabulary) made absolute."""
    vocab = flags.get("--vocab")
    if vocab and not Path(vocab).is_absolute() and (ROOT / vocab).is_file():
        return {**flags, "--vocab": str(ROOT / vocab)}
    return flags


def is_finished(directory: Path) -> bool:
    """A run the *runner* finished: its ``experiment.json`` marker (the command as run) and ``final/``.

    The runner reuses only such a run, since the marker is where its records' ``pretrain_command`` comes
    from. A run of ``python -m bertedu.pretrain`` itself has no marker: see :func:`trained_to_the_end`.
    """
    marker = directory / "experiment.json"
    return marker.is_file() and json.loads(marker.read_text()).get("finished") and (directory / "final").is_dir()


def trained_to_the_end(directory: Path, total_steps: int | None = None,
                       records: list[dict[str, Any]] | None = None) -> bool:
    """A run whose training reached its ``total_steps`` and wrote ``final/model.safetensors``, marker or not.

    The rule for the curves (a seed check or a diagnostic run straight from ``python -m bertedu.pretrain``
    counts as finished), where :func:`is_finished` is the runner's stricter one. A caller that has already
    read the run's ``total_steps`` (``run.json``) or its ``metrics.jsonl`` records passes them in.
    """
    if is_finished(directory):
        return True
    if not (directory / "final" / "model.safetensors").is_file():
        return False
    if total_steps is None:
        total_steps = json.loads((directory / "run.json").read_text(encoding="utf-8"))["config"]["total_steps"]
    if records is None:
        from bertedu.pretraining.state import read_metrics

        records = read_metrics(directory / "metrics.jsonl")
    return any(r["step"] >= total_steps for r in records)


def run_status(directory: Path) -> str:
    """"finished", "at step N" (a checkpoint to resume from) or "not started"."""
    from bertedu.pretraining.state import latest_checkpoint

    if is_finished(directory):
        return "finished"
    ckpt = latest_checkpoint(directory) if directory.is_dir() else None
    return f"at step {int(ckpt.stem.split('-')[1])}" if ckpt is not None else "not started"


def ensure_pretrained(ctx: Any, variant: Variant) -> Path:
    """The finished run directory of ``variant``'s pre-training: reused, resumed or started."""
    import fcntl

    from bertedu.pretraining import cli as pretrain_cli
    from bertedu.pretraining.state import latest_checkpoint

    flags = run_flags(ctx.budget, variant)
    out = run_dir(ctx.work_dir, ctx.budget, variant)
    if is_finished(out):
        ctx.event("pretrain", variant=variant.name, run=out.name, status="reused")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f"{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be training this very run: wait for it
        if is_finished(out):
            ctx.event("pretrain", variant=variant.name, run=out.name, status="reused")
            return out
        ckpt = latest_checkpoint(out) if out.is_dir() else None
        runtime = {**flags, **({"--threads": ctx.threads} if ctx.threads is not None else {})}
        argv = ["--out", str(out), *pretrain_argv(_resolved(runtime))]
        if ckpt is not None:
            argv.append("--resume")
        left = ctx.minutes_left()
        if left is not None:
            if left <= 0:
                raise OutOfTime(f"no time left to pre-train {variant.name}")
            argv += ["--max-minutes", f"{left:.3f}"]
        ctx.event("pretrain", variant=variant.name, run=out.name,
                  status="resumed" if ckpt is not None else "started",
                  from_step=int(ckpt.stem.split("-")[1]) if ckpt is not None else 0)
        ctx.say(f"pre-training {variant.name}: {pretrain_command(runtime, out)}" + (" --resume" if ckpt else ""))
        began = time.perf_counter()
        pretrain_cli.main(argv)
        done = latest_checkpoint(out)
        total = int(flags.get("--steps", 1000))
        if done is None or int(done.stem.split("-")[1]) < total:
            raise OutOfTime(f"pre-training {variant.name} stopped at {done.stem if done else 'step 0'} of {total} "
                            "(time limit); rerun the same command to resume it")
        atomic_write_text(out / "experiment.json", json.dumps(
            {"finished": True, "flags": flags, "command": pretrain_command(ran_with(flags, out), out),
             "wall_minutes_last_session": round((time.perf_counter() - began) / 60, 3)}, indent=2) + "\n")
        ctx.event("pretrain", variant=variant.name, run=out.name, status="finished")
    return out


def architecture_dir(ctx: Any, variant: Variant) -> Path:
    """A checkpoint-shaped folder (config.json + vocab.txt, no weights) with the architecture the
    variant's pre-training would build: ``random:<it>`` fine-tunes that architecture from random weights."""
    from bertedu.config import BertConfig

    flags = _resolved(run_flags(ctx.budget, variant))
    folder = Path(ctx.work_dir) / ctx.budget.name / "architecture" / pretrain_key(run_flags(ctx.budget, variant))
    if not (folder / "config.json").is_file():
        vocab = Path(flags["--vocab"]).read_text(encoding="utf-8")
        drop = float(flags.get("--dropout", 0.1))
        config = BertConfig.preset(str(flags.get("--preset", "tiny")), vocab_size=len(vocab.splitlines()),
                                   max_position_embeddings=max(512, int(flags.get("--seq-len", 128))),
                                   hidden_dropout_prob=drop, attention_probs_dropout_prob=drop,
                                   is_decoder=flags.get("--objective") == "ltr")
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "vocab.txt", vocab)
        config.save_json(folder / "config.json")
    return folder


def planned_spec(ctx: Any, variant: Variant) -> str:
    """The model spec :func:`model_spec` gives, as records cite it, without building anything."""
    from bertedu.pretraining.cli import export_dir

    key = pretrain_key(run_flags(ctx.budget, variant))
    if not variant.pretrained:
        return "random:" + shown(Path(ctx.work_dir) / ctx.budget.name / "architecture" / key)
    out = run_dir(ctx.work_dir, ctx.budget, variant)
    return shown(out / "final" if variant.step is None else export_dir(out, variant.step))


def model_spec(ctx: Any, variant: Variant) -> str:
    """What :func:`bertedu.finetuning.run.run_task` starts from: the final weights, an export, or random."""
    from bertedu.pretraining.cli import export_dir, exported

    if not variant.pretrained:
        return "random:" + str(architecture_dir(ctx, variant))
    out = ensure_pretrained(ctx, variant)
    if variant.step is None:
        return str(out / "final")
    folder = export_dir(out, variant.step)
    if not exported(folder):
        raise ValueError(f"{variant.name}: {out} has no export of step {variant.step} (exports: "
                         f"{ctx.budget.export_steps}); the run was made with other --export-steps")
    return str(folder)


def _eval_records(out: Path) -> list[dict[str, Any]]:
    from bertedu.pretraining.state import read_metrics

    return read_metrics(out / "metrics.jsonl", split="eval")


def heldout_at(out: Path, step: int | None, objective: str) -> dict[str, float]:
    """Held-out numbers of the run at ``step`` (None: the last evaluation): perplexity = exp(loss) over the
    held-out targets ([MASK]ed positions for MLM, every next token for LTR), and accuracy at them."""
    records = _eval_records(out)
    if step is not None:
        records = [r for r in records if r["step"] == step]
    if not records:
        raise ValueError(f"{out}/metrics.jsonl has no held-out evaluation" + (f" at step {step}" if step else ""))
    last = records[-1]
    return {f"{objective}_perplexity": math.exp(last["mlm_loss"]), f"{objective}_accuracy": last["mlm_accuracy"],
            "step": last["step"]}


def training_minutes(out: Path) -> float:
    """Minutes of training in the run's log, summed over its sessions (each resumed session restarts the
    clock; data preparation is not counted)."""
    from bertedu.pretraining.state import read_metrics

    total, last = 0.0, 0.0
    for record in read_metrics(out / "metrics.jsonl", split="train"):
        elapsed = float(record.get("elapsed_s", 0.0))
        if elapsed < last:  # a new session began
            total += last
        last = elapsed
    return (total + last) / 60

"""The pre-training curves of the experiments' runs, committed for chapter 12 (issue 16).

The runs themselves live in ``runs/experiments/<budget>/pretrain/<run>/`` (git-ignored: checkpoints are
megabytes each); their held-out evaluations and a thinned training log are small, and the chapter plots
them. ``python -m bertedu.experiments.curves [--budget cpu]`` reads every run's ``run.json`` and
``metrics.jsonl`` and writes ``data/experiments/pretrain_curves.json``::

    {"command", "commit", "budget", "runs": [{"run", "objective", "nsp", "mask_mix", "preset",
     "total_steps", "finished", "minutes", "argv",
     "eval": [{"step", "loss", "accuracy", "nsp_accuracy"?}, ...],
     "train": [{"step", "loss"}, ...]}]}

``eval`` is every held-out evaluation (``loss`` is the mean cross-entropy at the held-out targets:
[MASK]ed positions for MLM, every next token for LTR; ``accuracy`` the share of them predicted right);
``train`` keeps one logged training loss every ``--train-every`` steps. A run still training is written as
far as it got, with ``finished: false``, so re-running the command after more steps refreshes it.

The run folders do not travel with the repository (a fresh clone has none), so the file is *merged*: a run
found under ``--work-dir`` replaces its record, and a record whose run folder is absent is kept as it was,
with the ``commit`` it was recorded at (``--drop-missing`` writes only the runs on disk). Each run's record
carries that ``commit``, so a merged file still says where every curve came from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from bertedu._io import OneLineParser, atomic_write_text
from bertedu.experiments.results import ROOT
from bertedu.experiments.runs import trained_to_the_end, training_minutes
from bertedu.pretraining.report import git_commit
from bertedu.pretraining.state import read_metrics

__all__ = ["run_curves", "collect", "merge", "merge_into", "merge_document", "write_merged", "main"]

OUT = ROOT / "data" / "experiments" / "pretrain_curves.json"


def run_curves(directory: Path, train_every: int = 250) -> dict[str, Any]:
    """One run's record (see the module docstring) from its ``run.json`` and ``metrics.jsonl``."""
    run = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    config = run["config"]
    records = read_metrics(directory / "metrics.jsonl")  # read once, split below
    evals = [{"step": r["step"], "loss": r["mlm_loss"], "accuracy": r["mlm_accuracy"],
              **({"nsp_accuracy": r["nsp_accuracy"]} if "nsp_accuracy" in r else {})}
             for r in records if r.get("split") == "eval"]
    train = [{"step": r["step"], "loss": r["mlm_loss"]} for r in records
             if r.get("split") == "train" and r["step"] % train_every == 0]
    return {"run": directory.name, "objective": config.get("objective", "mlm"), "nsp": config["nsp"],
            "mask_mix": config.get("mask_mix"), "preset": config.get("preset"),
            "total_steps": config["total_steps"],
            "finished": trained_to_the_end(directory, config["total_steps"], records),
            "minutes": round(training_minutes(directory), 2), "argv": run.get("argv", []),
            "eval": evals, "train": train}


def collect(work_dir: Path, budget: str, train_every: int = 250) -> list[dict[str, Any]]:
    """Every run of ``budget`` under ``work_dir`` that has logged at least one evaluation."""
    folder = Path(work_dir) / budget / "pretrain"
    runs = []
    for directory in sorted(p for p in folder.glob("*") if (p / "run.json").is_file()):
        record = run_curves(directory, train_every)
        if record["eval"]:
            runs.append(record)
    return runs


def merge(found: list[dict[str, Any]], previous: list[dict[str, Any]], commit: str | None,
          previous_commit: str | None = None, *, order: str = "sorted") -> tuple[list[dict[str, Any]], list[str]]:
    """``found`` (stamped with ``commit``) plus the ``previous`` records of runs not in it.

    Returns the merged list and the names of the runs kept from ``previous``. A previous record without
    its own ``commit`` gets ``previous_commit`` (the commit of the file it came from). ``order="sorted"``
    sorts by run name; ``order="previous"`` keeps the previous file's order (a fresh record takes the place
    of the one it replaces) and appends new runs in the order found, so a table read row by row keeps its
    rows where they were.
    """
    if order not in ("sorted", "previous"):
        raise ValueError(f"order must be 'sorted' or 'previous', got {order!r}")
    fresh = {r["run"]: {**r, "commit": commit} for r in found}
    kept = {}
    for r in previous:
        if r["run"] not in fresh:
            kept[r["run"]] = r if "commit" in r else {**r, "commit": previous_commit}
    merged = {**kept, **fresh}
    if order == "sorted":
        names = sorted(merged)
    else:
        names = list(dict.fromkeys([r["run"] for r in previous] + [r["run"] for r in found]))
    return [merged[name] for name in names], sorted(kept)


def merge_into(out: Path, found: list[dict[str, Any]], commit: str | None, *, replace: bool = False,
               order: str = "sorted") -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """Read ``out`` (if it exists and ``replace`` is false) and merge ``found`` into its ``runs``.

    Returns the previous document (``{}`` if none was read), the merged runs and the names kept from it.
    Raises ``ValueError`` naming the file if it is not a JSON object with a ``runs`` list.
    """
    previous: dict[str, Any] = {}
    if not replace and Path(out).is_file():
        try:
            previous = json.loads(Path(out).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{out} is not valid JSON ({error})") from None
        if not isinstance(previous, dict) or not isinstance(previous.get("runs", []), list):
            raise ValueError(f"{out} is not a results file (a JSON object with a 'runs' list)")
    runs, kept = merge(found, previous.get("runs", []), commit, previous.get("commit"), order=order)
    return previous, runs, kept


def merge_document(out: Path, doc: dict[str, Any], *, replace: bool = False, order: str = "previous",
                   same: Sequence[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """The document to write to ``out``: ``doc`` (with its ``runs``, ``command`` and ``commit``) merged into it.

    The runs of ``doc`` replace their records in ``out``; the other records stay, each with its ``commit``.
    The fields named in ``same`` (how the numbers were made) must agree with the file's, or the kept rows
    would not compare with the new ones: ``ValueError`` naming the field. The file's earlier commands are
    kept in ``earlier_commands``. Returns the document and the names of the runs kept.
    """
    previous, runs, kept = merge_into(out, doc["runs"], doc.get("commit"), replace=replace, order=order)
    if not kept:
        return {**doc, "runs": runs}, kept
    for field in same:
        if previous.get(field) != doc.get(field):
            raise ValueError(f"{out} was made with {field} = {previous.get(field)!r}, this run with "
                             f"{doc.get(field)!r}: its rows would not compare")
    earlier = [*previous.get("earlier_commands", []), *([previous["command"]] if "command" in previous else [])]
    return {**doc, "earlier_commands": list(dict.fromkeys(earlier)), "runs": runs}, kept


def write_merged(parser: argparse.ArgumentParser, out: Path, doc: dict[str, Any], *, replace: bool = False,
                 same: Sequence[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """A tool's last step: merge ``doc`` into ``out`` (:func:`merge_document`), write it atomically, say so.

    A file that will not merge is the ``--out`` flag's one-line error (``parser.error``), naming
    ``--replace`` as the way out. Returns the document written and the names of the runs kept.
    """
    try:
        doc, kept = merge_document(out, doc, replace=replace, same=same)
    except ValueError as err:
        parser.error(f"--out: {err}; pass --replace to start the file afresh")
    atomic_write_text(out, json.dumps(doc, indent=2) + "\n")
    print(f"{out}: {len(doc['runs'])} runs ({len(kept)} kept from the file)")
    return doc, kept


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bertedu.experiments.curves",
                           description="Write the experiments' pre-training curves for chapter 12.",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--budget", default="cpu", help="which budget's runs (a folder of --work-dir)")
    parser.add_argument("--work-dir", default=str(ROOT / "runs" / "experiments"), help="the runner's work folder")
    parser.add_argument("--out", default=str(OUT), help="the JSON file to write")
    parser.add_argument("--train-every", type=int, default=250, help="keep one training loss every N steps")
    parser.add_argument("--drop-missing", action="store_true",
                        help="write only the runs found under --work-dir (default: keep the records in --out "
                             "of runs whose folders are absent)")
    args = parser.parse_args(argv)
    if args.train_every < 1:
        parser.error("--train-every must be >= 1")
    runs = collect(Path(args.work_dir), args.budget, args.train_every)
    if not runs:
        parser.error(f"--work-dir: no run of budget {args.budget!r} with an evaluation under {args.work_dir}")
    out = Path(args.out)
    commit = git_commit()
    try:
        previous, runs, kept = merge_into(out, runs, commit, replace=args.drop_missing)
    except ValueError as error:
        parser.error(f"--out: {error}; fix it or pass --drop-missing")
    if previous.get("budget", args.budget) != args.budget:
        parser.error(f"--out: {out} holds budget {previous['budget']!r} runs, not {args.budget!r}; "
                     "pass another --out or --drop-missing")
    shown = ["python -m bertedu.experiments.curves", *(argv if argv is not None else sys.argv[1:])]
    record = {"command": " ".join(shown), "commit": commit, "budget": args.budget, "runs": runs}
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    print(f"{args.out}: {len(runs)} runs ({sum(r['finished'] for r in runs)} finished; "
          f"{len(kept)} kept from the previous file, their folders absent)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

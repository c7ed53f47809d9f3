"""``python -m bertedu.experiments``: run the paper's tables in miniature, resumably.

    python -m bertedu.experiments table5 --dry-run                  # the plan, the status, minutes left
    python -m bertedu.experiments table5 --budget cpu               # all rows (hours; resumes when rerun)
    python -m bertedu.experiments table8 --variants mix-100-0-0 --seeds 42 43 44
    python -m bertedu.experiments all --budget gpu --jobs 6 --results-dir "$OUT" --max-minutes 9

Several tables may be named (``all`` = table5 table6 table8 figure5, then table7); ``--variants`` then
takes ``table:variant``.  ``--jobs N`` runs N worker processes (variants that share a pre-training stay in
one worker); ``--max-minutes`` starts no new work after that long (a pre-training stops at a checkpoint
and resumes next time).  Exit status: 0 done, 3 out of time (rerun to continue), 2 a bad flag (one
line naming it).
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from bertedu._io import OneLineParser
from bertedu.experiments import TABLES, load_table
from bertedu.experiments.results import ROOT
from bertedu.experiments.runs import OutOfTime, run_dir
from bertedu.experiments.spec import BUDGETS

PROG = "python -m bertedu.experiments"
ORDER = ("table5", "table6", "table8", "figure5", "table7")
DEFAULT_RESULTS = ROOT / "data" / "experiments"


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Re-run the BERT paper's ablation tables in miniature "
                      "(Tables 5-8, Figure 5) from declared configurations, resumably.",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("tables", nargs="+", metavar="TABLE", help=f"{', '.join(ORDER)} or all")
    p.add_argument("--variants", nargs="+", default=None, help="rows to run (default: all); table:variant "
                   "when several tables are named")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="fine-tuning seeds (default: the budget's)")
    p.add_argument("--budget", choices=list(BUDGETS), default="cpu", help="rehearsal, cpu or gpu (README.md)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and its status; train nothing")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS), help="where {table}.json go")
    p.add_argument("--work-dir", default=str(ROOT / "runs" / "experiments"),
                   help="pre-training runs, fine-tuning folders, locks, events.jsonl")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads per process (default: the budget's)")
    p.add_argument("--device", default=None, help="override the budget's device, e.g. a GPU check of the "
                   "rehearsal: --budget rehearsal --device cuda")
    p.add_argument("--max-minutes", type=float, default=None, help="start no new work after this many minutes")
    p.add_argument("--cells", nargs="+", default=None, help=argparse.SUPPRESS)  # a worker's share (table:variant)
    return p


def _tables(parser: argparse.ArgumentParser, names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if name not in (*TABLES, "all"):
            parser.error(f"argument TABLE: unknown table {name!r}; choose {', '.join(ORDER)} or all")
        out += [t for t in ORDER if t in TABLES] if name == "all" else [name]
    return list(dict.fromkeys(out))


def _variant_names(module: Any, budget: Any) -> list[str]:
    from bertedu.experiments.runner import table_variants

    return list(table_variants(module, budget)) if hasattr(module, "TASKS") else list(module.VARIANTS)


def _selection(parser: argparse.ArgumentParser, args: argparse.Namespace, tables: list[str], budget: Any,
               modules: dict[str, Any]) -> dict[str, list[str]]:
    """table -> the variant names to run, checked against each table's declared variants."""
    chosen = args.cells or args.variants
    flag = "--cells" if args.cells else "--variants"
    if chosen is None:
        return {t: _variant_names(modules[t], budget) for t in tables}
    picked: dict[str, list[str]] = {t: [] for t in tables}
    for item in chosen:
        table, _, name = item.rpartition(":") if ":" in item else ("", "", item)
        if not table:
            if len(tables) > 1:
                parser.error(f"argument {flag}: with several tables write table:variant, got {item!r}")
            table = tables[0]
        if table not in picked:
            parser.error(f"argument {flag}: {item!r} names table {table!r}, which is not being run")
        known = _variant_names(modules[table], budget)
        if name not in known:
            parser.error(f"argument {flag}: unknown variant {name!r} of {table}; choose {', '.join(known)}")
        picked[table].append(name)
    return {t: names for t, names in picked.items() if names}


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.jobs < 1:
        parser.error(f"argument --jobs: must be >= 1, got {args.jobs}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"argument --threads: must be >= 1, got {args.threads}")
    if args.max_minutes is not None and not args.max_minutes > 0:
        parser.error(f"argument --max-minutes: must be > 0, got {args.max_minutes}")
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f"argument --seeds: repeated seeds in {args.seeds}")


def _run_external(module: Any, table: str, names: list[str], seeds: Sequence[int], args: argparse.Namespace,
                  budget_name: str) -> None:
    """A table with its own runner (table7): ``run(variants=..., seeds=..., out=..., plan=..., say=...)``."""
    wanted = {"variants": names, "seeds": list(seeds), "out": Path(args.results_dir) / f"{table}.json",
              "plan": args.dry_run, "say": lambda line: print(line, flush=True)}
    if budget_name == "rehearsal":  # as its own --smoke
        wanted.update(max_train=200, max_eval=100)
        if hasattr(module, "TaggerConfig"):
            wanted["config"] = module.TaggerConfig(epochs=1)
    accepted = inspect.signature(module.run).parameters
    module.run(**{k: v for k, v in wanted.items() if k in accepted})


def _workers(args: argparse.Namespace, selection: dict[str, list[str]], budget: Any, modules: dict[str, Any],
             argv: Sequence[str]) -> int:
    """Split the selection over ``--jobs`` processes, keeping variants that share a pre-training together."""
    from bertedu.experiments.runner import table_variants

    groups: dict[str, list[str]] = {}
    for table, names in selection.items():
        for name in names:
            module = modules[table]
            if not hasattr(module, "TASKS"):
                key = table
            else:
                variant = table_variants(module, budget)[name]
                key = run_dir(Path(args.work_dir), budget, variant).name if variant.pretrained else f"{table}:{name}"
            groups.setdefault(key, []).append(f"{table}:{name}")
    buckets: list[list[str]] = [[] for _ in range(min(args.jobs, len(groups)))]
    for cells in sorted(groups.values(), key=len, reverse=True):  # largest groups first, to the emptiest worker
        min(buckets, key=len).extend(cells)
    threads = args.threads or max(1, (os.cpu_count() or 1) // len(buckets))
    keep = [a for a in argv if a not in ("--dry-run",)]
    base = _strip(keep, ("--jobs", "--variants", "--threads"))
    procs = [subprocess.Popen([sys.executable, "-m", "bertedu.experiments", *base, "--threads", str(threads),
                               "--cells", *cells], cwd=str(ROOT)) for cells in buckets]
    codes = [p.wait() for p in procs]
    return max(codes) if any(codes) else 0


def _strip(argv: Sequence[str], flags: tuple[str, ...]) -> list[str]:
    """``argv`` without ``flags`` and their values."""
    out, skipping = [], False
    for a in argv:
        if a.startswith("--"):
            skipping = a in flags
        if not skipping:
            out.append(a)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, then run (or plan) the selected tables; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    _check(parser, args)
    tables = _tables(parser, args.tables)
    budget = BUDGETS[args.budget]
    if budget.scale == "rehearsal" and not args.dry_run and Path(args.results_dir).resolve() == DEFAULT_RESULTS.resolve():
        parser.error("argument --budget: rehearsal numbers mean nothing and must not reach data/experiments; "
                     "give another --results-dir")
    if args.threads is not None:
        budget = replace(budget, threads=args.threads)
    if args.device is not None:
        budget = replace(budget, device=args.device, pretrain={**budget.pretrain, "--device": args.device})
    try:
        modules = {t: load_table(t) for t in tables}
    except ValueError as err:
        parser.error(f"argument TABLE: {err}")
    selection = _selection(parser, args, tables, budget, modules)
    seeds = tuple(args.seeds) if args.seeds else budget.seeds
    if args.jobs > 1 and not args.dry_run:
        return _workers(args, selection, budget, modules, argv)
    return _run(args, selection, budget, modules, seeds)


def _run(args: argparse.Namespace, selection: dict[str, list[str]], budget: Any, modules: dict[str, Any],
         seeds: tuple[int, ...]) -> int:
    from bertedu.experiments.runner import Context, plan_table, run_table

    deadline = time.monotonic() + 60 * args.max_minutes if args.max_minutes else None
    planned: set[Path] = set()
    for table, names in selection.items():
        module = modules[table]
        if not hasattr(module, "TASKS"):
            _run_external(module, table, names, seeds, args, budget.name)
            continue
        ctx = Context(table, budget, Path(args.results_dir), Path(args.work_dir), seeds,
                      say=lambda line: print(line, flush=True), threads=budget.threads, deadline=deadline,
                      planned=planned)
        try:
            if args.dry_run:
                plan_table(ctx, module, names)
            else:
                run_table(ctx, module, names)
        except OutOfTime as err:
            print(f"{PROG}: out of time: {err}", file=sys.stderr)
            return 3
    return 0

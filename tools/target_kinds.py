"""What a pre-trained model answers at each kind of masked-LM target, at its last step (issue 16, Table 8).

The held-out set is masked 80/10/10 whatever mixture a run trained with, so it holds all three kinds of
target: ``[MASK]`` (the input shows ``[MASK]``), *kept* (the input shows the right answer) and *random* (the
input shows a random wrong piece). A model that never practised one kind shows it here: one trained without
kept targets has no reason to copy its input, one trained without random targets copies even a wrong one.
Chapter 12 reads the committed numbers to explain Table 8's rows.

    python tools/target_kinds.py RUN_DIR [RUN_DIR ...] --out data/experiments/target_kinds.json

Each RUN_DIR is a finished ``python -m bertedu.pretrain`` run; its last kept checkpoint is scored with
``tools/analyse_pretraining.py`` (the run's own held-out set, the in-domain unigram as the context-free
baseline). Deterministic; ~25 s per run on one CPU thread.

The file is merged, like the experiments' curves: the runs given replace their records and the other runs'
records stay where they were, each with its ``commit`` (``--replace`` writes only the runs given). A file
made with other settings refuses the merge rather than mix rows that would not compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import torch  # noqa: E402

from analyse_pretraining import analyse  # noqa: E402
from bertedu._io import OneLineParser  # noqa: E402
from bertedu.experiments.curves import write_merged  # noqa: E402
from bertedu.pretraining.report import git_commit  # noqa: E402
from bertedu.pretraining.state import latest_checkpoint  # noqa: E402

KINDS = ("mask", "kept", "random", "all")


def last_step(run_dir: Path) -> int:
    """The step of the run's newest checkpoint (the one ``checkpoints/latest.json`` points at)."""
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise ValueError(f"{run_dir}: no checkpoints/step-*.pt (is it a python -m bertedu.pretrain --out folder?)")
    return int(ckpt.stem.split("-")[1])


def summarise(run_dir: Path, max_pairs: int | None = None) -> dict[str, Any]:
    """One run's row: its settings, and accuracy/loss per kind of target at its last checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise ValueError(f"{run_dir}: no run.json (pass a python -m bertedu.pretrain --out folder)")
    step = last_step(run_dir)
    diag = analyse(run_dir, max_pairs=max_pairs, steps=[step])
    mlm = diag["checkpoints"][-1]["mlm"]
    config = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["config"]
    row: dict[str, Any] = {"run": run_dir.name, "mask_mix": config.get("mask_mix"), "nsp": config.get("nsp"),
                           "step": step, "best_context_free_guess": diag["best_context_free_guess"]}
    for kind in KINDS:
        k = mlm[kind]
        row[kind] = {"targets": k["targets"], "accuracy": round(k["accuracy"], 5), "loss": round(k["loss"], 4),
                     "unigram_accuracy": round(k["unigram_accuracy"], 5)}
    row["mask"].update(top_answer=mlm["mask"]["top_answer"], top_answer_share=round(mlm["mask"]["top_answer_share"], 4),
                       distinct_answers=mlm["mask"]["distinct_answers"])
    return row


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="pre-training run folders")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "experiments" / "target_kinds.json")
    p.add_argument("--replace", action="store_true",
                   help="write only the runs given (default: keep the records in --out of other runs, in place)")
    p.add_argument("--max-pairs", type=int, default=None, help="score only the first N held-out pairs")
    args = p.parse_args(argv)
    if args.max_pairs is not None and args.max_pairs < 1:
        p.error(f"argument --max-pairs: must be >= 1, got {args.max_pairs}")
    torch.set_num_threads(1)
    try:
        rows = [summarise(r, args.max_pairs) for r in args.runs]
    except ValueError as err:
        p.error(str(err))
    command = "python tools/target_kinds.py " + " ".join(str(r) for r in args.runs)
    if args.max_pairs is not None:
        command += f" --max-pairs {args.max_pairs}"
    doc = {"what": "masked-LM accuracy and loss at [MASK], kept and random targets of the 80/10/10 held-out set, "
                   "at each run's last checkpoint",
           "command": command, "commit": git_commit(), "runs": rows}
    if args.max_pairs is not None:
        doc["max_pairs"] = args.max_pairs
    write_merged(p, args.out, doc, replace=args.replace, same=("what", "max_pairs"))
    for r in rows:
        print(f"{r['run']} (step {r['step']}): " + ", ".join(f"{k} {r[k]['accuracy']:.1%}" for k in KINDS)
              + f"; answers at [MASK]: {r['mask']['distinct_answers']} distinct")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

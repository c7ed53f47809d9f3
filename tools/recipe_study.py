"""Which parts of the CPU pre-training recipe pay, at equal CPU minutes (issue 15, item 2)?

Every variant is the book's CPU recipe (the Table 5 "MLM + NSP" run of ``python -m bertedu.experiments
table5 --budget cpu``: tiny preset, the committed 8,000-piece vocabulary, 64 x 64-token pairs a step, lr 2e-3
with 1% warmup and linear decay over 8,000 steps, dynamic masking, NSP pairs drawn 5 ways, dropout 0, the King
James Bible left out) with **one** change. All of them follow the same 8,000-step schedule and are compared at
the same step (``--at``, default 4,000: about 22 minutes of one CPU core), so at equal CPU minutes and equal
learning-rate history; a run is stopped there (resumably: ``--at 8000`` later continues it to the end).

The score is the one of issue 15: accuracy at held-out ``[MASK]`` targets of Wikipedia articles no run trained
on, as a multiple of the best context-free guess (the in-domain unigram's constant answer). Every model is scored
on the *same* 13,197 targets: the held-out pairs and masks of the baseline's configuration, whatever the
variant trained on.

    python tools/recipe_study.py --plan                       # the variants and their commands
    python tools/recipe_study.py --variants bible dupe1       # train (resumable) and score these
    python tools/recipe_study.py                              # all; writes data/pretrained/recipe_study.json

A finished Table 5 run with the variant's exact settings (``runs/experiments/cpu/pretrain/``) is reused
instead of trained again: the baseline and "no NSP" rows come from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import torch  # noqa: E402

import bertedu  # noqa: E402
from bertedu._io import OneLineParser, atomic_write_text  # noqa: E402
from bertedu.pretraining.diagnostics import Unigram, mlm_predictions, mlm_report, target_kinds  # noqa: E402
from bertedu.pretraining.report import git_commit  # noqa: E402

VOCAB = ROOT / "data" / "pretrained" / "cpu-tiny" / "vocab.txt"
BASE_ARGS = ["--vocab", str(VOCAB), "--holdout", "5", "--drop-books", "bible-kjv", "--masking", "dynamic",
             "--dupe-factor", "5", "--dropout", "0", "--seed", "12345", "--preset", "tiny", "--no-progress",
             "--seq-len", "64", "--batch-size", "64", "--steps", "8000", "--lr", "0.002", "--eval-every", "1000",
             "--save-every", "500", "--keep-checkpoints", "2", "--log-every", "50", "--threads", "1",
             "--export-steps", "1000", "2000", "4000", "6000", "8000"]
# name -> (what changes, flag -> new value; None removes the flag, a flag absent from BASE_ARGS is added)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("none: the book's CPU recipe", {}),
    "no-nsp": ("no NSP loss or head (pairs still cut at sentence ends)", {"--no-nsp": True}),
    "bible": ("the King James Bible kept (each of its chapters a training document, about half of all documents)",
              {"--drop-books": None}),
    "dupe1": ("NSP pairs drawn once (dupe factor 1): the same A/B cuts and NotNext partners every epoch",
              {"--dupe-factor": "1"}),
    "static": ("static masks (drawn once per duplicate, the paper's) instead of fresh ones every epoch",
               {"--masking": "static"}),
    "dropout": ("dropout 0.1 (the paper's) instead of 0", {"--dropout": "0.1"}),
    "lr1e-4": ("peak learning rate 1e-4 (the paper's) instead of 2e-3", {"--lr": "0.0001"}),
}
ORDER = ["baseline", "no-nsp", "bible", "dupe1", "lr1e-4", "dropout", "static"]


def variant_args(name: str) -> list[str]:
    """BASE_ARGS with the variant's one change."""
    args, changes = list(BASE_ARGS), VARIANTS[name][1]
    for flag, value in changes.items():
        if flag in args:
            i = args.index(flag)
            j = i + 1
            while j < len(args) and not args[j].startswith("--"):
                j += 1
            args[i:j] = [] if value is None else [flag] if value is True else [flag, value]
        elif value is True:
            args.append(flag)
        elif value is not None:
            args += [flag, value]
    return args


def _same_settings(run_dir: Path, args: list[str]) -> bool:
    """Does ``run_dir`` (a finished or stopped run) use exactly these settings (``--out`` aside)?"""
    path = run_dir / "run.json"
    if not path.is_file():
        return False
    from bertedu.pretraining.cli import build_parser

    parser = build_parser()
    theirs = vars(parser.parse_args(json.loads(path.read_text())["argv"]))
    ours = vars(parser.parse_args(["--out", str(run_dir), *args]))
    return theirs == ours


def find_run(name: str, runs: Path, reuse: Path) -> Path:
    """An existing run with the variant's settings in ``reuse`` (the Table 5 runs), else ``runs/<name>``."""
    args = variant_args(name)
    if reuse.is_dir():
        for d in sorted(p for p in reuse.iterdir() if p.is_dir()):
            if _same_settings(d, args):
                return d
    return runs / name


def train_until(name: str, run_dir: Path, at: int, log: Path) -> float:
    """Run (or resume) the variant until the export of step ``at`` exists, then stop it; returns the run's
    training seconds up to that step (``elapsed_s`` of the metrics log)."""
    export = run_dir / "exports" / f"step-{at:07d}" / "model.safetensors"
    if not export.is_file():
        cmd = [sys.executable, "-m", "bertedu.pretrain", "--out", str(run_dir), *variant_args(name)]
        if (run_dir / "checkpoints" / "latest.json").is_file():
            cmd.append("--resume")
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        with open(log, "a") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
            while proc.poll() is None and not export.is_file():
                time.sleep(5)
            time.sleep(2)  # the checkpoint of the same step is written just before the export
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
        if not export.is_file():
            raise RuntimeError(f"{name}: the run ended without {export}; see {log}")
    train = bertedu.read_metrics(run_dir / "metrics.jsonl", split="train")
    return max(r["elapsed_s"] for r in train if r["step"] <= at and "elapsed_s" in r)


def heldout_targets(baseline_dir: Path) -> tuple[list, torch.Tensor, torch.Tensor, Unigram, Any]:
    """The baseline's held-out pairs (fixed masks), their targets, the kind of each target and the in-domain
    unigram (fitted on the training Wikipedia articles), as ``tools/analyse_pretraining.py`` builds them."""
    from analyse_pretraining import _documents, _ids

    from bertedu.pretraining.report import rebuild_heldout

    run = json.loads((baseline_dir / "run.json").read_text())
    tok = bertedu.BertTokenizer.from_vocab_file(VOCAB)
    eval_set = rebuild_heldout(baseline_dir, run, tok, run["holdout"])  # checked against the run's count
    wiki_train = _documents(run, None)[2]
    batches = [eval_set.batch(torch.arange(s, min(s + 64, len(eval_set)))) for s in range(0, len(eval_set), 64)]
    labels = torch.cat([b["labels"][b["labels"] != -100] for b in batches])
    kinds = torch.cat([target_kinds(b["input_ids"], b["labels"], tok.mask_token_id) for b in batches])
    unigram = Unigram.fit(_ids(wiki_train, tok), len(tok.vocab), exclude=tok.all_special_ids)
    return batches, labels, kinds, unigram, tok


def score(export_dir: Path, targets: tuple) -> dict[str, Any]:
    batches, labels, kinds, unigram, tok = targets
    model = bertedu.from_pretrained(export_dir, bertedu.BertForPreTraining)
    preds, losses = mlm_predictions(model, batches)
    report = mlm_report(preds, losses, labels, kinds, unigram)
    mask = report["mask"]
    return {"mask_accuracy": mask["accuracy"], "ratio": mask["ratio"], "mask_loss": mask["loss"],
            "top_answer_share": mask["top_answer_share"], "distinct_answers": mask["distinct_answers"],
            "unigram_accuracy": mask["unigram_accuracy"], "all_accuracy": report["all"]["accuracy"]}


def markdown(study: dict[str, Any]) -> str:
    """RECIPE.md: the study's table, every number read from ``study``."""
    rows = sorted(study["rows"], key=lambda r: (r["step"], ORDER.index(r["variant"])))
    base = {r["step"]: r for r in rows if r["variant"] == "baseline"}
    lines = ["# Which parts of the CPU recipe pay? One change at a time, at equal CPU minutes", "",
             "Made by `python tools/recipe_study.py` (issue 15, item 2); the numbers are in `recipe_study.json`. "
             "Every variant is the book's CPU pre-training recipe (the Table 5 \"MLM + NSP\" run: tiny preset, "
             "the committed 8,000-piece vocabulary, 64 x 64-token pairs a step, AdamW lr 2e-3, 1% warmup then "
             "linear decay over 8,000 steps, dynamic masking, NSP pairs drawn 5 ways, dropout 0, the King James "
             "Bible left out) with one change, stopped at the same step of the same schedule. Score: accuracy "
             f"at the {study['heldout_mask_targets']:,} held-out `[MASK]` targets of Wikipedia articles no run "
             "saw, as a multiple of the best context-free guess (always `the`, the in-domain unigram's answer); "
             "every model scored on the same targets. One seed each (12345): differences of a few tenths of a "
             "point are within what a second seed could move.", "",
             f"Scored at commit `{study['commit']}`. {study.get('runs_note', '')} 1 torch thread per run on a "
             "2-core machine shared with other jobs (the minutes are each run's own training clock, so they "
             "vary with the load; the steps are equal, and so is the work per step, except that dropout adds a "
             "little).", "",
             "| variant | the one change | step | minutes | accuracy at [MASK] | x best guess | vs baseline "
             "(points) | [MASK] loss | share of the top answer |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = base.get(r["step"])
        diff = "" if b is None or r is b else f"{100 * (r['mask_accuracy'] - b['mask_accuracy']):+.1f}"
        lines.append(f"| {r['variant']} | {r['change']} | {r['step']:,} | {r['minutes']:.0f} | "
                     f"{r['mask_accuracy']:.1%} | {r['ratio']:.2f}x | {diff} | {r['mask_loss']:.3f} | "
                     f"{r['top_answer_share']:.0%} |")
    lines += ["", "Commands (RUN = the run directory; `--vocab` is `data/pretrained/cpu-tiny/vocab.txt`):", ""]
    commands = {r["variant"]: r["command"] for r in rows}
    lines += [f"- {v}: `{commands[v]}`" for v in ORDER if v in commands]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", choices=ORDER, default=ORDER, help="which variants (default: all)")
    p.add_argument("--at", type=int, default=4000, help="compare at this step of the 8,000-step schedule")
    p.add_argument("--runs", default=str(ROOT / "runs" / "recipe"), help="where new runs go")
    p.add_argument("--reuse", default=str(ROOT / "runs" / "experiments" / "cpu" / "pretrain"),
                   help="finished runs with a variant's exact settings are taken from here")
    p.add_argument("--out", default=str(ROOT / "data" / "pretrained" / "recipe_study.json"))
    p.add_argument("--plan", action="store_true", help="print the variants and their commands, train nothing")
    args = p.parse_args(argv)
    if args.at not in (1000, 2000, 4000, 6000, 8000):
        p.error(f"argument --at: must be an export step (1000, 2000, 4000, 6000 or 8000), got {args.at}")
    runs, reuse = Path(args.runs), Path(args.reuse)
    if args.plan:
        for name in args.variants:
            print(f"{name}: {VARIANTS[name][0]}\n   python -m bertedu.pretrain --out "
                  f"{find_run(name, runs, reuse)} {' '.join(variant_args(name))}")
        return 0
    runs.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    study = json.loads(out.read_text()) if out.is_file() else {"rows": []}
    done = {(r["variant"], r["step"]) for r in study["rows"]}
    targets = heldout_targets(find_run("baseline", runs, reuse))
    for name in args.variants:
        if (name, args.at) in done:
            continue
        run_dir = find_run(name, runs, reuse)
        seconds = train_until(name, run_dir, args.at, runs / f"{name}.log")
        row = {"variant": name, "change": VARIANTS[name][0], "step": args.at, "minutes": round(seconds / 60, 1),
               "command": "python -m bertedu.pretrain --out RUN " + " ".join(variant_args(name)).replace(
                   str(ROOT) + "/", ""),
               "run": run_dir.name, **score(run_dir / "exports" / f"step-{args.at:07d}", targets)}
        print(f"   {name} at step {args.at}: [MASK] accuracy {row['mask_accuracy']:.4f} = {row['ratio']:.2f}x "
              f"(loss {row['mask_loss']:.3f}), {row['minutes']} min", flush=True)
        study["rows"].append(row)
        study.update({"heldout_mask_targets": int((targets[2] == 0).sum()), "tool": "python tools/recipe_study.py",
                      "commit": git_commit(), "cpu_threads_per_run": 1,
                      "note": "minutes = the run's own training clock up to the step (a shared 2-core machine)"})
        atomic_write_text(out, json.dumps(study, indent=1) + "\n")
    if study["rows"]:
        atomic_write_text(out.with_name("RECIPE.md"), markdown(study))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())

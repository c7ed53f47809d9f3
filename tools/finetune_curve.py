"""When does pre-training pay? SST-2 dev accuracy of the book's checkpoint vs the same network with random
weights, against the number of labelled training examples (chapter 10; issue 11).

The 2-layer H=128 checkpoint (data/pretrained/cpu-tiny) was pre-trained on Wikipedia and Gutenberg text,
not film reviews. With 4,000 labelled reviews a randomly initialised model of the same shape learns a good
bag of sentiment words by itself; this tool measures how the comparison moves as labels get scarcer.

Every point: ``run_task('sst2', ...)`` at lr 5e-4, batch 32, one run per seed; ``epochs =
min(12, ceil(12000 / n))`` so that small subsets get enough updates (3 epochs at n = 4,000, as in
``tools/finetune_results.py``); the subset of n records is drawn with data seed 0 and is the same for both
backbones and every seed. Writes ``data/finetune/sst2_curve.json`` (atomic, resumable per point)::

    python tools/finetune_curve.py                       # sizes 250 500 1000 2000 4000, seeds 42 43 44
    python tools/finetune_curve.py --sizes 100 200 --out /tmp/curve.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bertedu._io import OneLineParser, atomic_write_text  # noqa: E402
from bertedu.finetuning.loop import FinetuneConfig  # noqa: E402
from bertedu.finetuning.run import run_task  # noqa: E402
from bertedu.pretraining.report import cpu_name  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
from finetune_results import git_commit  # noqa: E402

BACKBONES = {"own": "data/pretrained/cpu-tiny", "random": "random:data/pretrained/cpu-tiny"}


def epochs_for(n: int) -> int:
    """Roughly 12,000 examples seen (375 updates of 32), at most 12 epochs."""
    return min(12, math.ceil(12000 / n))


def main(argv: list[str] | None = None) -> None:
    p = OneLineParser(description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", nargs="+", type=int, default=[250, 500, 1000, 2000, 4000],
                   help="labelled training examples per point")
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44], help="one run per seed")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (both backbones)")
    p.add_argument("--out", default="data/finetune/sst2_curve.json", help="results file (resumable)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    if any(n < 1 for n in args.sizes):
        p.error("--sizes: every size must be a positive number of examples")
    out = Path(args.out)
    doc = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {
        "what": __doc__.split("\n\n")[0], "task": "sst2", "metric": "accuracy", "lr": args.lr,
        "epochs_rule": "min(12, ceil(12000 / n))", "machine": cpu_name(), "points": []}
    done = {(r["backbone"], r["n"]) for r in doc["points"]}
    commit = git_commit()  # the code this process imported (HEAD may move while it runs)
    for n in args.sizes:
        for backbone, spec in BACKBONES.items():
            if (backbone, n) in done:
                continue
            runs = []
            for seed in args.seeds:
                config = FinetuneConfig(lr=args.lr, batch_size=32, epochs=epochs_for(n), seed=seed,
                                        max_train_examples=n, threads=args.threads)
                runs.append(run_task("sst2", spec, config, progress=False))
            values = [float(r["metrics"]["accuracy"]) for r in runs]
            doc["points"].append({
                "backbone": backbone, "n": n, "epochs": epochs_for(n), "seeds": list(args.seeds),
                "values": values, "mean": statistics.fmean(values), "std": statistics.pstdev(values),
                "minutes": round(sum(r["minutes"] for r in runs), 2), "commit": commit,
                "command": f"python tools/finetune_curve.py --sizes {n} --seeds "
                           + " ".join(map(str, args.seeds)) + f" --lr {args.lr}"})
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out, json.dumps(doc, indent=2) + "\n")
            print(f"{backbone:>6} n={n:>5}: {statistics.fmean(values):.4f} +- {statistics.pstdev(values):.4f}",
                  flush=True)


if __name__ == "__main__":
    main()

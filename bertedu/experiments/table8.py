"""Table 8 of the BERT paper in miniature: how the chosen MLM targets are corrupted (Appendix C.2).

Of the 15% target tokens, the paper's recipe replaces 80% by [MASK], keeps 10% (SAME) and puts a random
token in 10% (RND); Table 8 tries six mixtures and scores each on MNLI and on CoNLL-2003 NER, fine-tuned
and feature-based ("we concatenate the last 4 layers of BERT as the features").  Here each mixture is a
tiny pre-training (``--mask-mix MASK,SAME,RND``; 80/10/10 is Table 5's MLM + NSP run), scored on NER
fine-tuned and feature-based (the frozen-feature BiLSTM tagger of chapter 11,
:mod:`bertedu.experiments.table7`, with its "concat last four" layers), and on STS-B instead of MNLI
(not in the shared data; STS-B responds to pre-training at this scale).  The held-out perplexity of every
mixture is measured on the same 80/10/10-masked held-out set (``python -m bertedu.pretrain`` always masks
the held-out set so), so the pre-training rows compare; the paper's point -- a model trained only on
[MASK] suffers when fine-tuning or features never show it [MASK] -- is what the feature-based column tests.

Budget: 5 new tiny MLM runs (~65 CPU minutes each at 8,000 steps) + 6 x 3 tasks x 3 seeds (~40 CPU
minutes): ~6 CPU hours, or ~5 GPU minutes.

    python -m bertedu.experiments table8 --budget cpu
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bertedu._io import atomic_write_text
from bertedu.experiments.paper_values import paper_value
from bertedu.experiments.spec import Variant

TITLE = "Table 8: masking strategies during MLM pre-training (Appendix C.2)"
TASKS: dict[str, tuple[str, ...]] = {"conll2003": ("entity_f1",), "conll2003-feature": ("entity_f1",),
                                     "stsb": ("spearman",)}
COLUMNS = {("conll2003", "entity_f1"): "NER fine-tune", ("conll2003-feature", "entity_f1"): "NER feature-based"}
MIXTURES = [(80, 10, 10), (100, 0, 0), (80, 0, 20), (80, 20, 0), (0, 20, 80), (0, 0, 100)]
FEATURE_VARIANT = "concat_last_four"  # Appendix C.2: "we concatenate the last 4 layers of BERT as the features"


def _variant(mix: tuple[int, int, int]) -> Variant:
    row = "/".join(map(str, mix))
    flags = {} if mix == (80, 10, 10) else {"--mask-mix": ",".join(map(str, mix))}  # 80/10/10: the default run
    return Variant("mix-" + "-".join(map(str, mix)), f"MASK {mix[0]}% / SAME {mix[1]}% / RND {mix[2]}%", row=row,
                   pretrain=flags, tasks=tuple(TASKS))


VARIANTS: dict[str, Variant] = {v.name: v for v in map(_variant, MIXTURES)}


def paper(variant: Variant, task: str, metric: str) -> float | None:
    """The paper's Table 8 number for this cell (None: not a column of the paper's table)."""
    return paper_value("table8", variant.row, COLUMNS.get((task, metric)))


def feature_based_seed(ctx: Any, variant: Variant, task: str, seed: int, spec: str, folder: Path) -> dict[str, Any]:
    """One seed of the NER feature-based column: chapter 11's frozen-feature BiLSTM tagger on this variant's
    encoder (its "concat last four" features), saved as ``folder/results.json`` like a fine-tuning run."""
    try:
        from bertedu.experiments import table7
    except ImportError as err:  # chapter 11's module is the feature-based machinery
        raise ValueError(f"the feature-based NER column needs bertedu.experiments.table7 ({err})") from err
    from bertedu.finetuning.recipes import get_recipe

    settings = ctx.budget.finetune[task]
    began = time.perf_counter()
    feats = table7.backbone_features(spec, None, max_train=settings.get("max_train_examples"),
                                     max_eval=settings.get("max_eval_examples"), say=ctx.say)
    config = table7.TaggerConfig(epochs=settings.get("epochs", table7.TaggerConfig.epochs))
    cell = table7.train_tagger(feats["train"], feats["dev"], feats["dev_data"], FEATURE_VARIANT,
                               len(get_recipe("conll2003").labels()), config=config, seed=seed)
    results = {"task": task, "model": spec, "feature_variant": FEATURE_VARIANT, "layers": cell["layers"],
               "metrics": {"entity_f1": cell["entity_f1"]}, "best_epoch": cell["best_epoch"],
               "config": {**asdict(config), "seed": seed}, "minutes": round((time.perf_counter() - began) / 60, 3),
               "train_records": len(feats["train_data"].records), "eval_records": len(feats["dev_data"].records)}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "results.json", json.dumps(results, indent=2) + "\n")
    return results


SEED_RUNNERS = {"conll2003-feature": feature_based_seed}

"""Table 5 of the BERT paper in miniature: which pre-training task matters (Sec. 5.1).

The paper trains BERT-Base four ways and fine-tunes each on five tasks: MLM + NSP (BERT), MLM only
("No NSP"), a left-to-right LM without NSP ("LTR & No NSP", the OpenAI GPT setting), and that LTR model
with a randomly initialised BiLSTM on top during fine-tuning ("+ BiLSTM").  Here each row is a tiny
(2/128/2) model pre-trained by ``python -m bertedu.pretrain`` under the chosen budget, plus a row the paper
does not have: the same architecture with random weights (no pre-training), to show what pre-training
buys at all at this scale.

Tasks: SST-2 and MRPC (accuracy, as the paper's table), SQuAD v1.1 (F1) -- three of the paper's five
columns; MNLI and QNLI are not in the shared data.  STS-B and CoNLL-2003 NER are added because they
respond to pre-training at this scale (data/finetune/results.json: STS-B 0.45 vs 0.14 Spearman from the
book's checkpoint vs random weights) and because the paper expects the left-to-right model to lose most
on token-level tasks.  The LTR rows fine-tune with causal attention (as the paper: "the left-only
constraint was also applied at fine-tuning") and read the sentence at its last token (``pool="last"``):
a causal [CLS] sees only itself.

Budget (bertedu/experiments/README.md): 3 pre-training runs (MLM+NSP is shared with Tables 6, 8 and
Figure 5), ~65 (MLM) and ~160 (LTR: logits at every position) CPU minutes each at 8,000 steps, plus
5 rows x 5 tasks x 3 seeds of fine-tuning (~50 CPU minutes): ~6 CPU hours, or ~5 GPU minutes.

    python -m bertedu.experiments table5 --budget cpu
"""

from __future__ import annotations

from typing import Any

from bertedu.experiments.paper_values import paper_value
from bertedu.experiments.spec import Variant

TITLE = "Table 5: ablation over the pre-training tasks (Sec. 5.1)"
TASKS: dict[str, tuple[str, ...]] = {"sst2": ("accuracy",), "mrpc": ("accuracy", "f1"),
                                     "squad-v1.1": ("f1", "exact"), "stsb": ("spearman",),
                                     "conll2003": ("entity_f1",)}
COLUMNS = {("sst2", "accuracy"): "SST-2", ("mrpc", "accuracy"): "MRPC", ("squad-v1.1", "f1"): "SQuAD"}
LTR = {"--objective": "ltr", "--no-nsp": True}
_ALL = tuple(TASKS)
VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("mlm-nsp", "MLM + NSP (BERT)", row="BERT-Base", tasks=_ALL),
    Variant("no-nsp", "No NSP", row="No NSP", pretrain={"--no-nsp": True}, tasks=_ALL),
    Variant("ltr", "LTR & No NSP", row="LTR & No NSP", pretrain=LTR, tasks=_ALL, pool="last"),
    Variant("ltr-bilstm", "LTR & No NSP + BiLSTM", row="+ BiLSTM", pretrain=LTR, tasks=_ALL, bilstm=True,
            pool="last"),
    Variant("no-pretraining", "no pre-training (random weights)", tasks=_ALL, pretrained=False),
]}


def paper(variant: Variant, task: str, metric: str) -> float | None:
    """The paper's Table 5 number for this cell (None: not a column of the paper's table)."""
    return paper_value("table5", variant.row, COLUMNS.get((task, metric)))


def describe() -> dict[str, Any]:
    return {"title": TITLE, "variants": list(VARIANTS), "tasks": TASKS}

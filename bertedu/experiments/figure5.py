"""Figure 5 of the BERT paper in miniature: downstream score against pre-training steps, MLM vs LTR
(Appendix C.1).

The paper fine-tunes BERT-Base on MNLI from checkpoints along pre-training and finds (i) more steps keep
helping (almost +1.0% from 500k to 1M steps) and (ii) MLM "converges slightly more slowly than a
left-to-right model" yet "outperforms it in absolute accuracy almost immediately".  Here the two curves
are Table 5's MLM + NSP and LTR & No NSP runs, whose weights are exported at the budget's
``export_steps`` (``python -m bertedu.pretrain --export-steps``), each fine-tuned on STS-B and CoNLL-2003
NER (tasks that respond at this scale; MNLI is not in the shared data), plus step 0 (random weights of
the same architecture).  A third curve, Table 5's No NSP run, is the like-for-like partner of LTR & No NSP
(one switch apart: the masked LM or the left-to-right one); its step 0 is MLM + NSP's (the same random
weights: an untrained NSP head is not read by fine-tuning), so it has no step-0 row of its own.  The
pre-training rows give the held-out loss curves at the same steps (MLM: masked positions; LTR: next
tokens -- different tasks, so compare their shapes, not their values).

Budget: no pre-training of its own (Table 5's three runs); (6 + 6 + 5) points x 2 tasks x 3 seeds of
fine-tuning: ~90 CPU minutes, ~6 GPU minutes.

    python -m bertedu.experiments figure5 --budget cpu
"""

from __future__ import annotations

from bertedu.experiments.spec import BUDGETS, Budget, Variant

TITLE = "Figure 5: fine-tuning score against pre-training steps, MLM vs LTR (Appendix C.1)"
TASKS: dict[str, tuple[str, ...]] = {"stsb": ("spearman",), "conll2003": ("entity_f1",)}
# curve -> (label, pre-training flags, sentence pooling); the flags name Table 5's runs
OBJECTIVES = {"mlm": ("MLM + NSP", {}, "first"), "ltr": ("LTR & No NSP", {"--objective": "ltr", "--no-nsp": True},
                                                         "last"),
              "mlm-nonsp": ("MLM & No NSP", {"--no-nsp": True}, "first")}
# curves whose step 0 is another curve's (the same random weights, fine-tuned the same way)
STEP0_OF = {"mlm-nonsp": "mlm"}


def variants_for(budget: Budget) -> dict[str, Variant]:
    """One variant per curve and export step of ``budget`` (and step 0: random weights)."""
    out = {}
    for objective, (label, flags, pool) in OBJECTIVES.items():
        if objective not in STEP0_OF:
            out[f"{objective}@0"] = Variant(f"{objective}@0", f"{label}, step 0 (random weights)", pretrain=flags,
                                            tasks=tuple(TASKS), pool=pool, pretrained=False)
        for step in budget.export_steps:
            out[f"{objective}@{step}"] = Variant(f"{objective}@{step}", f"{label}, step {step:,}", pretrain=flags,
                                                 tasks=tuple(TASKS), pool=pool, step=step)
    return out


VARIANTS: dict[str, Variant] = variants_for(BUDGETS["cpu"])


def paper(variant: Variant, task: str, metric: str) -> float | None:
    """Figure 5 has no numbers in the text (its conclusions: paper_values.FIGURE5)."""
    return None

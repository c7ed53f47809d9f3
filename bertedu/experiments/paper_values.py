"""The BERT paper's numbers for the tables the book re-runs (Devlin et al. 2019, arXiv:1810.04805).

Facts transcribed from the paper's Tables 5-8 (dev sets, percentages; Table 6's LM ppl is a perplexity),
so that every committed result can carry the value it is set against.  ``tests/test_experiments.py``
parses the project's shared list of paper values and checks that it agrees with this transcription.
Figure 5 has no numbers in the text, only its two conclusions (:data:`FIGURE5`).

Rows are keyed by the paper's row labels; :func:`paper_value` returns None for a column the paper did
not report, so a record of a task the paper has no counterpart for says ``"paper": null``.
"""

from __future__ import annotations

__all__ = ["TABLE5", "TABLE6", "TABLE7", "TABLE8", "FIGURE5", "TABLES", "paper_value", "SOURCE"]

SOURCE = "Devlin, Chang, Lee & Toutanova (2019), BERT, arXiv:1810.04805"

# Table 5: ablation over the pre-training tasks, BERT-Base architecture (dev).  MRPC and SST-2 are
# accuracies here; SQuAD v1.1 is F1.
TABLE5: dict[str, dict[str, float]] = {
    "BERT-Base": {"MNLI-m": 84.4, "QNLI": 88.4, "MRPC": 86.7, "SST-2": 92.7, "SQuAD": 88.5},
    "No NSP": {"MNLI-m": 83.9, "QNLI": 84.9, "MRPC": 86.5, "SST-2": 92.6, "SQuAD": 87.9},
    "LTR & No NSP": {"MNLI-m": 82.1, "QNLI": 84.3, "MRPC": 77.5, "SST-2": 92.1, "SQuAD": 77.8},
    "+ BiLSTM": {"MNLI-m": 82.1, "QNLI": 84.1, "MRPC": 75.7, "SST-2": 91.6, "SQuAD": 84.9},
}

# Table 6: model size, rows "L/H/A" (dev accuracy; "LM ppl" = held-out masked-LM perplexity)
TABLE6: dict[str, dict[str, float]] = {
    "3/768/12": {"LM ppl": 5.84, "MNLI-m": 77.9, "MRPC": 79.8, "SST-2": 88.4},
    "6/768/3": {"LM ppl": 5.24, "MNLI-m": 80.6, "MRPC": 82.2, "SST-2": 90.7},
    "6/768/12": {"LM ppl": 4.68, "MNLI-m": 81.9, "MRPC": 84.8, "SST-2": 91.3},
    "12/768/12": {"LM ppl": 3.99, "MNLI-m": 84.4, "MRPC": 86.7, "SST-2": 92.9},
    "12/1024/16": {"LM ppl": 3.54, "MNLI-m": 85.7, "MRPC": 86.9, "SST-2": 93.3},
    "24/1024/16": {"LM ppl": 3.23, "MNLI-m": 86.6, "MRPC": 87.8, "SST-2": 93.7},
}

# Table 7: CoNLL-2003 NER F1.  Fine-tuning rows have dev and test; the feature-based rows (BERT-Base, a
# two-layer 768-dimensional BiLSTM on frozen activations) dev only.
TABLE7: dict[str, dict[str, float]] = {
    "BERT-Large (fine-tuning)": {"Dev F1": 96.6, "Test F1": 92.8},
    "BERT-Base (fine-tuning)": {"Dev F1": 96.4, "Test F1": 92.4},
    "ELMo": {"Dev F1": 95.7, "Test F1": 92.2},
    "Embeddings": {"Dev F1": 91.0},
    "Second-to-Last Hidden": {"Dev F1": 95.6},
    "Last Hidden": {"Dev F1": 94.9},
    "Weighted Sum Last Four Hidden": {"Dev F1": 95.9},
    "Concat Last Four Hidden": {"Dev F1": 96.1},
    "Weighted Sum All 12 Layers": {"Dev F1": 95.5},
}

# Table 8 (Appendix C.2): masking strategies, rows "MASK/SAME/RND" in percent (dev)
TABLE8: dict[str, dict[str, float]] = {
    "80/10/10": {"MNLI": 84.2, "NER fine-tune": 95.4, "NER feature-based": 94.9},
    "100/0/0": {"MNLI": 84.3, "NER fine-tune": 94.9, "NER feature-based": 94.0},
    "80/0/20": {"MNLI": 84.1, "NER fine-tune": 95.2, "NER feature-based": 94.6},
    "80/20/0": {"MNLI": 84.4, "NER fine-tune": 95.2, "NER feature-based": 94.7},
    "0/20/80": {"MNLI": 83.7, "NER fine-tune": 94.8, "NER feature-based": 94.6},
    "0/0/100": {"MNLI": 83.6, "NER fine-tune": 94.9, "NER feature-based": 94.6},
}

# Figure 5 (Appendix C.1): no numbers, two conclusions
FIGURE5: tuple[str, ...] = (
    "BERT-Base gains almost 1.0% MNLI accuracy when trained for 1M steps instead of 500k.",
    "The MLM model converges slightly more slowly than a left-to-right model, but outperforms it in "
    "absolute accuracy almost immediately.",
)

TABLES: dict[str, dict[str, dict[str, float]]] = {"table5": TABLE5, "table6": TABLE6, "table7": TABLE7,
                                                  "table8": TABLE8}


def paper_value(table: str, row: str | None, column: str | None) -> float | None:
    """The paper's number in ``table`` at ``row`` / ``column``; None where the paper has none."""
    if table not in TABLES and table != "figure5":
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join([*TABLES, 'figure5'])}")
    if row is None or column is None:
        return None
    return TABLES.get(table, {}).get(row, {}).get(column)

"""Table 6 of the BERT paper in miniature: bigger models are better, even on small tasks (Sec. 5.2).

The paper's six sizes (L/H/A from 3/768/12 to 24/1024/16) become the miniature grid of
:data:`bertedu.config.SIZE_GRID`: H 768 -> 128 and 1024 -> 192 (64 dimensions per head kept), L divided by
three, and the few-heads row 6/768/3 as 2/128/1.  Each size is pre-trained with the same recipe and
number of steps (the paper compares its sizes at equal steps too) and scored on the held-out masked-LM
perplexity ("LM ppl"; ours is on held-out Wikipedia with an 8,000-piece vocabulary, so only the trend,
not the value, compares) and on SST-2 and MRPC (accuracy, the paper's columns; MNLI is not in the shared
data) and STS-B (it responds to pre-training at this scale).

Budget: relative to the 2/128/2 run (shared with Table 5), one training step costs 0.6, 1.0, 1.0, 1.7,
3.6 and 6.8x (multiply-adds), so the six rows take ~15 CPU hours at 8,000 steps: a job for several days
in the background (it resumes) or for a lent GPU (~10 minutes for all rows).

    python -m bertedu.experiments table6 --budget cpu
"""

from __future__ import annotations

from bertedu.config import SIZE_GRID, size_name
from bertedu.experiments.paper_values import paper_value
from bertedu.experiments.spec import Variant

TITLE = "Table 6: model size (Sec. 5.2)"
TASKS: dict[str, tuple[str, ...]] = {"sst2": ("accuracy",), "mrpc": ("accuracy", "f1"), "stsb": ("spearman",)}
COLUMNS = {("pretrain", "mlm_perplexity"): "LM ppl", ("sst2", "accuracy"): "SST-2", ("mrpc", "accuracy"): "MRPC"}


def _variant(paper_row: str, size: tuple[int, int, int]) -> Variant:
    name = size_name(*size)
    # the tiny preset is 2/128/2: no flag, so this row is the very run of Table 5's MLM + NSP
    flags = {} if name == "L2-H128-A2" else {"--preset": name}
    return Variant(name, f"{name.replace('-', ' ')} (paper {paper_row})", row=paper_row, pretrain=flags,
                   tasks=tuple(TASKS))


VARIANTS: dict[str, Variant] = {v.name: v for v in (_variant(row, size) for row, size in SIZE_GRID.items())}


def paper(variant: Variant, task: str, metric: str) -> float | None:
    """The paper's Table 6 number for this cell (``task="pretrain"``: the LM perplexity)."""
    return paper_value("table6", variant.row, COLUMNS.get((task, metric)))

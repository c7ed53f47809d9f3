"""GLUE readers (Wang et al., 2018): the fine-tuning benchmark of BERT's Section 4.1.

The shared data holds four GLUE tasks as the benchmark's own ``.tsv`` files: SST-2 (one sentence,
sentiment), MRPC (paraphrase pairs), RTE (entailment pairs) and STS-B (similarity scores).
"""

from __future__ import annotations

import csv

from bertedu.datasets.download import data_file

# task -> (text column(s), label column, label parser).  RTE follows GLUE's label order.
_GLUE: dict[str, tuple[tuple[str, ...], str, dict[str, int] | type]] = {
    "SST-2": (("sentence",), "label", int),
    "MRPC": (("#1 String", "#2 String"), "Quality", int),
    "RTE": (("sentence1", "sentence2"), "label", {"entailment": 0, "not_entailment": 1}),
    "STS-B": (("sentence1", "sentence2"), "score", float),
}


def parse_glue_tsv(text: str, task: str) -> list[dict]:
    """Rows of a GLUE ``.tsv`` (header row first) as dicts.

    Single-sentence tasks give ``{"idx", "sentence", "label"}``, pair tasks ``{"idx", "sentence1",
    "sentence2", "label"}``.  Labels: SST-2 0/1 (1 = positive), MRPC 0/1 (1 = paraphrase), RTE
    0 = entailment / 1 = not_entailment, STS-B a float in [0, 5].  Unlabelled test files give
    ``label=None``.  Quotes are ordinary characters (``csv.QUOTE_NONE``), as in GLUE's files.
    """
    if task not in _GLUE:
        raise ValueError(f"task={task!r}: choose one of {list(_GLUE)}")
    text_cols, label_col, parse = _GLUE[task]
    rows = list(csv.reader(text.lstrip("\ufeff").splitlines(), delimiter="\t",
                           quoting=csv.QUOTE_NONE))
    if not rows:
        raise ValueError(f"empty GLUE file for task {task!r}: expected a header row")
    header, out = rows[0], []
    missing = [c for c in text_cols if c not in header]
    if missing:
        raise ValueError(f"{task} header {header} lacks columns {missing}")
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{task} line {n}: {len(row)} fields, header has {len(header)}")
        record = dict(zip(header, row))
        raw = record.get(label_col)
        label = None if raw is None else (parse[raw] if isinstance(parse, dict) else parse(raw))
        keys = ("sentence",) if len(text_cols) == 1 else ("sentence1", "sentence2")
        item: dict = {"idx": int(record["index"]) if "index" in record else n - 2}
        item.update({k: record[c].strip() for k, c in zip(keys, text_cols)})
        item["label"] = label
        out.append(item)
    return out


def read_glue(task: str, split: str) -> list[dict]:
    """A GLUE split ("train", "dev" or "test") of SST-2, MRPC, RTE or STS-B; see
    :func:`parse_glue_tsv` for the rows.  ``read_glue("SST-2", "dev")`` has 872 rows."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split={split!r}: choose 'train', 'dev' or 'test'")
    if task not in _GLUE:
        raise ValueError(f"task={task!r}: choose one of {list(_GLUE)}")
    path = data_file(f"glue/{task}", f"{split}.tsv")
    return parse_glue_tsv(path.read_text(encoding="utf-8-sig"), task)

"""Part IV of the book: the paper's experiments in miniature (issue 16; chapters 11 and 12).

``python -m bertedu.experiments TABLE [TABLE ...] [--variants ...] [--seeds ...] [--budget ...] [--dry-run]``
runs declared configurations through the real pre-training loop (``python -m bertedu.pretrain``) and the
real fine-tuning (:func:`bertedu.finetuning.run.run_task`), resumably, and writes
``data/experiments/{table}.json`` (see :mod:`~bertedu.experiments.results` for the record format and
README.md beside this file for the budgets and why).

:data:`TABLES` is the registry: table name -> module.  A module either follows the runner's protocol
(``VARIANTS``, ``TASKS``, ``paper``; table5, table6, table8, figure5, run by
:func:`bertedu.experiments.runner.run_table`) or brings its own ``VARIANTS`` and ``run(variants=...,
seeds=..., out=..., plan=..., say=...)`` (table7, chapter 11's feature-based NER).

Modules: spec.py (Variant, Budget, BUDGETS), paper_values.py (the paper's numbers), runs.py (the
pre-training runs), runner.py (cells, resume, records), results.py (the results files), cli.py, and
one module per table.
"""

from __future__ import annotations

import importlib
from types import ModuleType

TABLES: dict[str, str] = {
    "table5": "bertedu.experiments.table5",
    "table6": "bertedu.experiments.table6",
    "table7": "bertedu.experiments.table7",
    "table8": "bertedu.experiments.table8",
    "figure5": "bertedu.experiments.figure5",
}

__all__ = ["TABLES", "load_table"]


def load_table(name: str) -> ModuleType:
    """The module of table ``name`` (a key of :data:`TABLES`)."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; choose one of {', '.join(TABLES)}")
    try:
        return importlib.import_module(TABLES[name])
    except ModuleNotFoundError as err:
        if err.name == TABLES[name]:
            raise ValueError(f"{name}: {TABLES[name]} is not written yet (it must define VARIANTS and run)") from None
        raise

"""The fine-tuning tasks as one declarative table (BERT paper, Sec. 4 and Figure 4).

Every task is a :class:`TaskRecipe`: where its train and eval records come from, which head
(:mod:`bertedu.finetuning.heads`) reads them, how records become model inputs (its ``kind``, see
:mod:`bertedu.finetuning.features`), which metrics score it and which one early stopping and the
grid search follow (``main_metric``).

==========  ================  =============================  =====================================  =============
task        kind              train / eval                   metrics (main first)                   paper
==========  ================  =============================  =====================================  =============
sst2        classification    GLUE train / dev               accuracy                               Sec. 4.1
mrpc        pair              GLUE train / dev               f1, accuracy                           Sec. 4.1
rte         pair              GLUE train / dev               accuracy                               Sec. 4.1
stsb        regression        GLUE train / dev               spearman, pearson                      Sec. 4.1
conll2003   tagging           train / valid                  entity_f1, precision, recall           Sec. 5.3
wnut17      tagging           train / dev                    entity_f1, precision, recall           --
squad-v1.1  qa                dev split by article (3:1)     f1, exact                              Sec. 4.2
squad-v2.0  qa                dev split by article (3:1)     best_f1 (tau tuned), f1, exact, ...    Sec. 4.3
piqa        multiple_choice   dev, 3 of every 4 / the 4th    accuracy                               Sec. 4.4
snips       joint             train / dev                    sentence_accuracy, intent_accuracy,    Chen et al.
                                                             slot_f1                                2019
==========  ================  =============================  =====================================  =============

Only the SQuAD and PIQA dev sets are in the shared data, so those tasks train on part of their dev
set and are scored on the rest: SQuAD by whole articles (:func:`bertedu.datasets.tasks.split_squad_by_article`,
the last quarter of the articles in file order), so that no passage is seen in training; PIQA by
position (items 3, 7, 11, ... are held out). Accuracies and F1 of GLUE, NER, PIQA and SNIPS are
fractions (0..1); SQuAD's exact and F1 are percentages, as the official scripts print them.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["TaskRecipe", "RECIPES", "KINDS", "get_recipe", "load_records"]

KINDS = ("classification", "pair", "regression", "tagging", "qa", "multiple_choice", "joint")
SPLITS = ("train", "eval")

_HEADS = {"classification": "BertForSequenceClassification", "pair": "BertForSequenceClassification",
          "regression": "BertForSequenceClassification", "tagging": "BertForTokenClassification",
          "qa": "BertForQuestionAnswering", "multiple_choice": "BertForMultipleChoice",
          "joint": "BertForJointIntentSlot"}


@dataclass(frozen=True)
class TaskRecipe:
    """One fine-tuning task: data, head, inputs and metrics (see the module docstring's table).

    ``read(split)`` gives the records of ``"train"`` or ``"eval"``; ``labels()`` the class names
    (classification), tag names (tagging) or intent names (joint); ``slot_labels()`` the BIO slot tags
    (joint). ``text_fields`` are the GLUE columns that form segment A (and B for pairs).
    """

    name: str
    title: str
    section: str
    kind: str
    read: Callable[[str], list]
    source: str
    metrics: tuple[str, ...]
    main_metric: str
    max_seq_length: int = 128
    text_fields: tuple[str, ...] = ()
    labels: Callable[[], list[str]] | None = None
    slot_labels: Callable[[], list[str]] | None = None
    squad_version: str | None = None
    doc_stride: int = 128
    max_query_length: int = 64

    @property
    def head(self) -> str:
        """Name of the head class in :mod:`bertedu.finetuning.heads`."""
        return _HEADS[self.kind]

    def head_class(self) -> type:
        from bertedu.finetuning import heads
        return getattr(heads, self.head)

    def head_kwargs(self) -> dict[str, int]:
        """Constructor keywords of the head beyond the config (``num_labels``, ...)."""
        if self.kind == "regression":
            return {"num_labels": 1}  # STS-B: one score, MSE (Sec. 4.1)
        if self.kind in ("classification", "pair", "tagging"):
            return {"num_labels": len(self.labels())}
        if self.kind == "joint":
            return {"num_intents": len(self.labels()), "num_slots": len(self.slot_labels())}
        return {}  # qa: start/end vectors; multiple choice: one score per choice


# ---------------------------------------------------------------- readers --------------------------
def _glue(task: str) -> Callable[[str], list]:
    def read(split: str) -> list[dict]:
        from bertedu.datasets.glue import read_glue
        return read_glue(task, {"train": "train", "eval": "dev"}[split])
    return read


def _conll(reader: str) -> Callable[[str], list]:
    def read(split: str) -> list:
        from bertedu.datasets import tasks
        return getattr(tasks, reader)({"train": "train", "eval": "dev"}[split])
    return read


@functools.lru_cache(maxsize=2)
def _squad_split(version: str) -> tuple[dict, dict]:
    from bertedu.datasets.tasks import read_squad, split_squad_by_article
    return split_squad_by_article(read_squad(version, "dev"), eval_fraction=0.25)


def _squad(version: str) -> Callable[[str], list]:
    def read(split: str) -> list:
        from bertedu.datasets.tasks import squad_examples
        train, held = _squad_split(version)
        return squad_examples(train if split == "train" else held)
    return read


def _piqa(split: str) -> list:
    from bertedu.datasets.tasks import read_piqa
    items = read_piqa("dev")
    return [x for i, x in enumerate(items) if (i % 4 == 3) == (split == "eval")]


def _snips(split: str) -> list:
    from bertedu.datasets.tasks import read_snips
    return read_snips({"train": "train", "eval": "dev"}[split])


def _snips_intents() -> list[str]:
    from bertedu.datasets.tasks import snips_label_lists
    return [x for x in snips_label_lists()[0] if x != "UNK"]  # JointBERT's placeholder, never a gold label


def _snips_slots() -> list[str]:
    from bertedu.datasets.tasks import snips_label_lists
    return [x for x in snips_label_lists()[1] if x not in ("PAD", "UNK")]  # only real BIO tags


def _bio(*types: str) -> Callable[[], list[str]]:
    tags = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    return lambda: list(tags)


def _fixed(*names: str) -> Callable[[], list[str]]:
    return lambda: list(names)


_GLUE_SRC = "GLUE train.tsv / dev.tsv"
RECIPES: dict[str, TaskRecipe] = {r.name: r for r in [
    TaskRecipe("sst2", "SST-2 sentiment (GLUE)", "Sec. 4.1", "classification", _glue("SST-2"), _GLUE_SRC,
               ("accuracy",), "accuracy", text_fields=("sentence",), labels=_fixed("negative", "positive")),
    TaskRecipe("mrpc", "MRPC paraphrase (GLUE)", "Sec. 4.1", "pair", _glue("MRPC"), _GLUE_SRC,
               ("f1", "accuracy"), "f1", text_fields=("sentence1", "sentence2"),
               labels=_fixed("not_paraphrase", "paraphrase")),
    TaskRecipe("rte", "RTE entailment (GLUE)", "Sec. 4.1", "pair", _glue("RTE"), _GLUE_SRC, ("accuracy",),
               "accuracy", text_fields=("sentence1", "sentence2"), labels=_fixed("entailment", "not_entailment")),
    TaskRecipe("stsb", "STS-B similarity (GLUE)", "Sec. 4.1", "regression", _glue("STS-B"), _GLUE_SRC,
               ("spearman", "pearson"), "spearman", text_fields=("sentence1", "sentence2"),
               labels=_fixed("similarity")),
    TaskRecipe("conll2003", "CoNLL-2003 NER", "Sec. 5.3", "tagging", _conll("read_conll2003"),
               "train.txt / valid.txt", ("entity_f1", "precision", "recall"), "entity_f1",
               labels=_bio("PER", "ORG", "LOC", "MISC")),
    TaskRecipe("wnut17", "WNUT-17 emerging entities", "Sec. 5.3 (recipe)", "tagging", _conll("read_wnut17"),
               "wnut17train.conll / emerging.dev.conll", ("entity_f1", "precision", "recall"), "entity_f1",
               labels=_bio("corporation", "creative-work", "group", "location", "person", "product")),
    TaskRecipe("squad-v1.1", "SQuAD v1.1", "Sec. 4.2", "qa", _squad("v1.1"),
               "dev-v1.1.json split by article: first 3/4 train, last 1/4 eval", ("f1", "exact"), "f1",
               max_seq_length=384, squad_version="v1.1"),
    TaskRecipe("squad-v2.0", "SQuAD v2.0", "Sec. 4.3", "qa", _squad("v2.0"),
               "dev-v2.0.json split by article: first 3/4 train, last 1/4 eval",
               ("best_f1", "best_exact", "best_threshold", "f1", "exact", "HasAns_f1", "NoAns_f1"), "best_f1",
               max_seq_length=384, squad_version="v2.0"),
    TaskRecipe("piqa", "PIQA physical commonsense (multiple choice)", "Sec. 4.4 (SWAG recipe)",
               "multiple_choice", _piqa, "valid.jsonl: items i % 4 != 3 train, i % 4 == 3 eval",
               ("accuracy",), "accuracy"),
    TaskRecipe("snips", "SNIPS intent + slots (joint)", "Chen et al. 2019", "joint", _snips,
               "train / dev folders", ("sentence_accuracy", "intent_accuracy", "slot_f1"), "sentence_accuracy",
               max_seq_length=64, labels=_snips_intents, slot_labels=_snips_slots),
]}


def get_recipe(task: str | TaskRecipe) -> TaskRecipe:
    """The recipe of ``task`` (a name of :data:`RECIPES`, or a recipe itself)."""
    if isinstance(task, TaskRecipe):
        return task
    if task not in RECIPES:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[task]


def subset(records: Sequence[Any], limit: int | None, seed: int = 0) -> list[Any]:
    """At most ``limit`` records, drawn with ``random.Random(seed)`` and kept in file order (all if None)."""
    if limit is None or limit >= len(records):
        return list(records)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    chosen = sorted(random.Random(seed).sample(range(len(records)), limit))
    return [records[i] for i in chosen]


def load_records(task: str | TaskRecipe, split: str, limit: int | None = None, seed: int = 0
                 ) -> tuple[list[Any], int]:
    """(records of ``split`` -- at most ``limit`` of them, see :func:`subset` --, how many there are in all)."""
    recipe = get_recipe(task)
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: choose 'train' or 'eval'")
    records = recipe.read(split)
    return subset(records, limit, seed), len(records)

"""Records -> model inputs, one encoder per task kind (BERT paper, Sec. 4 and Figure 4a-d).

Every encoder returns a :class:`TaskData`: ``features`` are dicts of *unpadded* lists whose keys are
the head's ``forward`` arguments (``input_ids``, ``token_type_ids`` and the labels), and ``meta``
holds, per feature, what scoring needs to turn predictions back into answers.

- classification / pair / regression: ``[CLS] A [SEP] (B [SEP])`` with segment ids 0/1 (Figure 4a/b);
  pairs that do not fit are shortened from the end of the longer one (``BertTokenizer.encode``);
- tagging: words -> pieces, the tag on each word's first piece, -100 elsewhere (Sec. 5.3,
  :mod:`bertedu.finetuning.tagging`);
- qa: ``[CLS] question [SEP] passage window [SEP]`` features with a document stride and the answer's
  start/end token (Sec. 4.2, :mod:`bertedu.finetuning.squad`); one question may give several features;
- multiple_choice: one ``[CLS] goal [SEP] choice [SEP]`` sequence per choice, stacked (Sec. 4.4);
- joint: the tagging encoding plus the intent (Chen et al. 2019).

:func:`collate` pads a batch to its own longest sequence (dynamic padding): ids with [PAD], segments
and the attention mask with 0, token labels with -100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from bertedu.finetuning.recipes import TaskRecipe, get_recipe
from bertedu.finetuning.squad import squad_features
from bertedu.finetuning.tagging import IGNORE_INDEX, align_word_labels, encode_words

__all__ = ["TaskData", "encode_task", "collate", "feature_length", "ENCODERS"]


@dataclass
class TaskData:
    """The encoded records of one split: ``features[k]`` (model inputs) and ``meta[k]`` belong together."""

    task: str
    records: list[Any]
    features: list[dict[str, Any]]
    meta: list[Any] = field(default_factory=list)
    total_records: int = 0  # records in the whole split, before any subset

    @property
    def lengths(self) -> list[int]:
        return [feature_length(f) for f in self.features]


def feature_length(feature: dict[str, Any]) -> int:
    """Tokens of a feature (the longest choice for multiple choice): what batches are padded to."""
    ids = feature["input_ids"]
    return max(len(c) for c in ids) if ids and isinstance(ids[0], list) else len(ids)


def _label_ids(recipe: TaskRecipe) -> dict[str, int]:
    return {name: i for i, name in enumerate(recipe.labels())}


def _tag_ids(tags: Sequence[str], table: dict[str, int], task: str) -> list[int]:
    unknown = [t for t in tags if t not in table]
    if unknown:
        raise ValueError(f"{task}: tag {unknown[0]!r} is not in the task's label list {list(table)}")
    return [table[t] for t in tags]


def encode_sequences(recipe: TaskRecipe, records: Sequence[dict], tokenizer: Any, max_seq_length: int
                     ) -> tuple[list[dict], list]:
    """GLUE rows -> ``input_ids``, ``token_type_ids``, ``labels`` (int class, or float for regression)."""
    features = []
    for row in records:
        texts = [row[f] for f in recipe.text_fields]
        enc = tokenizer.encode(texts[0], texts[1] if len(texts) > 1 else None, max_length=max_seq_length)
        label = float(row["label"]) if recipe.kind == "regression" else int(row["label"])
        features.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"], "labels": label})
    return features, [None] * len(features)


def _encode_tagged(words: Sequence[str], tags: Sequence[str], table: dict[str, int], task: str,
                   tokenizer: Any, max_seq_length: int) -> tuple[dict, tuple]:
    enc = encode_words(tokenizer, words, max_seq_length)
    labels = align_word_labels(enc.word_ids, _tag_ids(tags, table, task))
    return ({"input_ids": enc.input_ids, "token_type_ids": enc.token_type_ids, "labels": labels},
            (enc.word_ids, enc.num_words))


def encode_tagging(recipe: TaskRecipe, records: Sequence[Any], tokenizer: Any, max_seq_length: int
                   ) -> tuple[list[dict], list]:
    """Tagged sentences -> ``labels`` on first pieces; meta: (word_ids, number of words)."""
    table = _label_ids(recipe)
    pairs = [_encode_tagged(r.tokens, r.tags, table, recipe.name, tokenizer, max_seq_length) for r in records]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def encode_joint(recipe: TaskRecipe, records: Sequence[Any], tokenizer: Any, max_seq_length: int
                 ) -> tuple[list[dict], list]:
    """SNIPS utterances -> ``intent_labels`` and ``slot_labels`` (first pieces); meta as tagging."""
    intents, slots = _label_ids(recipe), {t: i for i, t in enumerate(recipe.slot_labels())}
    features, meta = [], []
    for r in records:
        f, m = _encode_tagged(r.words, r.slots, slots, recipe.name, tokenizer, max_seq_length)
        f["slot_labels"] = f.pop("labels")
        f["intent_labels"] = _tag_ids([r.intent], intents, recipe.name)[0]
        features.append(f)
        meta.append(m)
    return features, meta


def encode_qa(recipe: TaskRecipe, records: Sequence[Any], tokenizer: Any, max_seq_length: int
              ) -> tuple[list[dict], list]:
    """SQuAD questions -> windows with ``start_positions`` / ``end_positions``; meta: the SquadFeature."""
    windows = squad_features(records, tokenizer, max_seq_length=max_seq_length, doc_stride=recipe.doc_stride,
                             max_query_length=recipe.max_query_length)
    features = [{"input_ids": w.input_ids, "token_type_ids": w.token_type_ids,
                 "start_positions": w.start_position, "end_positions": w.end_position} for w in windows]
    return features, windows


def encode_choices(recipe: TaskRecipe, records: Sequence[Any], tokenizer: Any, max_seq_length: int
                   ) -> tuple[list[dict], list]:
    """PIQA items -> C (goal, choice) pairs stacked: ``input_ids`` is a list of C id lists."""
    features = []
    for item in records:
        encs = [tokenizer.encode(item.goal, choice, max_length=max_seq_length) for choice in item.choices]
        features.append({"input_ids": [e["input_ids"] for e in encs],
                         "token_type_ids": [e["token_type_ids"] for e in encs], "labels": int(item.label)})
    return features, [None] * len(features)


ENCODERS: dict[str, Callable[..., tuple[list[dict], list]]] = {
    "classification": encode_sequences, "pair": encode_sequences, "regression": encode_sequences,
    "tagging": encode_tagging, "qa": encode_qa, "multiple_choice": encode_choices, "joint": encode_joint}


def encode_task(task: str | TaskRecipe, records: Sequence[Any], tokenizer: Any, max_seq_length: int | None = None,
                total_records: int | None = None) -> TaskData:
    """Encode ``records`` of ``task`` for its head (``max_seq_length`` defaults to the recipe's)."""
    recipe = get_recipe(task)
    length = recipe.max_seq_length if max_seq_length is None else max_seq_length
    if isinstance(length, bool) or not isinstance(length, int) or length < 8:
        raise ValueError(f"max_seq_length must be an int >= 8, got {length!r}")
    if recipe.kind == "qa" and length <= recipe.max_query_length + 3:
        raise ValueError(f"max_seq_length must be > {recipe.max_query_length + 3} for {recipe.name} (the question "
                         f"takes up to {recipe.max_query_length} tokens), got {length}")
    features, meta = ENCODERS[recipe.kind](recipe, list(records), tokenizer, length)
    return TaskData(recipe.name, list(records), features, meta,
                    len(records) if total_records is None else total_records)


def _pad_rows(rows: Sequence[Sequence[int]], length: int, value: int) -> list[list[int]]:
    return [list(r) + [value] * (length - len(r)) for r in rows]


def collate(features: Sequence[dict[str, Any]], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch of features to its longest sequence -> tensors (B, T), or (B, C, T) for choices.

    ``attention_mask`` is 1 on real tokens, 0 on padding; token-level labels are padded with -100, so
    no loss reads the padding; scalar labels become (B,) long (class ids) or float (regression) tensors.
    """
    if not features:
        raise ValueError("features is empty; a batch needs at least one feature")
    T = max(feature_length(f) for f in features)
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if isinstance(values[0], list) and values[0] and isinstance(values[0][0], list):  # (B, C, T)
            pad = pad_token_id if key == "input_ids" else 0
            batch[key] = torch.tensor([_pad_rows(v, T, pad) for v in values], dtype=torch.long)
            if key == "input_ids":
                batch["attention_mask"] = torch.tensor([_pad_rows([[1] * len(c) for c in v], T, 0) for v in values],
                                                       dtype=torch.long)
        elif isinstance(values[0], list):  # (B, T)
            pad = {"input_ids": pad_token_id, "token_type_ids": 0}.get(key, IGNORE_INDEX)
            batch[key] = torch.tensor(_pad_rows(values, T, pad), dtype=torch.long)
            if key == "input_ids":
                batch["attention_mask"] = torch.tensor(_pad_rows([[1] * len(v) for v in values], T, 0),
                                                       dtype=torch.long)
        else:
            dtype = torch.float32 if isinstance(values[0], float) else torch.long
            batch[key] = torch.tensor(values, dtype=dtype)
    return batch

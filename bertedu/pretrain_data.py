"""The pre-training data pipeline (BERT paper Sec. 3.1 "Pre-training data", Appendix A.2).

documents -> NSP sentence pairs (:mod:`bertedu.nsp`) -> padded id tensors -> masked batches (:mod:`bertedu.masking`).

Two ways to draw the masks, compared in the RoBERTa paper (Liu et al. 2019, Sec. 4.1):

* **static** (the original ``create_pretraining_data.py``): pairs and masks are made once, when the data set
  is built, ``dupe_factor`` times over with different randomness, so each sequence is seen with a handful of
  fixed masks for the whole run;
* **dynamic**: the same pairs, but a fresh mask every time a sequence is put into a batch.

A :class:`BatchStream` walks the data set in a seeded random order, epoch after epoch, and can save and
restore its position and generator so that a resumed run draws exactly the batches it would have drawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch

from bertedu.masking import continuation_lookup, mask_kwargs, mask_tokens, whole_word_mask_tokens
from bertedu.nsp import collate_instances, create_pretraining_examples

Batch = dict[str, torch.Tensor]


@dataclass
class MaskSpec:
    """How to choose MLM targets (Sec. 3.1 Task #1): the masking module's arguments for one vocabulary."""

    special_ids: torch.Tensor  # ids never chosen nor used as random replacements ([CLS], [SEP], [PAD], ...)
    vocab_size: int
    mask_token_id: int
    mlm_probability: float = 0.15
    max_predictions: int | None = 20
    is_continuation: torch.Tensor | None = None  # (V,) bool: set for whole-word masking

    def apply(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked ids and labels (-100 where not chosen) for a batch (B, T)."""
        kwargs: dict[str, Any] = dict(special_ids=self.special_ids, vocab_size=self.vocab_size,
                                      mask_token_id=self.mask_token_id, generator=generator,
                                      mlm_probability=self.mlm_probability, max_predictions=self.max_predictions,
                                      attention_mask=attention_mask)
        if self.is_continuation is not None:
            out = whole_word_mask_tokens(input_ids, is_continuation=self.is_continuation, **kwargs)
        else:
            out = mask_tokens(input_ids, **kwargs)
        return out.input_ids, out.labels


@dataclass
class PretrainingDataset:
    """Pre-training examples as padded tensors, all (N, T) except ``next_sentence_label`` (N,).

    ``labels`` is set for a statically masked set (``input_ids`` are then already corrupted) and None for
    dynamic masking, where :meth:`batch` masks the clean ``input_ids`` with the generator it is given.
    ``next_sentence_label``: 0 = IsNext (B follows A), 1 = NotNext (B is random), as the reference.
    """

    input_ids: torch.Tensor  # (N, T)
    token_type_ids: torch.Tensor  # (N, T)
    attention_mask: torch.Tensor  # (N, T)
    next_sentence_label: torch.Tensor  # (N,)
    mask_spec: MaskSpec
    labels: torch.Tensor | None = None  # (N, T) or None (dynamic masking)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, t = self.input_ids.shape
        for name in ("token_type_ids", "attention_mask") + (("labels",) if self.labels is not None else ()):
            if getattr(self, name).shape != (n, t):
                raise ValueError(f"PretrainingDataset.{name} must have shape {(n, t)} like input_ids, "
                                 f"got {tuple(getattr(self, name).shape)}")
        if self.next_sentence_label.shape != (n,):
            raise ValueError(f"next_sentence_label must have shape ({n},), got {tuple(self.next_sentence_label.shape)}")

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def dynamic(self) -> bool:
        return self.labels is None

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> Batch:
        """The examples at ``indices`` as a batch, trimmed to its longest sequence; masked now if dynamic."""
        mask = self.attention_mask[indices]
        width = max(int(mask.sum(-1).max()), 1) if len(indices) else 1  # drop columns that are all padding
        batch = {"input_ids": self.input_ids[indices, :width], "token_type_ids": self.token_type_ids[indices, :width],
                 "attention_mask": mask[:, :width], "next_sentence_label": self.next_sentence_label[indices]}
        if self.labels is not None:
            batch["labels"] = self.labels[indices, :width]
        else:
            if generator is None:
                raise ValueError("dynamic masking needs a torch.Generator: pass generator=")
            batch["input_ids"], batch["labels"] = self.mask_spec.apply(batch["input_ids"], batch["attention_mask"],
                                                                       generator)
        return batch

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """Every example once, in order (for evaluation), in batches of ``batch_size``."""
        for start in range(0, len(self), batch_size):
            yield self.batch(torch.arange(start, min(start + batch_size, len(self))), generator)


def pad_features(examples: Sequence[tuple[Sequence[int], Sequence[int], int]], max_seq_length: int,
                 pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad ``(input_ids, token_type_ids, next_sentence_label)`` triples into (N, max_seq_length) tensors."""
    n = len(examples)
    ids = torch.full((n, max_seq_length), pad_token_id, dtype=torch.long)
    types = torch.zeros((n, max_seq_length), dtype=torch.long)
    mask = torch.zeros((n, max_seq_length), dtype=torch.long)
    nsp = torch.zeros(n, dtype=torch.long)
    for i, (input_ids, token_type_ids, label) in enumerate(examples):
        if len(input_ids) > max_seq_length or len(token_type_ids) != len(input_ids):
            raise ValueError(f"example {i} has {len(input_ids)} ids / {len(token_type_ids)} segment ids; "
                             f"need equal lengths <= max_seq_length={max_seq_length}")
        ids[i, :len(input_ids)] = torch.tensor(input_ids, dtype=torch.long)
        types[i, :len(input_ids)] = torch.tensor(token_type_ids, dtype=torch.long)
        mask[i, :len(input_ids)] = 1
        nsp[i] = int(label)
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "next_sentence_label": nsp}


def make_dataset(features: dict[str, torch.Tensor], mask_spec: MaskSpec, *, static: bool,
                 generator: torch.Generator | None = None, info: dict[str, Any] | None = None) -> PretrainingDataset:
    """A :class:`PretrainingDataset`; ``static=True`` draws every mask now, with ``generator``."""
    labels = None
    ids = features["input_ids"]
    if static:
        if generator is None:
            raise ValueError("static masking draws its masks now: pass generator=torch.Generator().manual_seed(...)")
        ids, labels = mask_spec.apply(ids, features["attention_mask"], generator)
    return PretrainingDataset(ids, features["token_type_ids"], features["attention_mask"],
                              features["next_sentence_label"], mask_spec, labels, dict(info or {}))


class BatchStream:
    """Endless batches of ``batch_size`` examples: a fresh seeded shuffle each epoch, the last partial batch
    dropped. Its state (epoch, position, the masking generator) is saved in every checkpoint."""

    def __init__(self, dataset: PretrainingDataset, batch_size: int, seed: int) -> None:
        if len(dataset) < batch_size:
            raise ValueError(f"the data set has {len(dataset)} examples, fewer than batch_size={batch_size}; "
                             f"use more documents, a larger dupe_factor or a smaller batch")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.epoch, self.position = 0, 0
        self.generator = torch.Generator().manual_seed(seed)  # dynamic masks
        self._order: tuple[int, torch.Tensor] | None = None

    def order(self, epoch: int) -> torch.Tensor:
        """The shuffled example order of ``epoch`` (a function of seed and epoch only)."""
        if self._order is None or self._order[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = (epoch, torch.randperm(len(self.dataset), generator=g))
        return self._order[1]

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Batch:
        if self.position + self.batch_size > len(self.dataset):
            self.epoch, self.position = self.epoch + 1, 0
        indices = self.order(self.epoch)[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return self.dataset.batch(indices, self.generator)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "num_examples": len(self.dataset), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["num_examples"] != len(self.dataset) or state["seed"] != self.seed:
            raise ValueError(f"checkpoint was made with {state['num_examples']} examples and seed {state['seed']}, "
                             f"this data set has {len(self.dataset)} and seed {self.seed}: resume with the same "
                             f"corpus, vocabulary and settings")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.generator.set_state(state["generator"])


def build_dataset(documents: Sequence[Sequence[Any]], tokenizer: Any, *, max_seq_length: int, seed: int,
                  masking: str = "static", dupe_factor: int = 1, short_seq_prob: float = 0.1,
                  mlm_probability: float = 0.15, max_predictions: int | None = 20, whole_word: bool = False,
                  task: str = "nsp") -> PretrainingDataset:
    """Documents (lists of sentences: strings or word-piece lists) -> a masked-LM + NSP data set.

    Pairs come from :func:`bertedu.nsp.create_pretraining_examples` (``dupe_factor`` passes, each with fresh
    random cuts and NotNext partners); ``masking="static"`` then masks every copy once, ``"dynamic"`` leaves
    the masks to :meth:`PretrainingDataset.batch`. All randomness derives from ``seed``.
    """
    if masking not in ("static", "dynamic"):
        raise ValueError(f"masking must be 'static' or 'dynamic', got {masking!r}")
    instances = create_pretraining_examples(documents, tokenizer, max_seq_length=max_seq_length,
                                            rng=random.Random(seed), short_seq_prob=short_seq_prob,
                                            task=task, dupe_factor=dupe_factor)
    features = collate_instances(instances, tokenizer, max_seq_length)
    spec = MaskSpec(mlm_probability=mlm_probability, max_predictions=max_predictions,
                    is_continuation=continuation_lookup(tokenizer) if whole_word else None, **mask_kwargs(tokenizer))
    info = {"documents": len(documents), "instances": len(instances), "dupe_factor": dupe_factor,
            "masking": masking, "not_next_fraction": float(features["next_sentence_label"].float().mean())}
    return make_dataset(features, spec, static=masking == "static",
                        generator=torch.Generator().manual_seed(seed + 1), info=info)

"""The pre-training data pipeline (BERT paper Sec. 3.1 "Pre-training data", Appendix A.2).

documents -> NSP sentence pairs (:mod:`~bertedu.pretraining.nsp`) -> padded id tensors -> masked batches
(:mod:`~bertedu.pretraining.masking`), built by one function, :func:`prepare_dataset`.

Two ways to draw the masks, compared in the RoBERTa paper (Liu et al. 2019, Sec. 4.1):

* **static** (the original ``create_pretraining_data.py``): pairs and masks are made once, when the data set
  is built, ``dupe_factor`` times over with different randomness, so each sequence is seen with a handful of
  fixed masks for the whole run;
* **dynamic**: the same pairs, but a fresh mask every time a sequence is put into a batch.

The left-to-right ablation (Sec. 5.1, Table 5 "LTR & No NSP"; ``objective="ltr"``) uses the same pairs
unmasked, with next-token targets (:func:`bertedu.pretraining.demo.ltr_labels`) drawn up at batch time.

A :class:`BatchStream` walks the data set in a seeded random order, epoch after epoch, and can save and
restore its position and generator so that a resumed run draws exactly the batches it would have drawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch

from bertedu.pretraining.demo import ltr_labels
from bertedu.pretraining.masking import MaskSpec, continuation_lookup, mask_kwargs
from bertedu.pretraining.nsp import collate_instances, create_pretraining_examples

if TYPE_CHECKING:  # annotations only: the recipe module uses this one, not the other way round
    from bertedu.pretraining.recipe import PretrainConfig

Batch = dict[str, torch.Tensor]  # input_ids, token_type_ids, attention_mask, labels (B, T); next_sentence_label (B,)
MASKINGS = ("static", "dynamic")


@dataclass
class PretrainingDataset:
    """Pre-training examples as padded tensors, all (N, T) except ``next_sentence_label`` (N,).

    ``labels`` is set for a statically masked set (``input_ids`` are then already corrupted) and None for
    dynamic masking, where :meth:`batch` masks the clean ``input_ids`` with the generator it is given.
    ``next_sentence_label``: 0 = IsNext (B follows A), 1 = NotNext (B is random), as the reference.
    ``objective="ltr"``: no masks at all; :meth:`batch` gives the clean ids with next-token labels.
    """

    input_ids: torch.Tensor  # (N, T)
    token_type_ids: torch.Tensor  # (N, T)
    attention_mask: torch.Tensor  # (N, T)
    next_sentence_label: torch.Tensor  # (N,)
    mask_spec: MaskSpec
    labels: torch.Tensor | None = None  # (N, T) or None (dynamic masking)
    info: dict[str, Any] = field(default_factory=dict)
    objective: str = "mlm"  # "mlm" or "ltr"

    def __post_init__(self) -> None:
        if self.objective not in ("mlm", "ltr"):
            raise ValueError(f"PretrainingDataset.objective must be 'mlm' or 'ltr', got {self.objective!r}")
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
        if self.objective == "ltr":  # labels[:, t] = input_ids[:, t + 1]; the model reads only positions <= t
            batch["labels"] = ltr_labels(batch["input_ids"], batch["attention_mask"])
        elif self.labels is not None:
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


def prepare_dataset(documents: Sequence[Sequence[Any]], tokenizer: Any, config: PretrainConfig, *,
                    seed: int | None = None, masking: str | None = None,
                    dupe_factor: int | None = None) -> PretrainingDataset:
    """Documents (lists of sentences: strings or word-piece lists) -> a masked-LM + NSP data set.

    Pairs come from :func:`bertedu.create_pretraining_examples` (``dupe_factor`` passes, each with fresh
    random cuts and NotNext partners); ``masking="static"`` then masks every copy once, ``"dynamic"`` leaves
    the masks to :meth:`PretrainingDataset.batch`.  Lengths, masking rates and the defaults of ``seed``,
    ``masking`` and ``dupe_factor`` come from ``config``; all randomness derives from ``seed``.  A held-out
    set: pass ``masking="static"``, ``dupe_factor=1`` and another seed, so its masks are fixed for every
    evaluation.
    """
    seed = config.seed if seed is None else seed
    masking = masking or config.masking
    dupe_factor = config.dupe_factor if dupe_factor is None else dupe_factor
    if masking not in MASKINGS:
        raise ValueError(f"masking must be 'static' or 'dynamic', got {masking!r}")
    instances = create_pretraining_examples(documents, tokenizer, max_seq_length=config.max_seq_length,
                                            rng=random.Random(seed), short_seq_prob=config.short_seq_prob,
                                            dupe_factor=dupe_factor)
    features = collate_instances(instances, tokenizer, config.max_seq_length)
    mask_share, _, random_share = config.mask_mix  # Table 8: MASK / SAME / RND
    spec = MaskSpec(mlm_probability=config.mlm_probability, max_predictions=config.max_predictions_per_seq,
                    is_continuation=continuation_lookup(tokenizer) if config.whole_word else None,
                    mask_prob=mask_share, random_prob=random_share, **mask_kwargs(tokenizer))
    info = {"documents": len(documents), "instances": len(instances), "dupe_factor": dupe_factor,
            "masking": masking, "not_next_fraction": float(features["next_sentence_label"].float().mean())}
    ids, labels = features["input_ids"], None
    if config.objective == "ltr":  # next-token targets, made per batch; nothing is masked
        info["masking"] = "none (left-to-right LM)"
        return PretrainingDataset(ids, features["token_type_ids"], features["attention_mask"],
                                  features["next_sentence_label"], spec, None, info, objective="ltr")
    if masking == "static":  # every mask drawn now, once
        ids, labels = spec.apply(ids, features["attention_mask"], torch.Generator().manual_seed(seed + 1))
    return PretrainingDataset(ids, features["token_type_ids"], features["attention_mask"],
                              features["next_sentence_label"], spec, labels, info)

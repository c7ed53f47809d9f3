"""The pre-training data pipeline (BERT paper Sec. 3.1 "Pre-training data", Appendix A.2).

documents -> NSP sentence pairs (:mod:`bertedu.nsp`) -> padded id tensors -> masked batches (:mod:`bertedu.masking`).

Two ways to draw the masks, compared in the RoBERTa paper (Liu et al. 2019, Sec. 4.1):

* **static** (the original ``create_pretraining_data.py``): pairs and masks are made once, when the data set
  is built, ``dupe_factor`` times over with different randomness, so each sequence is seen with a handful of
  fixed masks for the whole run;
* **dynamic**: the same pairs, but a fresh mask every time a sequence is put into a batch.

A :class:`BatchStream` walks the data set in a seeded random order, epoch after epoch, and can save and
restore its position and generator so that a resumed run draws exactly the batches it would have drawn.

The state of a run lives here too: checkpoints written atomically (:func:`save_checkpoint`,
:func:`load_checkpoint`) and the JSON-lines metrics log the chapters plot (:func:`read_metrics`).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from bertedu._io import atomic_write
from bertedu.masking import continuation_lookup, mask_kwargs, mask_tokens, whole_word_mask_tokens
from bertedu.nsp import collate_instances, create_pretraining_examples

Batch = dict[str, torch.Tensor]
IGNORE_INDEX = -100  # label of positions the MLM loss skips (PITFALLS 1)


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


def frequency_baseline(train_set: PretrainingDataset, eval_set: PretrainingDataset) -> dict[str, float]:
    """What "predicting word frequencies only" scores on ``eval_set`` (PITFALLS 11: "loss stuck around 7").

    A model that ignores the context can do no better than the unigram distribution of the training
    targets: its loss is their cross-entropy (about the unigram entropy, add-one smoothed), its accuracy
    that of always answering the most frequent target. A trained model must beat both clearly.
    """
    def targets(data: PretrainingDataset) -> torch.Tensor:
        labels = data.labels if data.labels is not None else data.input_ids.masked_fill(
            torch.isin(data.input_ids, data.mask_spec.special_ids) | (data.attention_mask == 0), IGNORE_INDEX)
        return labels[labels != IGNORE_INDEX]

    vocab = train_set.mask_spec.vocab_size
    counts = torch.bincount(targets(train_set), minlength=vocab).double() + 1.0  # add-one smoothing
    log_p = (counts / counts.sum()).log()
    held = targets(eval_set)
    return {"unigram_loss": float(-log_p[held].mean()),
            "most_frequent_accuracy": float((held == counts.argmax()).double().mean()),
            "most_frequent_token_id": int(counts.argmax())}


# ----------------------------------------------------------------------------- checkpoints
CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.json"


def _write_torch(obj: Any) -> Callable[[Path], None]:
    return lambda tmp: torch.save(obj, tmp)


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def save_checkpoint(out_dir: str | Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, stream: BatchStream,
                    config: Any, keep: int = 2) -> Path:
    """Write ``checkpoints/step-XXXXXXX.pt`` atomically, then point ``checkpoints/latest.json`` at it.

    The file holds everything a resumed run needs to continue *bit for bit*: weights, AdamW moments,
    scheduler position, the global torch RNG (dropout), the data stream's generators and position, and the
    run's config (a ``bertedu.pretrain.PretrainConfig``). The pointer is updated last, so a crash mid-save leaves the previous checkpoint as "latest".
    Loading uses ``torch.load(weights_only=True)``: no arbitrary unpickling.
    """
    ckpt_dir = Path(out_dir) / CHECKPOINT_DIR
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "step": step,
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "stream": stream.state_dict(),
        "config_json": json.dumps(config.to_dict()),
    }
    name = f"step-{step:07d}.pt"
    atomic_write(ckpt_dir / name, _write_torch(state))
    atomic_write(ckpt_dir / LATEST, lambda tmp: tmp.write_text(json.dumps({"step": step, "file": name})))
    for old in sorted(ckpt_dir.glob("step-*.pt"))[:-keep]:  # zero-padded names sort by step
        old.unlink()
    return ckpt_dir / name


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The checkpoint file ``latest.json`` points at, or None if there is none yet."""
    pointer = Path(out_dir) / CHECKPOINT_DIR / LATEST
    if not pointer.is_file():
        return None
    path = pointer.parent / json.loads(pointer.read_text())["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{pointer} points at {path.name}, which is missing; delete the pointer to "
                                f"start over or restore the file")
    return path


# settings a resumed run may change: they do not alter what the next step computes
RESUMABLE_CHANGES = frozenset({"eval_every", "eval_max_batches", "save_every", "keep_checkpoints", "log_every",
                               "num_threads", "max_minutes", "device"})


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, stream: BatchStream,
                    config: Any = None) -> int:
    """Restore everything :func:`save_checkpoint` wrote; returns the step to continue from.

    With ``config`` (the resumed run's PretrainConfig), refuse to continue under different training
    settings (batch size, schedule, masking, ...): the result would be neither run.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if config is not None:
        saved, now = json.loads(state["config_json"]), json.loads(json.dumps(config.to_dict()))
        changed = sorted(k for k in saved.keys() | now.keys()
                         if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))
        if changed:
            raise ValueError(f"cannot resume {path}: these settings differ from the checkpoint's: "
                             + ", ".join(f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
                             + "; resume with the original settings or start a new out_dir")
    _unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    stream.load_state_dict(state["stream"])
    return int(state["step"])


# ----------------------------------------------------------------------------- metrics log
class MetricsLog:
    """Append-only JSON-lines log (one dict per line) that the chapters read back with :func:`read_metrics`."""

    def __init__(self, path: str | Path | None, enabled: bool = True) -> None:
        self.path = Path(path) if path is not None and enabled else None
        self.records: list[dict[str, Any]] = []

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (a resumed run redoes those steps)."""
        if self.path is not None and self.path.is_file():
            kept = [r for r in read_metrics(self.path) if r["step"] <= step]
            text = "".join(json.dumps(r) + "\n" for r in kept)
            atomic_write(self.path, lambda tmp: tmp.write_text(text))
            self.records = kept

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file, optionally only one split ("train" or "eval")."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut short by a crash
                records.append(json.loads(line))
    return [r for r in records if split is None or r.get("split") == split]

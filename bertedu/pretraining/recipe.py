"""The pre-training recipe (BERT paper Sec. 3.1 and Appendix A.2, "Pre-training Procedure").

The paper trains the two tasks together: "The training loss is the sum of the mean masked LM likelihood and
the mean next sentence prediction likelihood" (A.2), with Adam (lr 1e-4, beta1 0.9, beta2 0.999, L2 weight
decay 0.01), "learning rate warmup over the first 10,000 steps, and linear decay of the learning rate".
This module is that recipe, on one process, small enough to read:

* :class:`PretrainConfig` - every knob of a run, saved in each checkpoint.
* :func:`build_optimizer` (AdamW, no decay on biases and LayerNorm) and :func:`build_scheduler`.
* :func:`train_step` (MLM + NSP loss, gradient accumulation, clipping) and :func:`evaluate`.
* :func:`frequency_baseline`: what a model that ignores the context scores.

The data live in :mod:`~bertedu.pretraining.data`, the run loop in :mod:`~bertedu.pretraining.loop`,
multi-process training in :mod:`~bertedu.pretraining.distributed`, checkpoints and the metrics log in
:mod:`~bertedu.pretraining.state`, and ``python -m bertedu.pretrain`` in :mod:`~bertedu.pretraining.cli`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bertedu._io import DictConfig
from bertedu.model.checks import IGNORE_INDEX

if TYPE_CHECKING:  # annotations only
    from bertedu.pretraining.data import Batch, PretrainingDataset


DEFAULT_MASK_MIX = (0.8, 0.1, 0.1)  # Sec. 3.1: MASK / SAME / RND shares of the targets


@dataclass
class PretrainConfig(DictConfig):
    """Hyper-parameters of a pre-training run (paper A.2; defaults scaled down for a CPU).

    ``batch_size`` is the *global* number of sequences per micro-step (split over DDP ranks); one optimiser
    step sees ``batch_size * grad_accum_steps`` sequences (the paper: 256 sequences of 512 tokens).
    """

    preset: str = "tiny"  # model size (BertConfig.preset) when no model config is given
    max_seq_length: int = 128  # the paper uses 128 for 90% of the steps, then 512
    batch_size: int = 32
    grad_accum_steps: int = 1
    total_steps: int = 1000  # optimiser steps (the paper: 1,000,000)
    warmup_steps: int = 100  # the paper: 10,000
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6  # the original code's epsilon
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # the original code clips the global norm to 1.0
    mlm_probability: float = 0.15
    # the library calls it max_predictions (MaskSpec); the original script's name stays here because every
    # checkpoint stores this config and a resumed run compares it field by field
    max_predictions_per_seq: int = 20  # the original script: 20 at length 128
    short_seq_prob: float = 0.1  # pairs shorter than max length, so fine-tuning lengths are seen too
    nsp: bool = True  # False = the "No NSP" ablation of Table 5 (MLM loss only)
    masking: str = "static"  # "static": drawn once, dupe_factor copies; "dynamic": new masks per batch
    dupe_factor: int = 5  # static masking: how many differently-masked copies of the data
    whole_word: bool = False  # mask all WordPieces of a word together
    masked_only: bool = True  # vocabulary logits only at masked positions (same loss, faster)
    eval_every: int = 200  # 0 = only at the end
    eval_max_batches: int | None = None
    save_every: int = 500  # 0 = only at the end (when an out_dir is given)
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 12345
    device: str = "cpu"
    dtype: str = "float32"  # "bfloat16" = autocast the forward pass (GPU)
    num_threads: int | None = None
    max_minutes: float | None = None  # stop (with a checkpoint) after this much training time; resume later
    dropout: float | None = None  # None = the preset's 0.1 (A.2); 0.0 for short runs (Cramming, Geiping & Goldstein 2022)
    # The ablations of Sec. 5 and Appendix C (added later: a checkpoint without them used these defaults,
    # see ADDED_FIELDS).  "ltr" = Table 5's left-to-right LM: causal attention, next-token targets, needs nsp=False.
    objective: str = "mlm"
    mask_mix: tuple[float, float, float] = DEFAULT_MASK_MIX  # Table 8's MASK / SAME / RND shares of the targets

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]  # JSON gives a list
        self.mask_mix = tuple(self.mask_mix)  # type: ignore[assignment]
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the bad field and the fix."""
        for name in ("max_seq_length", "batch_size", "grad_accum_steps", "total_steps", "dupe_factor",
                     "max_predictions_per_seq", "log_every", "keep_checkpoints"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PretrainConfig.{name} must be an int >= 1, got {value!r}")
        for name in ("warmup_steps", "eval_every", "save_every", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"PretrainConfig.{name} must be an int >= 0, got {value!r}")
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"PretrainConfig.warmup_steps ({self.warmup_steps}) must be <= total_steps "
                             f"({self.total_steps}); the paper warms up for 1% of training")
        if not 0 < self.mlm_probability < 1 or not 0 <= self.short_seq_prob <= 1:
            raise ValueError("PretrainConfig.mlm_probability must be in (0, 1) and short_seq_prob in [0, 1]")
        if not self.lr > 0 or self.weight_decay < 0 or not self.max_grad_norm > 0:
            raise ValueError("PretrainConfig.lr and max_grad_norm must be > 0 and weight_decay >= 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"PretrainConfig.betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.masking not in ("static", "dynamic"):
            raise ValueError(f"PretrainConfig.masking must be 'static' or 'dynamic', got {self.masking!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"PretrainConfig.dropout must be None or in [0, 1), got {self.dropout!r}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"PretrainConfig.dtype must be 'float32' or 'bfloat16', got {self.dtype!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"PretrainConfig.objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.objective == "ltr" and self.nsp:
            raise ValueError("PretrainConfig.objective='ltr' needs nsp=False: under causal attention [CLS] sees "
                             "only itself, so NSP cannot be learned (the paper's row is 'LTR & No NSP')")
        mix = self.mask_mix
        if (len(mix) != 3 or not all(isinstance(x, (int, float)) and 0 <= x <= 1 for x in mix)
                or abs(sum(mix) - 1) > 1e-6):
            raise ValueError(f"PretrainConfig.mask_mix must be three shares (MASK, SAME, RND) in [0, 1] summing "
                             f"to 1, got {mix!r}; the paper's default is (0.8, 0.1, 0.1)")


OBJECTIVES = ("mlm", "ltr")


def heldout_config(config: PretrainConfig) -> PretrainConfig:
    """The settings the held-out set is built with: ``config`` with the default 80/10/10 mixture, so that every
    Table 8 mixture is scored on the same held-out targets (the CLI, the report and the analysis tool agree)."""
    return dataclasses.replace(config, mask_mix=DEFAULT_MASK_MIX)


# fields added to PretrainConfig after runs had been saved: an older checkpoint lacks them and was made
# with these values (load_checkpoint fills them in before comparing settings)
ADDED_FIELDS: dict[str, Any] = {"objective": "mlm", "mask_mix": list(DEFAULT_MASK_MIX)}


class NoNextSentenceHead(nn.Module):
    """Stands in for ``cls.seq_relationship`` when NSP is off (Table 5, "No NSP"): no weights, so the model
    and its checkpoints have no NSP head; returns zeros (B, 2), which no loss or metric reads."""

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return pooled_output.new_zeros(pooled_output.shape[0], 2)  # (B, 2)


def has_nsp_head(model: nn.Module) -> bool:
    """False when ``model`` (or the model it wraps) carries a :class:`NoNextSentenceHead`."""
    return not any(isinstance(m, NoNextSentenceHead) for m in model.modules())


def _drop_nsp(metrics: dict[str, float], model: nn.Module) -> dict[str, float]:
    """A model without an NSP head has no NSP numbers to report."""
    if not has_nsp_head(model):
        metrics.pop("nsp_loss", None)
        metrics.pop("nsp_accuracy", None)
    return metrics


def exempt_from_weight_decay(name: str) -> bool:
    """True for a parameter AdamW must not decay: biases and LayerNorm weights (A.2, the original code).

    The original optimisation.py excludes "LayerNorm", "layer_norm" and "bias": shrinking a LayerNorm gain
    or a bias towards 0 is not a useful prior.
    """
    return name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name


def build_optimizer(model: nn.Module, config: PretrainConfig) -> torch.optim.AdamW:
    """AdamW (decoupled weight decay, Loshchilov & Hutter) with the paper's settings (A.2).

    Two parameter groups: weight matrices and embeddings decay by ``config.weight_decay``; biases and
    LayerNorm weights do not. (The original code's AdamWeightDecay also skips Adam's bias correction;
    ``torch.optim.AdamW`` keeps it, as every PyTorch reimplementation does.)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    decay, no_decay = [], []
    for name, param in model.named_parameters():  # tied weights appear once
        if param.requires_grad:
            (no_decay if exempt_from_weight_decay(name) else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)


def lr_multiplier(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor at ``step``: 0 -> 1 linearly over the warmup, then 1 -> 0 at ``total_steps``."""
    if step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def build_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup then linear decay to zero (paper A.2); call ``.step()`` after each optimiser step."""
    if not 0 <= warmup_steps <= total_steps or total_steps < 1:
        raise ValueError(f"need 0 <= warmup_steps <= total_steps and total_steps >= 1, "
                         f"got warmup_steps={warmup_steps}, total_steps={total_steps}")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_multiplier(step, warmup_steps, total_steps))


def _autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _forward(model: nn.Module, batch: Batch, config: PretrainConfig) -> Any:
    return model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                 attention_mask=batch["attention_mask"], labels=batch["labels"],
                 next_sentence_label=batch["next_sentence_label"] if config.nsp else None,
                 masked_only=config.masked_only)


def _counts(out: Any, batch: Batch, config: PretrainConfig) -> torch.Tensor:
    """[MLM loss sum, masked tokens, correct, NSP loss sum, sequences, correct] of one (local) batch."""
    labels = batch["labels"]
    chosen = labels != IGNORE_INDEX
    n_mask = chosen.sum()
    logits = out.prediction_logits if config.masked_only else out.prediction_logits[chosen]  # (N, V)
    mlm_correct = (logits.argmax(-1) == labels[chosen]).sum()
    mlm_sum = out.mlm_loss.detach().float() * n_mask  # the model's mean is 0 (not NaN) without targets
    nsp_labels = batch["next_sentence_label"]
    nsp_correct = (out.seq_relationship_logits.argmax(-1) == nsp_labels).sum()
    nsp_sum = (out.nsp_loss.detach().float() * len(nsp_labels) if config.nsp else
               F.cross_entropy(out.seq_relationship_logits.detach().float(), nsp_labels, reduction="sum"))
    return torch.stack([mlm_sum.cpu(), n_mask.cpu().float(), mlm_correct.cpu().float(), nsp_sum.cpu(),
                        torch.tensor(float(len(nsp_labels))), nsp_correct.cpu().float()])


def _summary(totals: torch.Tensor) -> dict[str, float]:
    mlm_sum, n_mask, mlm_ok, nsp_sum, n_seq, nsp_ok = totals.tolist()
    mlm_loss, nsp_loss = mlm_sum / max(n_mask, 1), nsp_sum / max(n_seq, 1)
    return {"mlm_loss": mlm_loss, "mlm_accuracy": mlm_ok / max(n_mask, 1), "nsp_loss": nsp_loss,
            "nsp_accuracy": nsp_ok / max(n_seq, 1), "masked_tokens": n_mask}


def step_totals(micro_batches: Sequence[Batch]) -> tuple[int, int]:
    """Masked tokens and sequences in all ``micro_batches`` of one optimiser step (the means' denominators)."""
    total_mask = sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in micro_batches)
    return total_mask, sum(len(b["input_ids"]) for b in micro_batches)


def micro_step_loss(model: nn.Module, batch: Batch, config: PretrainConfig, total_mask: int,
                    total_seq: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward one micro-batch: its share of the step's loss and its counts (see :func:`_counts`).

    The step's loss is the mean MLM loss over all the step's masked tokens plus the mean NSP loss over all its
    pairs, so each micro-batch's mean is weighted by its share of them.
    """
    with _autocast(batch["input_ids"].device, config.dtype):
        out = _forward(model, batch, config)
    n_mask = int((batch["labels"] != IGNORE_INDEX).sum())
    # always in the graph, even with weight 0 (no masked token here: mlm_loss is 0, not 0/0), so that
    # data-parallel training sees a gradient for every head parameter on every process
    loss = out.mlm_loss.float() * (n_mask / max(total_mask, 1))
    if config.nsp:
        loss = loss + out.nsp_loss.float() * (len(batch["input_ids"]) / total_seq)
    return loss, _counts(out, batch, config)


def apply_update(model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None, totals: torch.Tensor,
                 config: PretrainConfig) -> dict[str, float]:
    """Clip the global gradient norm, step the optimiser and the schedule, and summarise the step."""
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    metrics = _summary(totals)
    metrics["loss"] = metrics["mlm_loss"] + (metrics["nsp_loss"] if config.nsp else 0.0)
    metrics.update(lr=lr, grad_norm=float(grad_norm))
    return _drop_nsp(metrics, model)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler | None, micro_batches: Sequence[Batch],
               config: PretrainConfig) -> dict[str, float]:
    """One optimiser step over ``micro_batches`` (gradient accumulation), on one process.

    The loss is the paper's sum of the mean MLM loss (over masked positions only: bug #1 in book/bugs.md)
    and the mean NSP loss (over every pair, IsNext and NotNext alike: bug #2), where "mean" is over the
    *whole* step, so accumulating micro-batches gives the same update as one big batch.  Then clip the
    gradient norm and step.
    (:func:`bertedu.pretraining.distributed.distributed_train_step` is the same step under DDP.)
    """
    if not micro_batches:
        raise ValueError("micro_batches is empty: pass at least one batch")
    device = next(model.parameters()).device
    total_mask, total_seq = step_totals(micro_batches)
    totals = torch.zeros(6)
    model.train()
    for batch in micro_batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        loss, counts = micro_step_loss(model, batch, config, total_mask, total_seq)
        loss.backward()
        totals += counts
    return apply_update(model, optimizer, scheduler, totals, config)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterator[Batch] | Sequence[Batch],
             config: PretrainConfig) -> dict[str, float]:
    """Held-out MLM loss and accuracy (over masked positions) and NSP loss and accuracy (over all pairs).

    ``model`` is a plain (unwrapped) model: evaluation runs on one process. With ``objective="ltr"`` the
    "mlm" numbers are next-token loss and accuracy; a model without an NSP head reports no NSP numbers.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = torch.zeros(6)
    # report the NSP head's accuracy even when it was not trained (a model without one has nothing to report)
    cfg = dataclasses.replace(config, nsp=True) if has_nsp_head(model) and config.objective == "mlm" else config
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        with _autocast(device, config.dtype):
            out = _forward(model, batch, cfg)
        totals += _counts(out, batch, cfg)
    model.train(was_training)
    return _drop_nsp(_summary(totals), model)


def frequency_baseline(train_set: PretrainingDataset, eval_set: PretrainingDataset) -> dict[str, float]:
    """What "predicting word frequencies only" scores on ``eval_set`` (bug #11 in book/bugs.md: "loss stuck around 7").

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

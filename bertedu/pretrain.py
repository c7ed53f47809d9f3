"""Pre-training loop (BERT paper Sec. 3.1 and Appendix A.2, "Pre-training Procedure").

The paper trains the two tasks together: "The training loss is the sum of the mean masked LM likelihood and
the mean next sentence prediction likelihood" (A.2), with Adam (lr 1e-4, beta1 0.9, beta2 0.999, L2 weight
decay 0.01), "learning rate warmup over the first 10,000 steps, and linear decay of the learning rate".
This module is that recipe, small enough to read:

* :class:`PretrainConfig` - every knob of a run, saved in each checkpoint.
* :func:`build_optimizer` (AdamW, no decay on biases and LayerNorm) and :func:`build_scheduler`.
* :func:`train_step` (MLM + NSP loss, gradient accumulation, clipping) and :func:`evaluate`.
* :func:`train`, which ties it together (also under ``torchrun``: DDP), and ``python -m bertedu.pretrain``.

The data side (documents -> pairs -> masked batches), the checkpoints (atomic files that resume a killed run
exactly) and the metrics log live in :mod:`bertedu.pretrain_data`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.config import BertConfig
from bertedu.pretrain_data import (CHECKPOINT_DIR, LATEST, BatchStream, MetricsLog, PretrainingDataset,  # noqa: F401
                                   atomic_write, build_dataset, frequency_baseline, latest_checkpoint,
                                   load_checkpoint, read_metrics, save_checkpoint)

Batch = dict[str, torch.Tensor]
from bertedu.pretrain_data import IGNORE_INDEX  # label of positions the MLM loss skips (PITFALLS 1)


@dataclass
class PretrainConfig:
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

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]  # JSON gives a list
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "PretrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# ----------------------------------------------------------------------------- optimiser and schedule
def _no_decay(name: str) -> bool:
    # the original optimisation.py excludes "LayerNorm", "layer_norm" and "bias" from weight decay:
    # shrinking a LayerNorm gain or a bias towards 0 is not a useful prior.
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
            (no_decay if _no_decay(name) else decay).append(param)
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


# ----------------------------------------------------------------------------- one step
@dataclass
class DistInfo:
    """Where this process sits in a data-parallel job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def shard(batch: Batch, dist: DistInfo) -> Batch:
    """This rank's contiguous slice of a global batch (every rank draws the same global batch)."""
    if dist.world_size == 1:
        return batch
    size = len(batch["input_ids"])
    if size % dist.world_size:
        raise ValueError(f"batch_size ({size}) must be divisible by the number of processes ({dist.world_size})")
    per = size // dist.world_size
    return {k: v[dist.rank * per:(dist.rank + 1) * per] for k, v in batch.items()}


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


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler | None, micro_batches: Sequence[Batch],
               config: PretrainConfig, dist: DistInfo | None = None) -> dict[str, float]:
    """One optimiser step over ``micro_batches`` (global batches; each rank uses its shard).

    The loss is the paper's sum of the mean MLM loss (over masked positions only, PITFALLS 1) and the mean
    NSP loss (over every pair, IsNext and NotNext alike, PITFALLS 2), where "mean" is over the *whole* step:
    each micro-batch's mean is weighted by its share of the step's masked tokens / sequences, so gradient
    accumulation and DDP give the same update as one big batch. Then clip the global gradient norm, step.
    """
    dist = dist or DistInfo()
    if not micro_batches:
        raise ValueError("micro_batches is empty: pass at least one batch")
    device = next(model.parameters()).device
    total_mask = sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in micro_batches)
    total_seq = sum(len(b["input_ids"]) for b in micro_batches)
    totals = torch.zeros(6)
    model.train()
    for i, global_batch in enumerate(micro_batches):
        batch = {k: v.to(device) for k, v in shard(global_batch, dist).items()}
        last = i == len(micro_batches) - 1
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with _autocast(device, config.dtype):
                out = _forward(model, batch, config)
            n_mask = int((batch["labels"] != IGNORE_INDEX).sum())
            # always in the graph, even with weight 0 (no masked token here: mlm_loss is 0, not 0/0), so that
            # DDP sees a gradient for every head parameter on every rank
            loss = out.mlm_loss.float() * (n_mask / max(total_mask, 1))
            if config.nsp:
                loss = loss + out.nsp_loss.float() * (len(batch["input_ids"]) / total_seq)
            # DDP averages gradients over ranks; our shares already sum to 1 over ranks, so undo the mean.
            (loss * dist.world_size).backward()
        totals += _counts(out, batch, config)
    if dist.world_size > 1:
        torch.distributed.all_reduce(totals)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    metrics = _summary(totals)
    metrics["loss"] = metrics["mlm_loss"] + (metrics["nsp_loss"] if config.nsp else 0.0)
    metrics.update(lr=lr, grad_norm=float(grad_norm))
    return metrics


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterator[Batch] | Sequence[Batch],
             config: PretrainConfig) -> dict[str, float]:
    """Held-out MLM loss and accuracy (over masked positions) and NSP loss and accuracy (over all pairs)."""
    module = getattr(model, "module", model)  # unwrap DDP: evaluation runs on one process
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    totals = torch.zeros(6)
    cfg = dataclasses.replace(config, nsp=True)  # report NSP accuracy even in the no-NSP ablation
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        with _autocast(device, config.dtype):
            out = _forward(module, batch, cfg)
        totals += _counts(out, batch, cfg)
    module.train(was_training)
    return _summary(totals)


# ----------------------------------------------------------------------------- the run
def prepare_dataset(documents: Sequence[Sequence[Any]], tokenizer: Any, config: PretrainConfig, *,
                    seed: int | None = None, masking: str | None = None,
                    dupe_factor: int | None = None) -> PretrainingDataset:
    """:func:`bertedu.pretrain_data.build_dataset` with the run's settings (a held-out set: pass
    ``masking="static"``, ``dupe_factor=1`` and another seed, so its masks are fixed for every evaluation)."""
    return build_dataset(documents, tokenizer, max_seq_length=config.max_seq_length,
                         seed=config.seed if seed is None else seed, masking=masking or config.masking,
                         dupe_factor=config.dupe_factor if dupe_factor is None else dupe_factor,
                         short_seq_prob=config.short_seq_prob, mlm_probability=config.mlm_probability,
                         max_predictions=config.max_predictions_per_seq, whole_word=config.whole_word)


def init_distributed(device: str = "cpu") -> DistInfo:
    """Join the process group ``torchrun`` describes (RANK / WORLD_SIZE in the environment), if any."""
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        return DistInfo(tdist.get_rank(), tdist.get_world_size())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    tdist.init_process_group(backend=backend)
    return DistInfo(tdist.get_rank(), tdist.get_world_size())


def _device(config: PretrainConfig, dist: DistInfo) -> torch.device:
    if config.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("PretrainConfig.device is 'cuda' but no GPU is visible; use device='cpu'")
        local = int(os.environ.get("LOCAL_RANK", dist.rank if dist.world_size > 1 else 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device(config.device)


def build_model(config: PretrainConfig, vocab_size: int, model_config: BertConfig | None = None) -> nn.Module:
    """A freshly initialised :class:`bertedu.BertForPreTraining` (seeded from ``config.seed``)."""
    from bertedu.heads import BertForPreTraining

    if model_config is None:
        drop = {} if config.dropout is None else dict(hidden_dropout_prob=config.dropout,
                                                       attention_probs_dropout_prob=config.dropout)
        model_config = BertConfig.preset(config.preset, vocab_size=vocab_size,
                                         max_position_embeddings=max(512, config.max_seq_length), **drop)
    if model_config.vocab_size != vocab_size:
        raise ValueError(f"model_config.vocab_size ({model_config.vocab_size}) differs from the data's vocabulary "
                         f"({vocab_size}); build the config with vocab_size=len(tokenizer.vocab)")
    return BertForPreTraining(model_config, generator=torch.Generator().manual_seed(config.seed))


def train(config: PretrainConfig, train_set: PretrainingDataset, eval_set: PretrainingDataset | None = None, *,
          model: nn.Module | None = None, model_config: BertConfig | None = None, out_dir: str | Path | None = None,
          resume: bool = False, progress: bool = True,
          on_step: Callable[[int, dict[str, float]], None] | None = None) -> list[dict[str, Any]]:
    """Pre-train ``model`` (built from ``model_config`` / ``config.preset`` if None) on ``train_set``.

    Every ``log_every`` steps a "train" record (means over those steps) and every ``eval_every`` steps an
    "eval" record (:func:`evaluate` on ``eval_set``) go to ``out_dir/metrics.jsonl``; checkpoints go to
    ``out_dir/checkpoints`` every ``save_every`` steps and at the end. ``resume=True`` continues from the
    latest checkpoint there. Under ``torchrun`` the model is wrapped in DistributedDataParallel, each rank
    trains on its slice of every global batch, and only rank 0 writes. ``on_step(step, metrics)`` is called
    after every step. Returns the list of logged records (the whole history when resuming).
    """
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (where the checkpoints are)")
    if not resume and out_dir is not None and (Path(out_dir) / CHECKPOINT_DIR / LATEST).exists():
        raise ValueError(f"{out_dir} already holds checkpoints: pass resume=True to continue that run, "
                         f"or choose an empty out_dir")
    dist = init_distributed(config.device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = _device(config, dist)
    if model is None:
        model = build_model(config, train_set.mask_spec.vocab_size, model_config)
    # nn.Dropout takes no generator: it draws from torch's global one, so the run seeds it here and every
    # checkpoint saves its state (a different stream per rank, as usual for data parallelism).
    torch.manual_seed(config.seed + dist.rank)
    model.to(device)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config.warmup_steps, config.total_steps)
    stream = BatchStream(train_set, config.batch_size, config.seed)
    out = Path(out_dir) if out_dir is not None else None
    log = MetricsLog(out / "metrics.jsonl" if out else None, enabled=dist.is_main)
    step = 0
    if resume and out is not None and (ckpt := latest_checkpoint(out)) is not None:
        step = load_checkpoint(ckpt, model, optimizer, scheduler, stream, config)
        log.truncate_after(step)
    elif out is not None and dist.is_main and log.path is not None and log.path.exists():
        log.path.unlink()  # a fresh run starts a fresh log
    if dist.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                        find_unused_parameters=not config.nsp)  # no NSP: the pooler idles
    _run(config, model, optimizer, scheduler, stream, eval_set, dist, log, out, step, progress, on_step)
    return log.records


def _evaluate_set(model: nn.Module, eval_set: PretrainingDataset, config: PretrainConfig) -> dict[str, float]:
    batches = eval_set.batches(config.batch_size)
    if config.eval_max_batches is not None:
        batches = (b for b, _ in zip(batches, range(config.eval_max_batches)))
    return evaluate(model, batches, config)


def _run(config: PretrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
         scheduler: torch.optim.lr_scheduler.LambdaLR, stream: BatchStream, eval_set: PretrainingDataset | None,
         dist: DistInfo, log: MetricsLog, out: Path | None, step: int, progress: bool,
         on_step: Callable[[int, dict[str, float]], None] | None) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(total=config.total_steps, initial=step, disable=not (progress and dist.is_main), desc="pretrain")
    window: list[dict[str, float]] = []
    start = time.perf_counter()
    if step == 0 and eval_set is not None and dist.is_main:  # the untrained model: where the curves start
        log.append({**_evaluate_set(model, eval_set, config), "step": 0, "split": "eval"})
    while step < config.total_steps:
        micro = [next(stream) for _ in range(config.grad_accum_steps)]
        metrics = train_step(model, optimizer, scheduler, micro, config, dist)
        step += 1
        window.append(metrics)
        last = step == config.total_steps or _out_of_time(config, start, dist)
        if step % config.log_every == 0 or last:
            record = {k: sum(m[k] for m in window) / len(window) for k in window[0]}
            record.update(step=step, split="train", lr=metrics["lr"], epoch=stream.epoch,
                          elapsed_s=round(time.perf_counter() - start, 3))
            log.append(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}", mlm_acc=f"{record['mlm_accuracy']:.3f}")
            window = []
        if eval_set is not None and dist.is_main and (
                (config.eval_every and step % config.eval_every == 0) or last):
            log.append({**_evaluate_set(model, eval_set, config), "step": step, "split": "eval"})
        if out is not None and dist.is_main and (
                (config.save_every and step % config.save_every == 0) or last):
            save_checkpoint(out, step, model, optimizer, scheduler, stream, config, config.keep_checkpoints)
        bar.update(1)
        if on_step is not None:
            on_step(step, metrics)
        if last:
            break
    bar.close()


def _out_of_time(config: PretrainConfig, start: float, dist: DistInfo) -> bool:
    """True once ``config.max_minutes`` of training have passed (rank 0's clock decides for every rank)."""
    if config.max_minutes is None:
        return False
    flag = torch.tensor([float(time.perf_counter() - start > 60 * config.max_minutes)])
    if dist.world_size > 1:
        torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


# ----------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bertedu.pretrain",
                                description="Pre-train a small BERT with MLM + NSP (paper Sec. 3.1, A.2). "
                                            "Works under torchrun (DDP) too.")
    d = PretrainConfig()
    p.add_argument("--out", required=True, help="run directory (metrics.jsonl, checkpoints/, final/)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/latest.json")
    p.add_argument("--corpus", nargs="+", default=["wikitext-valid", "wikitext-test", "gutenberg", "speeches"],
                   choices=["wikitext-valid", "wikitext-test", "gutenberg", "speeches"])
    p.add_argument("--holdout", type=int, default=5, help="hold out every k-th WikiText article for evaluation")
    p.add_argument("--max-documents", type=int, default=None, help="use an evenly spaced subset (quick runs)")
    p.add_argument("--vocab", default=None, help="vocab.txt to use; default: train one (bertedu.train_wordpiece)")
    p.add_argument("--vocab-size", type=int, default=8000, help="size of the vocabulary to train")
    p.add_argument("--preset", default=d.preset, choices=["tiny", "mini", "small", "medium", "base", "large"])
    p.add_argument("--steps", type=int, default=d.total_steps)
    p.add_argument("--warmup", type=int, default=None, help="warmup steps (default: 1%% of --steps, as the paper)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--grad-accum", type=int, default=d.grad_accum_steps)
    p.add_argument("--seq-len", type=int, default=d.max_seq_length)
    p.add_argument("--max-predictions", type=int, default=d.max_predictions_per_seq)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--masking", choices=["static", "dynamic"], default=d.masking)
    p.add_argument("--dupe-factor", type=int, default=d.dupe_factor)
    p.add_argument("--whole-word", action="store_true")
    p.add_argument("--no-nsp", action="store_true", help="MLM loss only (the Table 5 'No NSP' ablation)")
    p.add_argument("--full-logits", action="store_true", help="vocabulary logits at every position (slower)")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=d.dtype)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this many minutes of training (a checkpoint is saved; --resume continues)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dropout", type=float, default=None, help="hidden and attention dropout (default: 0.1, A.2)")
    p.add_argument("--drop-books", nargs="*", default=[], help="Gutenberg books to leave out, e.g. bible-kjv")
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints, help="resumable checkpoints kept")
    return p


def _tokenizer(args: argparse.Namespace, train_docs: list[list[str]], out: Path, is_main: bool) -> Any:
    from bertedu.tokenizer import BertTokenizer
    from bertedu.wordpiece import train_wordpiece

    saved = out / "vocab.txt"
    if args.vocab:
        return BertTokenizer.from_vocab_file(args.vocab)
    if args.resume and saved.is_file():  # the resumed run must use the very same vocabulary
        return BertTokenizer.from_vocab_file(saved)
    tokens = train_wordpiece((s for doc in train_docs for s in doc), args.vocab_size)
    tokenizer = BertTokenizer.from_tokens(tokens)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        tokenizer.save_vocabulary(saved)
    return tokenizer


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """``python -m bertedu.pretrain``: corpus -> vocabulary -> data sets -> :func:`train` -> ``OUT/final``."""
    from bertedu.checkpoint import save_pretrained
    from bertedu.corpus import pretraining_documents

    args = _parser().parse_args(argv)
    config = PretrainConfig(
        preset=args.preset, max_seq_length=args.seq_len, batch_size=args.batch_size, grad_accum_steps=args.grad_accum,
        total_steps=args.steps, warmup_steps=max(1, args.steps // 100) if args.warmup is None else args.warmup,
        lr=args.lr, max_predictions_per_seq=args.max_predictions, nsp=not args.no_nsp, masking=args.masking,
        dupe_factor=args.dupe_factor, whole_word=args.whole_word, masked_only=not args.full_logits,
        eval_every=args.eval_every, save_every=args.save_every, log_every=args.log_every, seed=args.seed,
        device=args.device, dtype=args.dtype, num_threads=args.threads, max_minutes=args.max_minutes,
        dropout=args.dropout, keep_checkpoints=args.keep_checkpoints)
    dist = init_distributed(config.device)
    out = Path(args.out)
    sources = tuple(args.corpus)
    train_docs = pretraining_documents(sources, holdout=args.holdout, part="train", drop_books=args.drop_books)
    held_docs = (pretraining_documents(sources, holdout=args.holdout, part="heldout")
                 if args.holdout and any(s.startswith("wikitext") for s in sources) else [])
    if args.max_documents and len(train_docs) > args.max_documents:
        stride = len(train_docs) / args.max_documents
        train_docs = [train_docs[int(i * stride)] for i in range(args.max_documents)]
    tokenizer = _tokenizer(args, train_docs, out, dist.is_main)
    train_set = prepare_dataset(train_docs, tokenizer, config)
    eval_set = (prepare_dataset(held_docs, tokenizer, config, seed=config.seed + 7, masking="static", dupe_factor=1)
                if len(held_docs) >= 2 else None)
    if dist.is_main:
        summary = {"config": config.to_dict(), "argv": list(argv) if argv is not None else None,
                   "train_documents": len(train_docs), "train_examples": len(train_set),
                   "heldout_documents": len(held_docs), "heldout_examples": len(eval_set) if eval_set else 0,
                   "vocab_size": len(tokenizer.vocab), "world_size": dist.world_size,
                   "frequency_baseline": frequency_baseline(train_set, eval_set) if eval_set else None}
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    model = build_model(config, len(tokenizer.vocab))
    history = train(config, train_set, eval_set, model=model, out_dir=out, resume=args.resume,
                    progress=not args.no_progress)
    if dist.is_main:
        save_pretrained(model, out / "final", tokenizer)
    return history


if __name__ == "__main__":
    main()

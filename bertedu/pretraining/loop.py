"""The pre-training run (BERT paper Sec. 3.1, Appendix A.2): :func:`train` ties the recipe, the data, the
run state and data-parallel training together.

Every ``log_every`` steps a "train" record and every ``eval_every`` steps an "eval" record go to
``out_dir/metrics.jsonl``; checkpoints go to ``out_dir/checkpoints``; ``resume=True`` continues a killed
run bit for bit on CPU.  ``nn.Dropout`` takes no generator: it reads torch's *global* generator, so
:func:`train` seeds it (``config.seed + rank``) and every checkpoint saves and restores its state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from bertedu.config import BertConfig
from bertedu.model.heads import BertForPreTraining
from bertedu.pretraining.data import BatchStream, PretrainingDataset
from bertedu.pretraining.distributed import (DistInfo, distributed_train_step, init_distributed, pick_device,
                                             unwrap_model)
from bertedu.pretraining.recipe import (NoNextSentenceHead, PretrainConfig, build_optimizer, build_scheduler,
                                        evaluate)
from bertedu.pretraining.state import (CHECKPOINT_DIR, LATEST, MetricsLog, latest_checkpoint, load_checkpoint,
                                       save_checkpoint)


def build_model(config: PretrainConfig, vocab_size: int, model_config: BertConfig | None = None) -> nn.Module:
    """A freshly initialised :class:`bertedu.BertForPreTraining` (seeded from ``config.seed``).

    ``config.dropout``, when set, overrides the dropout of ``model_config`` too (one source of truth).
    The ablations of Table 5: ``objective="ltr"`` makes the attention causal (``is_decoder=True``, also
    written into the saved config.json, so fine-tuning stays left-to-right as in Sec. 5.1), and
    ``nsp=False`` removes the NSP head (:class:`~bertedu.pretraining.recipe.NoNextSentenceHead`: no
    ``cls.seq_relationship`` weights in the model or its checkpoints; the other weights are drawn as before).
    """
    drop = {} if config.dropout is None else dict(hidden_dropout_prob=config.dropout,
                                                   attention_probs_dropout_prob=config.dropout)
    if config.objective == "ltr":
        drop["is_decoder"] = True
    if model_config is None:
        model_config = BertConfig.preset(config.preset, vocab_size=vocab_size,
                                         max_position_embeddings=max(512, config.max_seq_length), **drop)
    elif drop:
        model_config = BertConfig.from_dict({**model_config.to_dict(), **drop})
    if model_config.vocab_size != vocab_size:
        raise ValueError(f"model_config.vocab_size ({model_config.vocab_size}) differs from the data's vocabulary "
                         f"({vocab_size}); build the config with vocab_size=len(tokenizer.vocab)")
    model = BertForPreTraining(model_config, generator=torch.Generator().manual_seed(config.seed))
    if not config.nsp:
        model.cls.seq_relationship = NoNextSentenceHead()
    return model


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
    if train_set.objective != config.objective:
        raise ValueError(f"train_set was prepared for objective={train_set.objective!r} but the config says "
                         f"{config.objective!r}; build it with prepare_dataset(..., config) of this run")
    dist = init_distributed(config.device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = pick_device(config, dist)
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
    return evaluate(unwrap_model(model), batches, config)


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
        metrics = distributed_train_step(model, optimizer, scheduler, micro, config, dist)
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

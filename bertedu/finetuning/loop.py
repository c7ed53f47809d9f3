"""The fine-tuning loop (BERT paper, Sec. 4 and Appendix A.3): one task head, AdamW, warmup + linear decay.

"For fine-tuning, most model hyperparameters are the same as in pre-training, with the exception of
the batch size, learning rate, and number of training epochs" (A.3). :class:`FinetuneConfig` holds
those and the rest of the recipe: AdamW with weight decay 0.01 (none on biases and LayerNorm;
:func:`bertedu.build_optimizer`), a linear warmup over the first 10% of the steps then linear decay
to 0 (:func:`bertedu.build_scheduler`), gradient clipping at 1.0, length-bucketed dynamic padding
(:mod:`bertedu.finetuning.batching`), evaluation on dev every ``eval_every`` steps and after every
epoch, early stopping after ``patience`` evaluations without improvement, and the best weights
restored at the end. :func:`finetune` runs it; with an ``out_dir`` it writes ``metrics.jsonl`` and
resumable checkpoints (:mod:`bertedu.finetuning.checkpoints`): a killed run resumes to the very same
weights as one that was never interrupted (CPU).

Randomness: the batch order comes from ``seed`` (per epoch); dropout reads torch's global generator,
which :func:`finetune` seeds with ``seed`` and every checkpoint saves.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from bertedu._io import DictConfig
from bertedu.finetuning.batching import bucket_batches
from bertedu.finetuning.checkpoints import data_fingerprint, latest_state, load_state, save_state
from bertedu.finetuning.features import collate, feature_length

__all__ = ["FinetuneConfig", "FinetuneResult", "ConfigError", "finetune", "schedule_steps"]


class ConfigError(ValueError):
    """A bad :class:`FinetuneConfig` value; ``field`` names it (the CLI turns it into its flag)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name} {message}")
        self.field = field_name


@dataclass
class FinetuneConfig(DictConfig):
    """Settings of one fine-tuning run. Defaults: the paper's GLUE recipe (Sec. 4.1, A.3)."""

    lr: float = 3e-5  # the paper's grid: 5e-5, 3e-5, 2e-5
    batch_size: int = 32  # 16 or 32
    epochs: int = 3  # 2, 3 or 4
    warmup_fraction: float = 0.1  # warm up over the first 10% of the steps
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6  # the original code's Adam epsilon
    max_grad_norm: float = 1.0
    max_seq_length: int | None = None  # None: the task recipe's (128; SQuAD 384; SNIPS 64)
    seed: int = 42  # head initialisation, batch order, dropout
    data_seed: int = 0  # which records a subset keeps (the same for every seed and backbone)
    max_train_examples: int | None = None  # CPU-sized subsets (records, before encoding)
    max_eval_examples: int | None = None
    eval_every: int = 0  # steps between dev evaluations (0: after each epoch only)
    patience: int | None = None  # stop after this many evaluations without improvement (None: never)
    restore_best: bool = True  # end with the weights of the best evaluation
    eval_batch_size: int = 64
    pool_batches: int = 50  # length bucketing: sort pools of batch_size * pool_batches examples
    save_every: int = 0  # checkpoint every k steps (0: after each epoch), when out_dir is given
    keep_checkpoints: bool = False  # keep OUT/checkpoints after the run finished
    log_every: int = 10
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]  # JSON gives a list
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the bad field and the fix."""
        positive = ("batch_size", "epochs", "eval_batch_size", "pool_batches", "log_every")
        optional_positive = ("max_seq_length", "max_train_examples", "max_eval_examples", "patience", "threads")
        for name in positive + optional_positive:
            value = getattr(self, name)
            if value is None and name in optional_positive:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, f"must be an int >= 1{' or None' if name in optional_positive else ''}, "
                                        f"got {value!r}")
        for name in ("seed", "data_seed", "eval_every", "save_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(name, f"must be an int >= 0, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ConfigError("lr", f"must be in (0, 1), got {self.lr!r}; the paper uses 2e-5 .. 5e-5")
        if not 0 <= self.warmup_fraction <= 1:
            raise ConfigError("warmup_fraction", f"must be in [0, 1], got {self.warmup_fraction!r}")
        if not self.weight_decay >= 0:
            raise ConfigError("weight_decay", f"must be >= 0, got {self.weight_decay!r}; the paper uses 0.01")
        for name in ("max_grad_norm", "eps"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)!r}")
        if self.max_seq_length is not None and self.max_seq_length < 8:
            raise ConfigError("max_seq_length", f"must be >= 8, got {self.max_seq_length}")



@dataclass
class FinetuneResult:
    """What :func:`finetune` did: every logged record, the best evaluation and the run's size and speed."""

    history: list[dict[str, Any]]
    steps: int
    total_steps: int
    best_step: int | None = None
    best_metrics: dict[str, float] | None = None
    stopped_early: bool = False
    train_seconds: float = 0.0
    train_examples: int = 0  # examples seen in this process (a resumed run counts only its own)
    evals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def examples_per_second(self) -> float:
        return self.train_examples / self.train_seconds if self.train_seconds else 0.0


def schedule_steps(n_features: int, config: FinetuneConfig) -> tuple[int, int, int]:
    """(steps per epoch, total steps, warmup steps) of a run over ``n_features`` training features."""
    per_epoch = math.ceil(n_features / config.batch_size)
    total = per_epoch * config.epochs
    return per_epoch, total, round(config.warmup_fraction * total)


def _fresh_progress() -> dict[str, Any]:
    return {"epoch": 0, "batch": 0, "best_value": None, "best_step": None, "best_metrics": None,
            "best_weights": None, "since_best": 0, "stopped": False}


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, batch: dict[str, torch.Tensor],
                max_grad_norm: float) -> dict[str, float]:
    model.train()
    loss = model(**batch).loss
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": float(loss.detach()), "lr": lr, "grad_norm": float(grad_norm)}


def _record_eval(progress: dict[str, Any], metrics: dict[str, float], step: int, main_metric: str | None,
                 model: nn.Module, config: FinetuneConfig) -> None:
    """Early-stopping bookkeeping: a strictly better main metric becomes the best (weights copied)."""
    value = metrics.get(main_metric) if main_metric else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = -math.inf
    if progress["best_value"] is None or value > progress["best_value"]:
        progress.update(best_value=value, best_step=step, best_metrics=dict(metrics), since_best=0)
        if config.restore_best:
            progress["best_weights"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        progress["since_best"] += 1
        if config.patience is not None and progress["since_best"] >= config.patience:
            progress["stopped"] = True


def finetune(model: nn.Module, train_features: Sequence[dict[str, Any]], config: FinetuneConfig, *,
             evaluate: Callable[[nn.Module], dict[str, float]] | None = None, main_metric: str | None = None,
             pad_token_id: int = 0, out_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
             on_step: Callable[[int, dict[str, float]], None] | None = None, desc: str = "fine-tune") -> FinetuneResult:
    """Fine-tune ``model`` on ``train_features`` (see :mod:`bertedu.finetuning.features`).

    ``evaluate(model) -> metrics`` runs on dev every ``config.eval_every`` steps and after each epoch;
    ``main_metric`` (higher is better) drives early stopping and, with ``restore_best``, which weights
    the model ends with. ``out_dir``: ``metrics.jsonl`` (one "train" record per ``log_every`` steps, one
    "eval" record per evaluation) and checkpoints; ``resume=True`` continues from the latest one.
    ``on_step(step, metrics)`` is called after each step (and after its checkpoint, if any).
    """
    from tqdm.auto import tqdm

    from bertedu import build_optimizer, build_scheduler
    from bertedu.pretraining.state import MetricsLog
    if not train_features:
        raise ValueError("train_features is empty; give at least one encoded training example")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (where the checkpoints are)")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device(config.device)
    model.to(device)
    lengths = [feature_length(f) for f in train_features]
    per_epoch, total, warmup = schedule_steps(len(train_features), config)
    optimizer = build_optimizer(model, config)  # AdamW, no decay on biases / LayerNorm (A.2)
    scheduler = build_scheduler(optimizer, warmup, total)
    torch.manual_seed(config.seed)  # dropout's generator (nn.Dropout takes none)
    out = Path(out_dir) if out_dir is not None else None
    log = MetricsLog(out / "metrics.jsonl" if out else None)
    fingerprint = data_fingerprint(lengths)
    step, state = 0, _fresh_progress()
    if not resume and out is not None and latest_state(out) is not None:
        raise ValueError(f"{out} already holds checkpoints of a run: resume it (resume=True, --resume) or "
                         "choose another output directory")
    if resume and (ckpt := latest_state(out)) is not None:
        step, state = load_state(ckpt, model, optimizer, scheduler, config, fingerprint)
        log.truncate_after(step)
    elif out is not None and log.path is not None and log.path.exists():
        log.path.unlink()  # a fresh run starts a fresh log
    result = FinetuneResult(history=log.records, steps=step, total_steps=total)
    bar = tqdm(total=total, initial=step, disable=not progress, desc=desc, dynamic_ncols=True)
    window: list[dict[str, float]] = []
    while state["epoch"] < config.epochs and not state["stopped"]:
        batches = bucket_batches(lengths, config.batch_size, seed=config.seed, epoch=state["epoch"],
                                 pool_batches=config.pool_batches)
        epoch = state["epoch"]
        while state["epoch"] == epoch and not state["stopped"]:
            idx = batches[state["batch"]]
            start = time.perf_counter()  # the step's time includes building its batch
            batch = {k: v.to(device) for k, v in collate([train_features[i] for i in idx], pad_token_id).items()}
            metrics = _train_step(model, optimizer, scheduler, batch, config.max_grad_norm)
            result.train_seconds += time.perf_counter() - start
            result.train_examples += len(idx)
            step += 1
            state["batch"] += 1
            window.append({**metrics, "examples": len(idx)})
            epoch_end = state["batch"] == len(batches)
            if step % config.log_every == 0 or epoch_end:
                log.append({"split": "train", "step": step, "epoch": state["epoch"] + state["batch"] / len(batches),
                            "loss": sum(m["loss"] for m in window) / len(window), "lr": metrics["lr"],
                            "grad_norm": metrics["grad_norm"], "examples": sum(m["examples"] for m in window)})
                bar.set_postfix(loss=f"{log.records[-1]['loss']:.4f}")
                window = []
            if evaluate is not None and ((config.eval_every and step % config.eval_every == 0) or epoch_end):
                scores = evaluate(model)
                _record_eval(state, scores, step, main_metric, model, config)
                log.append({"split": "eval", "step": step, "epoch": state["epoch"] + state["batch"] / len(batches),
                            **scores})
                if main_metric in scores:
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", **{main_metric: f"{scores[main_metric]:.4f}"})
            if epoch_end:
                state["epoch"] += 1
                state["batch"] = 0
            if out is not None and ((config.save_every and step % config.save_every == 0) or epoch_end
                                    or state["stopped"]):
                save_state(out, step, model, optimizer, scheduler, state, config, fingerprint)
            bar.update(1)
            if on_step is not None:
                on_step(step, metrics)
    bar.close()
    if config.restore_best and state["best_weights"] is not None:
        model.load_state_dict(state["best_weights"])
    result.steps, result.stopped_early = step, bool(state["stopped"])
    result.best_step, result.best_metrics = state["best_step"], state["best_metrics"]
    result.evals = [r for r in log.records if r.get("split") == "eval"]
    return result

"""One fine-tuning experiment end to end: task recipe + backbone -> data -> :func:`finetune` -> results.

:func:`run_task` is what ``python -m bertedu.finetune`` and ``tools/finetune_results.py`` call:

1. build the task's head on the chosen encoder (:func:`bertedu.finetuning.backbones.build_task_model`);
2. read the train and eval records (optionally a seeded subset) and encode them (features.py);
3. fine-tune with dev evaluation, early stopping and checkpoints (loop.py);
4. write ``OUT/results.json``, ``OUT/metrics.jsonl`` and the final model ``OUT/model`` (config.json with
   the label names, model.safetensors, vocab.txt; ``transformers`` loads it into the class of the same name).

:func:`run_grid` repeats this over the paper's grid (A.3) and keeps the best on dev.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from torch import nn

from bertedu._io import atomic_write_text
from bertedu.finetuning.backbones import build_task_model
from bertedu.finetuning.checkpoints import remove_checkpoints
from bertedu.finetuning.features import TaskData, encode_task
from bertedu.finetuning.grid import PAPER_GRID, config_label, grid_configs, grid_search
from bertedu.finetuning.loop import FinetuneConfig, finetune
from bertedu.finetuning.recipes import TaskRecipe, get_recipe, load_records
from bertedu.finetuning.scoring import evaluate_task

__all__ = ["run_task", "run_grid", "prepare_data", "label_task_checkpoint"]

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def prepare_data(task: str | TaskRecipe, tokenizer: Any, config: FinetuneConfig) -> tuple[TaskData, TaskData]:
    """The encoded (train, eval) splits of ``task`` under ``config``'s subset sizes and max_seq_length."""
    recipe = get_recipe(task)
    out = []
    for split, limit in (("train", config.max_train_examples), ("eval", config.max_eval_examples)):
        records, total = load_records(recipe, split, limit, config.data_seed)
        out.append(encode_task(recipe, records, tokenizer, config.max_seq_length, total))
    return out[0], out[1]


def label_task_checkpoint(directory: str | Path, task: str | TaskRecipe) -> None:
    """Put the task's label names into a saved task checkpoint's ``config.json`` (id2label / label2id;
    the joint head's intent and slot lists), so widgets and ``transformers`` pipelines show names."""
    recipe = get_recipe(task)
    path = Path(directory) / "config.json"
    values = json.loads(path.read_text(encoding="utf-8"))
    values["finetuning_task"] = recipe.name
    if recipe.kind in ("classification", "pair", "tagging", "regression"):
        names = recipe.labels()
        values["id2label"] = {str(i): n for i, n in enumerate(names)}
        values["label2id"] = {n: i for i, n in enumerate(names)}
    if recipe.kind == "joint":
        values["intent_labels"], values["slot_labels"] = recipe.labels(), recipe.slot_labels()
    atomic_write_text(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


def _mean_length(data: TaskData) -> float:
    return statistics.fmean(data.lengths) if data.features else 0.0


def _narrate_data(say: Say, recipe: TaskRecipe, train: TaskData, held: TaskData, length: int) -> None:
    say(f"data: {recipe.name} = {recipe.title} ({recipe.section}); {recipe.source}")
    say(f"      train {len(train.records):,} of {train.total_records:,} records, "
        f"eval {len(held.records):,} of {held.total_records:,}")
    say(f"examples: {len(train.features):,} train / {len(held.features):,} eval features for {recipe.head}, "
        f"at most {length} tokens (train mean {_mean_length(train):.1f}, longest {max(train.lengths)})")


def run_task(task: str | TaskRecipe, model: str = "minilm", config: FinetuneConfig | None = None, *,
             out_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
             vocab: str | Path | None = None, save_model: bool = True, say: Say | None = None,
             on_step: Callable[[int, dict[str, float]], None] | None = None, bilstm: bool = False,
             pool: str = "first") -> dict[str, Any]:
    """Fine-tune ``model`` (a checkpoint directory, ``minilm`` or ``random:PRESET``) on ``task``.

    Returns the results dict also written to ``OUT/results.json``: the final metrics on the eval split
    (the best evaluation's, when ``config.restore_best``), the best step, sizes, settings and speed.
    ``resume=True`` continues a killed run (or returns the results of a finished one). ``say`` gets the
    narration lines (the CLI passes ``print``).  ``bilstm=True`` puts a randomly initialised BiLSTM between
    the encoder and the head (Table 5, "+ BiLSTM"); ``pool="last"`` makes sentence-level heads read the last
    real token instead of [CLS] (for a left-to-right encoder); see :mod:`bertedu.finetuning.bilstm`.
    """
    from bertedu.finetuning.bilstm import top_recipe
    say = say or _quiet
    config = config or FinetuneConfig()
    recipe = top_recipe(task, bilstm=bilstm, pool=pool)
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is not None and (out / "results.json").is_file():
        say(f"{out / 'results.json'} exists: this run is finished")
        return json.loads((out / "results.json").read_text(encoding="utf-8"))
    began = time.perf_counter()
    net, tokenizer, info = build_task_model(model, recipe, seed=config.seed, vocab=vocab,
                                            max_seq_length=config.max_seq_length)
    train, held = prepare_data(recipe, tokenizer, config)
    length = config.max_seq_length or recipe.max_seq_length
    _narrate_data(say, recipe, train, held, length)
    say(f"model: {model} ({info['backbone']}, {info['layers']} layers, H={info['hidden_size']}, "
        f"{info['parameters']:,} parameters); new: {', '.join(info['fresh'])}")

    def evaluate(m: nn.Module) -> dict[str, float]:
        return evaluate_task(m, held, batch_size=config.eval_batch_size, pad_token_id=tokenizer.pad_token_id)

    result = finetune(net, train.features, config, evaluate=evaluate, main_metric=recipe.main_metric,
                      pad_token_id=tokenizer.pad_token_id, out_dir=out, resume=resume, progress=progress,
                      on_step=on_step, desc=f"{recipe.name} train")
    final = result.best_metrics if config.restore_best else (result.evals[-1] if result.evals else None)
    final = {k: v for k, v in (final or {}).items() if k not in ("split", "step", "epoch")}
    main = final.get(recipe.main_metric, float("nan"))
    say(f"dev: {recipe.main_metric} = {main:.4f} " + ", ".join(f"{k} {v:.4f}" for k, v in final.items()
                                                                if k != recipe.main_metric)
        + f" (best at step {result.best_step} of {result.total_steps}"
        + (", stopped early)" if result.stopped_early else ")"))
    results = {"task": recipe.name, "title": recipe.title, "model": model, "backbone": info,
               "config": config.to_dict(), "max_seq_length": length, "main_metric": recipe.main_metric,
               "metrics": final, "best_step": result.best_step, "steps": result.steps,
               "total_steps": result.total_steps, "stopped_early": result.stopped_early,
               "train_records": len(train.records), "train_records_total": train.total_records,
               "eval_records": len(held.records), "eval_records_total": held.total_records,
               "train_features": len(train.features), "eval_features": len(held.features),
               "train_seconds": round(result.train_seconds, 3),
               "examples_per_second": round(result.examples_per_second, 2),
               "minutes": round((time.perf_counter() - began) / 60, 3),
               "evals": [{k: v for k, v in r.items() if k != "split"} for r in result.evals]}
    if bilstm or pool != "first":
        results["encoder_top"] = {"bilstm": bilstm, "pool": pool}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if save_model:
            from bertedu.finetuning.loading import save_task_model
            save_task_model(net, out / "model", tokenizer)
            label_task_checkpoint(out / "model", recipe)
        atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
        if not config.keep_checkpoints:
            remove_checkpoints(out)
        say(f"saved: {out / 'results.json'}, {out / 'metrics.jsonl'}"
            + (f", model in {out / 'model'}" if save_model else ""))
    return results


def run_grid(task: str | TaskRecipe, model: str = "minilm", base: FinetuneConfig | None = None,
             grid: Mapping[str, Iterable[Any]] = PAPER_GRID, *, out_dir: str | Path, resume: bool = False,
             progress: bool = True, vocab: str | Path | None = None, say: Say | None = None) -> dict[str, Any]:
    """:func:`run_task` for every point of ``grid`` (folders ``OUT/grid/bs32-lr3e-05-ep3`` ...); the best
    on dev keeps its model. Writes ``OUT/results.json`` with the table and the best point."""
    say = say or _quiet
    recipe = get_recipe(task)
    out = Path(out_dir)
    best: dict[str, Any] = {"score": None, "dir": None}

    def run(config: FinetuneConfig) -> dict[str, Any]:
        folder = out / "grid" / config_label(config)
        say(f"grid point {config_label(config)}")
        res = run_task(recipe, model, config, out_dir=folder, resume=resume, progress=progress, vocab=vocab, say=say)
        value = res["metrics"].get(recipe.main_metric, float("-inf"))
        if best["score"] is None or value > best["score"]:
            if best["dir"] is not None:
                shutil.rmtree(best["dir"] / "model", ignore_errors=True)  # keep one model: the best so far
            best.update(score=value, dir=folder)
        else:
            shutil.rmtree(folder / "model", ignore_errors=True)
        return res

    found = grid_search(grid_configs(base or FinetuneConfig(), grid), run,
                        lambda r: r["metrics"].get(recipe.main_metric, float("nan")))
    summary = {"task": recipe.name, "model": model, "main_metric": recipe.main_metric, "grid": {k: list(v) for k, v
               in grid.items()}, "table": found.table(), "best": found.best_result,
               "best_model": str(out / "grid" / config_label(found.best_config) / "model")}
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    say(f"best on dev: {config_label(found.best_config)} with {recipe.main_metric} = {found.scores[found.best_index]:.4f}")
    return summary

"""Run a task head over an encoded split and score its predictions with the task's metrics (Sec. 4).

:func:`predict` runs the model in eval mode over length-sorted batches and keeps, per feature, only
what scoring needs (trimmed to the feature's own length, so padding never reaches a metric);
:func:`score` turns those outputs into the recipe's metrics; :func:`evaluate_task` does both.
Any model whose ``forward`` takes the feature keys and returns ``loss`` and the head's logits works,
``transformers``' heads included (the speed benchmark scores both libraries with this code).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from bertedu.finetuning.batching import eval_batches
from bertedu.finetuning.features import TaskData, collate, feature_length
from bertedu.finetuning.metrics import accuracy, binary_f1, entity_f1, pearson, spearman, squad_scores
from bertedu.finetuning.recipes import TaskRecipe, get_recipe
from bertedu.finetuning.squad import decode_predictions, final_answers, tune_null_threshold
from bertedu.finetuning.tagging import word_predictions

__all__ = ["predict", "score", "evaluate_task", "squad_json", "OUTPUTS"]

# kind -> (output field, what to keep per feature): "row" = the feature's logits row; "argmax" =
# the best label of each of its tokens; "tokens" = its per-token logits
OUTPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "classification": (("logits", "row"),), "pair": (("logits", "row"),), "regression": (("logits", "row"),),
    "tagging": (("logits", "argmax"),), "qa": (("start_logits", "tokens"), ("end_logits", "tokens")),
    "multiple_choice": (("logits", "row"),), "joint": (("intent_logits", "row"), ("slot_logits", "argmax")),
}


@torch.no_grad()
def predict(model: nn.Module, data: TaskData, *, batch_size: int = 64, pad_token_id: int = 0,
            kind: str | None = None) -> tuple[list[dict[str, np.ndarray]], float]:
    """Per-feature outputs (numpy, trimmed to each feature's length) and the mean loss per feature."""
    kind = kind or get_recipe(data.task).kind
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs: list[dict[str, np.ndarray] | None] = [None] * len(data.features)
    loss_sum = 0.0
    for idx in eval_batches(data.lengths, batch_size):
        batch = {k: v.to(device) for k, v in collate([data.features[i] for i in idx], pad_token_id).items()}
        out = model(**batch)
        if getattr(out, "loss", None) is not None:
            loss_sum += float(out.loss) * len(idx)
        for field, how in OUTPUTS[kind]:
            values = getattr(out, field).float()
            values = values.argmax(-1) if how == "argmax" else values
            values = values.cpu().numpy()
            for row, i in enumerate(idx):
                n = feature_length(data.features[i])
                keep = values[row] if how == "row" else values[row, :n]
                outputs[i] = {**(outputs[i] or {}), field: keep}
    model.train(was_training)
    return outputs, loss_sum / max(1, len(data.features))  # type: ignore[return-value]


def squad_json(examples: Sequence[Any], version: str) -> dict:
    """A SQuAD dict holding exactly ``examples`` (what ``squad_scores`` compares with, so a subset of the
    questions is scored against itself only)."""
    data = [{"title": ex.title, "paragraphs": [{"context": ex.context, "qas": [
        {"id": ex.id, "question": ex.question, "answers": ex.answers, "is_impossible": bool(ex.is_impossible)}]}]}
        for ex in examples]
    return {"version": version.lstrip("v"), "data": data}


def _word_tags(outputs: Sequence[dict], meta: Sequence[tuple], field: str, names: list[str]) -> list[list[str]]:
    """Token argmaxes -> one tag per word (its first piece; a word cut off by truncation gets "O")."""
    tags = []
    for out, (word_ids, num_words) in zip(outputs, meta):
        ids = word_predictions(out[field].tolist(), word_ids, num_words, fill=None)
        tags.append(["O" if i is None else names[i] for i in ids])
    return tags


def _classification(recipe: TaskRecipe, data: TaskData, outputs: list[dict]) -> dict[str, float]:
    gold = [f["labels"] for f in data.features]
    if recipe.kind == "regression":
        pred = [float(o["logits"][0]) for o in outputs]
        return {"pearson": pearson(gold, pred), "spearman": spearman(gold, pred)}
    pred = [int(o["logits"].argmax()) for o in outputs]
    metrics = {"accuracy": accuracy(gold, pred)}
    if "f1" in recipe.metrics:
        metrics["f1"] = binary_f1(gold, pred, positive=1)
    return metrics


def _tagging(recipe: TaskRecipe, data: TaskData, outputs: list[dict]) -> dict[str, float]:
    pred = _word_tags(outputs, data.meta, "logits", recipe.labels())
    scores = entity_f1([r.tags for r in data.records], pred)
    return {"entity_f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"]}


def _joint(recipe: TaskRecipe, data: TaskData, outputs: list[dict]) -> dict[str, float]:
    intents = recipe.labels()
    pred_intent = [intents[int(o["intent_logits"].argmax())] for o in outputs]
    pred_slots = _word_tags(outputs, data.meta, "slot_logits", recipe.slot_labels())
    gold_intent, gold_slots = [r.intent for r in data.records], [r.slots for r in data.records]
    sentence = [pi == gi and ps == gs for pi, gi, ps, gs in zip(pred_intent, gold_intent, pred_slots, gold_slots)]
    return {"sentence_accuracy": sum(sentence) / len(sentence), "intent_accuracy": accuracy(gold_intent, pred_intent),
            "slot_f1": entity_f1(gold_slots, pred_slots)["f1"]}


def _qa(recipe: TaskRecipe, data: TaskData, outputs: list[dict]) -> dict[str, float]:
    decoded = decode_predictions(data.meta, [o["start_logits"] for o in outputs], [o["end_logits"] for o in outputs])
    gold = squad_json(data.records, recipe.squad_version or "v1.1")
    # v1.1 always answers its best span; v2.0 answers "" when s_null - best > tau, at the default tau = 0
    # (Sec. 4.3). The tau tuned on this very set (best_*) is reported beside it, not instead of it.
    tau = 0.0 if recipe.squad_version == "v2.0" else None
    scores = squad_scores(final_answers(decoded, null_threshold=tau), gold)
    metrics = {k: v for k, v in scores.items() if not k.endswith("total")}
    if recipe.squad_version == "v2.0":
        search = tune_null_threshold(decoded, gold)  # tau chosen on the eval set (Sec. 4.3)
        metrics.update(best_f1=search.f1, best_exact=search.exact, best_threshold=search.threshold)
        best = max(search.curve, key=lambda c: c["f1"])
        metrics.update({f"best_{k}": best[k] for k in ("HasAns_f1", "NoAns_f1")})
    return metrics


def _choice(recipe: TaskRecipe, data: TaskData, outputs: list[dict]) -> dict[str, float]:
    return {"accuracy": accuracy([f["labels"] for f in data.features], [int(o["logits"].argmax()) for o in outputs])}


SCORERS: dict[str, Callable[[TaskRecipe, TaskData, list[dict]], dict[str, float]]] = {
    "classification": _classification, "pair": _classification, "regression": _classification,
    "tagging": _tagging, "qa": _qa, "multiple_choice": _choice, "joint": _joint}


def score(task: str | TaskRecipe, data: TaskData, outputs: list[dict]) -> dict[str, float]:
    """The recipe's metrics of ``outputs`` (from :func:`predict`) on ``data``."""
    recipe = get_recipe(task)
    if len(outputs) != len(data.features):
        raise ValueError(f"{len(outputs)} outputs for {len(data.features)} features; pass predict()'s outputs")
    return SCORERS[recipe.kind](recipe, data, outputs)


def evaluate_task(model: nn.Module, data: TaskData, *, batch_size: int = 64, pad_token_id: int = 0
                  ) -> dict[str, float]:
    """:func:`predict` then :func:`score`, plus ``loss`` (mean over features)."""
    outputs, loss = predict(model, data, batch_size=batch_size, pad_token_id=pad_token_id)
    return {**score(data.task, data, outputs), "loss": loss}

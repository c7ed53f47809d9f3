"""Knowledge distillation into a smaller BERT (Hinton et al. 2015; DistilBERT, Sanh et al. 2019, Sec. 2).

A fine-tuned *teacher* gives, for every training example, a whole probability distribution over the
labels, not just the right label.  The *student* is trained to match it:

    loss = alpha * T^2 * KL( softmax(z_teacher / T) || softmax(z_student / T) )
         + (1 - alpha) * cross_entropy(z_student, label)

The temperature T > 1 softens both distributions, so the teacher's "dark knowledge" (how sure it is,
which wrong answer is nearly right) carries weight; the T^2 keeps the soft term's gradients on the
scale of the hard term's when T changes (Hinton et al., Sec. 2).  DistilBERT initialises its student
from the teacher, "taking one layer out of two" (Sanh et al., Sec. 3): :func:`student_from_teacher`.

:class:`DistillationStudent` wraps a student for :func:`bertedu.finetune` (the same AdamW, schedule and
length-bucketed batches as plain fine-tuning): each training feature carries its ``example_index``
(:func:`with_example_index`) and the wrapper looks up the teacher's logits for it, computed once in
eval mode (:func:`teacher_logits`), so the teacher never runs during training.
Shapes: B batch, K labels, N training examples.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["soft_targets", "distillation_loss", "student_from_teacher", "teacher_logits", "with_example_index",
           "DistillationStudent"]


def soft_targets(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / T) over the last dimension: (..., K) -> (..., K)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    return (logits / temperature).softmax(dim=-1)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      labels: torch.Tensor | None = None, *, temperature: float = 2.0,
                      alpha: float = 0.5) -> torch.Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels); logits (B, K), labels (B,).

    ``alpha=1`` (or ``labels=None``) is the soft term alone; ``alpha=0`` plain fine-tuning.  The KL is
    averaged over the batch ("batchmean"), as the cross-entropy is.
    """
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(f"student and teacher logits must both be (B, K), got {tuple(student_logits.shape)} "
                         f"and {tuple(teacher_logits.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (the weight of the soft term), got {alpha!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    soft = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2
    if labels is None or alpha == 1.0:
        return soft
    hard = F.cross_entropy(student_logits, labels.long())
    return alpha * soft + (1.0 - alpha) * hard


def student_from_teacher(teacher: nn.Module, layers: Sequence[int], *, copy_weights: bool = True) -> nn.Module:
    """A smaller copy of a :class:`bertedu.BertForSequenceClassification`: the teacher's ``layers`` (0-based,
    in order) with its embeddings, pooler and classifier.  ``copy_weights=False``: the same shape, weights
    drawn afresh (``torch.Generator().manual_seed(0)``)."""
    from bertedu import BertForSequenceClassification
    if not isinstance(teacher, BertForSequenceClassification):
        raise TypeError(f"teacher must be a bertedu.BertForSequenceClassification, got {type(teacher).__name__}")
    L = teacher.config.num_hidden_layers
    layers = list(layers)
    if not layers or sorted(set(layers)) != layers or layers[0] < 0 or layers[-1] >= L:
        raise ValueError(f"layers must be increasing distinct indices in 0..{L - 1}, e.g. [0, {L // 2}]; got {layers}")
    config = dataclasses.replace(teacher.config, num_hidden_layers=len(layers))
    student = BertForSequenceClassification(config, teacher.num_labels, problem_type=teacher.problem_type,
                                            classifier_dropout=teacher.classifier_dropout,
                                            generator=torch.Generator().manual_seed(0))
    if copy_weights:
        mine = {}
        for key, value in teacher.state_dict().items():
            if key.startswith("bert.encoder.layer."):
                index = int(key.split(".")[3])
                if index not in layers:
                    continue
                rest = key.split(".", 4)[4]
                key = f"bert.encoder.layer.{layers.index(index)}.{rest}"  # renumber the kept layers
            mine[key] = value.clone()
        student.load_state_dict(mine)
    return student


@torch.no_grad()
def teacher_logits(teacher: nn.Module, data: Any, *, batch_size: int = 64, pad_token_id: int = 0) -> torch.Tensor:
    """The teacher's logits (N, K) on every feature of ``data`` (a TaskData), in eval mode, feature order."""
    from bertedu.finetuning.scoring import predict
    outputs, _ = predict(teacher, data, batch_size=batch_size, pad_token_id=pad_token_id)
    return torch.tensor([list(o["logits"]) for o in outputs], dtype=torch.float32)


def with_example_index(features: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``features`` with ``example_index`` = their position (the key the wrapper reads)."""
    return [{**f, "example_index": i} for i, f in enumerate(features)]


class DistillationStudent(nn.Module):
    """``student`` trained against the teacher's logits (N, K) on the training features.

    ``forward(..., labels, example_index)``: with ``example_index`` (B,) the loss is
    :func:`distillation_loss`; without it (evaluation) the student's own loss.  Returns the student's
    output type (``loss``, ``logits``), so :func:`bertedu.finetune` and its scoring run unchanged.
    """

    def __init__(self, student: nn.Module, teacher_logits: torch.Tensor, *, temperature: float = 2.0,
                 alpha: float = 0.5) -> None:
        super().__init__()
        if teacher_logits.dim() != 2:
            raise ValueError(f"teacher_logits must be (N, K), got {tuple(teacher_logits.shape)}")
        distillation_loss(teacher_logits[:1], teacher_logits[:1], temperature=temperature, alpha=alpha)  # checks
        self.student, self.temperature, self.alpha = student, temperature, alpha
        self.config = student.config
        self.register_buffer("teacher", teacher_logits.float(), persistent=False)  # (N, K), never trained

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                example_index: torch.Tensor | None = None) -> Any:
        if example_index is None:
            return self.student(input_ids, token_type_ids, attention_mask, labels=labels)
        out = self.student(input_ids, token_type_ids, attention_mask)
        loss = distillation_loss(out.logits, self.teacher[example_index], labels,
                                 temperature=self.temperature, alpha=self.alpha)
        return out._replace(loss=loss)

"""Label checks shared by the task heads: a wrong label is a ValueError/TypeError that names the
argument and the fix, raised before the encoder runs (never a deep torch error, or a silent NaN).
"""

from __future__ import annotations

from typing import Any

import torch

from bertedu.model.checks import IGNORE_INDEX  # noqa: F401  (re-exported for the heads)


def _describe(value: Any) -> str:
    return str(value.dtype) if isinstance(value, torch.Tensor) else type(value).__name__


def _integer_tensor(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.dtype.is_floating_point or value.dtype.is_complex \
            or value.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer (torch.long) tensor, got {_describe(value)}; "
                        "use torch.tensor(..., dtype=torch.long)")
    return value


def check_class_labels(name: str, labels: Any, batch: int, num_classes: int, what: str = "label id") -> None:
    """One integer class per example: shape (B,), values in [0, num_classes)."""
    _integer_tensor(name, labels)
    if labels.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},), one {what} per example, got "
                         f"{tuple(labels.shape)}; use .view(-1)")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(f"{name} contains {int(labels[bad][0])}; every {what} must be in [0, {num_classes})")


def check_token_labels(name: str, labels: Any, shape: torch.Size, num_classes: int) -> None:
    """One integer tag per token: shape (B, T), values in [0, num_classes) or -100 (not scored)."""
    _integer_tensor(name, labels)
    if labels.shape != shape:
        raise ValueError(f"{name} must have the shape of input_ids {tuple(shape)}, got {tuple(labels.shape)}")
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(f"{name} contains {int(labels[bad][0])}; use a tag id in [0, {num_classes}) or "
                         f"{IGNORE_INDEX} for positions without a label (continuation pieces, specials, padding)")


def check_positions(name: str, positions: Any, batch: int) -> torch.Tensor:
    """Answer start/end token indices, (B,) or (B, 1) -> (B,) long (range handled by the caller's clamp)."""
    _integer_tensor(name, positions)
    if positions.dim() == 2 and positions.shape[1] == 1:
        positions = positions.squeeze(-1)  # the reference accepts (B, 1) too
    if positions.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},), one token index per example, "
                         f"got {tuple(positions.shape)}")
    return positions.long()


def check_sequence_labels(labels: Any, batch: int, num_labels: int, problem: str) -> None:
    """Labels of BertForSequenceClassification for the resolved ``problem`` type."""
    if problem == "single_label_classification":
        check_class_labels("labels", labels, batch, num_labels)
        return
    if not isinstance(labels, torch.Tensor) or not labels.dtype.is_floating_point:
        fix = "use labels.float()" if isinstance(labels, torch.Tensor) else "pass a float tensor"
        raise TypeError(f"labels must be a float tensor for {problem}, got {_describe(labels)}; {fix}")
    wanted = [(batch,), (batch, 1)] if problem == "regression" and num_labels == 1 else [(batch, num_labels)]
    if tuple(labels.shape) not in wanted:
        raise ValueError(f"labels for {problem} with num_labels={num_labels} must have shape "
                         f"{' or '.join(map(str, wanted))}, got {tuple(labels.shape)}")
    if not torch.isfinite(labels).all():
        raise ValueError("labels contains NaN or inf")
    if problem == "multi_label_classification" and ((labels < 0) | (labels > 1)).any():
        raise ValueError("labels for multi_label_classification must be in [0, 1] (1 = the label applies); "
                         "for one class per example pass integer labels (torch.long)")

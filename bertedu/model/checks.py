"""Input checks of the model (BERT Sec. 3): a wrong id, shape or label raises an error that names the
argument and the fix, instead of an index error deep inside an embedding lookup or a loss.

:class:`bertedu.BertModel` calls :func:`check_inputs`; :class:`bertedu.BertForPreTraining` also calls
:func:`check_labels`.
"""

from __future__ import annotations

import torch

from bertedu.config import BertConfig

__all__ = ["IGNORE_INDEX", "check_ids", "check_inputs", "check_labels"]

IGNORE_INDEX = -100  # label of positions no loss reads (PyTorch's cross_entropy default ignore_index)


def check_ids(name: str, ids: torch.Tensor, shape: torch.Size | None, limit: int, limit_name: str) -> None:
    """``ids`` must be an integer tensor (B, T) (or of ``shape``) with values in ``[0, limit)``."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer ids, got {type(ids).__name__}; "
                        f"wrap it with torch.tensor(...)")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer ids (torch.long), got dtype {ids.dtype}; use .long()")
    if shape is None and ids.dim() != 2:
        raise ValueError(f"{name} must have shape (B, T), got {tuple(ids.shape)}; "
                         f"add a batch dimension with .unsqueeze(0)")
    if shape is not None and ids.shape != shape:
        raise ValueError(f"{name} has shape {tuple(ids.shape)} but input_ids has {tuple(shape)}; they must match")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= limit):
        bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
        raise ValueError(f"{name} contains id {bad}, outside [0, {limit_name}={limit}); "
                         f"check the tokenizer's vocabulary matches the model config")


def check_inputs(config: BertConfig, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None,
                 attention_mask: torch.Tensor | None) -> None:
    """Raise TypeError/ValueError naming the argument when the inputs cannot be right."""
    check_ids("input_ids", input_ids, None, config.vocab_size, "vocab_size")
    T = input_ids.shape[1]
    if T > config.max_position_embeddings:
        raise ValueError(f"input_ids has {T} tokens but the model has only max_position_embeddings="
                         f"{config.max_position_embeddings} positions; truncate the input")
    if token_type_ids is not None:
        check_ids("token_type_ids", token_type_ids, input_ids.shape, config.type_vocab_size, "type_vocab_size")
    if attention_mask is None:
        return
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(f"attention_mask must be a torch.Tensor of 0/1, got {type(attention_mask).__name__}")
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has "
                         f"{tuple(input_ids.shape)}; they must match")
    if attention_mask.dtype != torch.bool and not ((attention_mask == 0) | (attention_mask == 1)).all():
        raise ValueError("attention_mask must contain only 0 (padding) and 1 (real token)")


def check_labels(labels: torch.Tensor | None, nsp: torch.Tensor | None, input_ids: torch.Tensor,
                 vocab_size: int) -> None:
    """``labels`` (B, T): a vocabulary id or -100; ``next_sentence_label`` (B,): 0 or 1."""
    for name, value, shape in (("labels", labels, input_ids.shape), ("next_sentence_label", nsp, input_ids.shape[:1])):
        if value is None:
            continue
        if not isinstance(value, torch.Tensor) or value.dtype.is_floating_point or value.dtype == torch.bool:
            raise TypeError(f"{name} must be an integer (torch.long) tensor, got {getattr(value, 'dtype', type(value))}")
        if value.shape != shape:
            raise ValueError(f"{name} must have shape {tuple(shape)} to match input_ids, got {tuple(value.shape)}")
    if labels is not None:
        bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= vocab_size))
        if bad.any():
            raise ValueError(f"labels contains {int(labels[bad][0])}; use a token id in [0, {vocab_size}) "
                             f"or -100 for positions without a prediction")
    if nsp is not None and ((nsp < 0) | (nsp > 1)).any():
        raise ValueError("next_sentence_label must be 0 (IsNext) or 1 (NotNext)")

"""A BiLSTM between the encoder and the task head: Table 5's "+ BiLSTM" row (BERT paper, Sec. 5.1).

    "For SQuAD it is intuitively clear that a LTR model will perform poorly at token predictions, since the
     token-level hidden states have no right-side context. In order to make a good faith attempt at
     strengthening the LTR system, we added a randomly initialized BiLSTM on top."  (Sec. 5.1)

This module adds that switch to every fine-tuning head of :mod:`bertedu.finetuning.heads` without changing
them: :func:`with_encoder_top` makes a subclass of a head class whose encoder output passes through

* ``bilstm``: a randomly initialised one-layer bidirectional LSTM (:class:`BiLSTMOnTop`) over the final
  hidden states, (B, T, H) -> (B, T, H) (H/2 units per direction, so the head's layers keep their shape); and/or
* ``pool="last"``: the sentence-level heads read the *last* real token (``[SEP]``) instead of ``[CLS]``.
  A left-to-right encoder's ``[CLS]`` attends to nothing but itself, so its pooled vector says nothing
  about the sentence; a left-to-right model can only summarise a sentence at its end (OpenAI GPT reads
  the last token too).  With ``bilstm`` the pooler reads the BiLSTM's output at the chosen position.

The new weights are ``bilstm.*`` (a task head key: fresh when starting from a pretrained encoder, loaded
when reloading a task checkpoint); ``config.json`` records the choice under ``encoder_top`` and
:func:`load_task_model_with_top` rebuilds the same class from it.  :func:`run_task` takes
``bilstm=`` / ``pool=`` and uses :func:`top_recipe`, a task recipe whose ``head_class()`` is the subclass.
Shapes: B batch, T tokens, H hidden.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bertedu.finetuning.recipes import TaskRecipe, get_recipe

__all__ = ["BiLSTMOnTop", "POOLS", "with_encoder_top", "top_recipe", "pool_positions", "encoder_top_of",
           "load_task_model_with_top"]

POOLS = ("first", "last")
_CLASSES: dict[tuple[type, bool, str], type] = {}


def _lengths(attention_mask: torch.Tensor) -> torch.Tensor:
    """Real tokens per row (B,), at least 1; the mask must be right-padded (1...1 0...0), as collate makes it."""
    mask = attention_mask.long()
    if mask.shape[1] > 1 and bool((mask[:, 1:] > mask[:, :-1]).any()):
        raise ValueError("attention_mask must be right-padded (ones, then zeros) for the BiLSTM top")
    return mask.sum(-1).clamp(min=1)


class BiLSTMOnTop(nn.Module):
    """A randomly initialised one-layer BiLSTM over the encoder's last hidden states, (B, T, H) -> (B, T, H).

    H/2 units per direction, concatenated back to H.  Padding is packed away (each direction reads only a
    row's real tokens) and comes out as zeros.  Weights are drawn as PyTorch's own LSTM initialisation,
    U(-1/sqrt(H/2), 1/sqrt(H/2)), but from ``generator``, so a seed gives the same model.
    """

    def __init__(self, hidden_size: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 2 or hidden_size % 2:
            raise ValueError(f"hidden_size must be an even int >= 2 (H/2 units per direction), got {hidden_size!r}")
        self.lstm = nn.LSTM(hidden_size, hidden_size // 2, batch_first=True, bidirectional=True)
        bound = 1 / math.sqrt(hidden_size // 2)
        with torch.no_grad():
            for param in self.lstm.parameters():
                nn.init.uniform_(param, -bound, bound, generator=generator)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """hidden_states (B, T, H), attention_mask (B, T) or None (no padding) -> (B, T, H)."""
        B, T, _ = hidden_states.shape
        mask = torch.ones(B, T, dtype=torch.long, device=hidden_states.device) if attention_mask is None \
            else attention_mask
        packed = pack_padded_sequence(hidden_states, _lengths(mask).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, H), zeros at padding
        return out


def pool_positions(attention_mask: torch.Tensor | None, how: str, batch: int, device: Any = None) -> torch.Tensor:
    """Which position each row's sentence vector is read from (B,): 0 ([CLS]) or the last real token.

    ``attention_mask`` (B, T) or None (no padding: the last token is position T - 1, unknown here, so
    ``how="last"`` then needs the mask).
    """
    if how not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {how!r}")
    if how == "first":
        return torch.zeros(batch, dtype=torch.long, device=device)
    if attention_mask is None:
        raise ValueError("pool='last' needs the attention_mask, to find each row's last real token")
    return _lengths(attention_mask) - 1


class _EncoderTopMixin:
    """Overrides the heads' ``_encode``: the encoder output, then the BiLSTM and/or the pooling position."""

    top_bilstm: bool = False
    top_pool: str = "first"

    def _add_top(self, generator: torch.Generator | None) -> None:
        self.bilstm = BiLSTMOnTop(self.config.hidden_size, generator=generator) if self.top_bilstm else None

    def _encode(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None,
                attention_mask: torch.Tensor | None, output_attentions: bool, output_hidden_states: bool) -> Any:
        out = super()._encode(input_ids, token_type_ids, attention_mask,  # type: ignore[misc]
                              output_attentions, output_hidden_states)
        hidden = out.last_hidden_state  # (B, T, H)
        if self.bilstm is not None:
            hidden = self.bilstm(hidden, attention_mask)  # (B, T, H)
        pooled = out.pooler_output
        if pooled is not None and (self.bilstm is not None or self.top_pool != "first"):
            if self.top_pool == "last" and attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            rows = torch.arange(hidden.shape[0], device=hidden.device)
            at = pool_positions(attention_mask, self.top_pool, hidden.shape[0], hidden.device)
            pooled = self.bert.pooler(hidden[rows, at].unsqueeze(1))  # BertPooler reads position 0: (B, H)
        return out._replace(last_hidden_state=hidden, pooler_output=pooled)

    def hf_config_extras(self) -> dict[str, Any]:
        return {**super().hf_config_extras(),  # type: ignore[misc]
                "encoder_top": {"bilstm": self.top_bilstm, "pool": self.top_pool}}


def with_encoder_top(head_class: type, *, bilstm: bool = True, pool: str = "first") -> type:
    """The subclass of ``head_class`` (e.g. ``BertForSequenceClassification``) with the BiLSTM and/or the
    pooling position of this module; the same arguments give the same class.  Its constructor takes the
    head's own arguments; the BiLSTM is drawn from ``generator`` after the head's weights."""
    if not (isinstance(head_class, type) and hasattr(head_class, "head_prefixes") and hasattr(head_class, "_encode")):
        raise TypeError(f"head_class must be a head of bertedu.finetuning.heads, got {head_class!r}")
    if not isinstance(bilstm, bool):
        raise TypeError(f"bilstm must be a bool, got {bilstm!r}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    key = (head_class, bilstm, pool)
    if key not in _CLASSES:
        def __init__(self: Any, config: Any, *args: Any, generator: torch.Generator | None = None,
                     **kwargs: Any) -> None:
            head_class.__init__(self, config, *args, generator=generator, **kwargs)
            self._add_top(generator)

        name = head_class.__name__ + ("WithBiLSTM" if bilstm else "") + ("LastToken" if pool == "last" else "")
        _CLASSES[key] = type(name, (_EncoderTopMixin, head_class), {
            "__init__": __init__, "__module__": __name__, "top_bilstm": bilstm, "top_pool": pool,
            "head_prefixes": tuple(head_class.head_prefixes) + ("bilstm.",),
            "__doc__": f"{head_class.__name__} with bilstm={bilstm}, pool={pool!r} (see bertedu.finetuning.bilstm)"})
    return _CLASSES[key]


@dataclasses.dataclass(frozen=True)
class _TopRecipe(TaskRecipe):
    """A task recipe whose head class carries the encoder top (everything else is the task's own)."""

    top_bilstm: bool = False
    top_pool: str = "first"

    def head_class(self) -> type:
        return with_encoder_top(super().head_class(), bilstm=self.top_bilstm, pool=self.top_pool)


def top_recipe(task: str | TaskRecipe, *, bilstm: bool = False, pool: str = "first") -> TaskRecipe:
    """``task``'s recipe with its head replaced by :func:`with_encoder_top` (the recipe itself when neither
    switch is on).  ``bertedu.finetuning.run.run_task(..., bilstm=True)`` uses it."""
    recipe = get_recipe(task)
    if not bilstm and pool == "first":
        return recipe
    with_encoder_top(recipe.head_class(), bilstm=bilstm, pool=pool)  # check the arguments now
    values = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(TaskRecipe)}
    return _TopRecipe(**values, top_bilstm=bilstm, top_pool=pool)


def encoder_top_of(directory: str | Path) -> dict[str, Any]:
    """``{"bilstm": bool, "pool": str}`` recorded in a task checkpoint's config.json (the defaults if none)."""
    values = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    top = values.get("encoder_top") or {}
    return {"bilstm": bool(top.get("bilstm", False)), "pool": top.get("pool", "first")}


def load_task_model_with_top(directory: str | Path, head_class: type, **kwargs: Any) -> tuple[nn.Module, Any]:
    """Reload a task checkpoint saved by a head with an encoder top -> (model in eval mode, LoadReport)."""
    from bertedu.finetuning.loading import task_from_pretrained

    top = encoder_top_of(directory)
    cls = with_encoder_top(head_class, **top) if top["bilstm"] or top["pool"] != "first" else head_class
    return task_from_pretrained(directory, cls, **kwargs)

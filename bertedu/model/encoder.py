"""The Transformer encoder block, stacked L times (BERT paper, Sec. 3, "Model Architecture").

BERT's encoder is "almost identical to the original implementation" of Vaswani et al. (2017):
each layer is

    x = LayerNorm(x + Attention(x))        # BertAttention      (attention.py)
    x = LayerNorm(x + W2 GELU(W1 x))       # BertIntermediate + BertOutput

The LayerNorm comes *after* each residual sum ("post-LN"); later models moved it before the
sub-layer (pre-LN), which trains more stably but gives different numbers from a BERT checkpoint.
The feed-forward network widens H to I = 4H and back, with the GELU activation (Hendrycks & Gimpel,
2016) in its exact erf form, as the original TensorFlow code.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bertedu.model.attention import BertAttention
from bertedu.config import BertConfig

__all__ = ["BertIntermediate", "BertOutput", "BertLayer", "BertEncoder", "activation"]


def activation(name: str) -> nn.Module:
    """The feed-forward activation named by ``config.hidden_act``.

    ``"gelu"`` is the exact x * Phi(x) with the Gaussian CDF via erf (what BERT checkpoints expect);
    ``"gelu_new"`` is the tanh approximation of GPT-2, close but not equal (bug #8 in book/bugs.md); ``"relu"``.
    """
    if name == "gelu":
        return nn.GELU(approximate="none")
    if name == "gelu_new":
        return nn.GELU(approximate="tanh")
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"hidden_act must be 'gelu', 'gelu_new' or 'relu', got {name!r}")


def gelu_erf(x: torch.Tensor) -> torch.Tensor:
    """The exact GELU written out: x * Phi(x) = x * (1 + erf(x / sqrt 2)) / 2 (for the book)."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class BertIntermediate(nn.Module):
    """First half of the feed-forward network: ``GELU(dense(x))``, (B, T, H) -> (B, T, I)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, T, I): the position-wise FFN's widening half (Sec. 3)."""
        return self.intermediate_act_fn(self.dense(hidden_states))  # (B, T, I)


class BertOutput(nn.Module):
    """Second half: project I back to H, dropout, add the residual, LayerNorm -> (B, T, H)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, intermediate: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """LayerNorm(residual + dropout(dense(intermediate))): the second add & norm, (B, T, H)."""
        return self.LayerNorm(residual + self.dropout(self.dense(intermediate)))  # (B, T, H)


class BertLayer(nn.Module):
    """One post-LN encoder block: attention -> add & norm -> feed-forward -> add & norm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None = None,
                output_attentions: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, H) -> ((B, T, H), attention probabilities (B, A, T, T) or None)."""
        attended, probs = self.attention(hidden_states, bias, output_attentions)  # (B, T, H)
        return self.output(self.intermediate(attended), attended), probs


class BertEncoder(nn.Module):
    """L identical blocks in ``layer`` (an ``nn.ModuleList``, so keys read ``encoder.layer.3...``)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        """Run every layer on (B, T, H).

        Returns ``(last (B, T, H), hidden_states, attentions)``: ``hidden_states`` holds the L+1
        inputs-and-outputs (embeddings first) and ``attentions`` the L probability maps
        (B, A, T, T), each ``None`` unless asked for.
        """
        all_hidden = [hidden_states] if output_hidden_states else None
        all_probs = [] if output_attentions else None
        for block in self.layer:
            hidden_states, probs = block(hidden_states, bias, output_attentions)
            if all_hidden is not None:
                all_hidden.append(hidden_states)
            if all_probs is not None:
                all_probs.append(probs)
        return (hidden_states,
                tuple(all_hidden) if all_hidden is not None else None,
                tuple(all_probs) if all_probs is not None else None)

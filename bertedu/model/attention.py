"""Multi-head self-attention (BERT paper, Sec. 3; Vaswani et al. 2017, Sec. 3.2).

Shape legend, used in every end-of-line comment of the model code:

    B  batch size                 T  tokens per sequence
    H  hidden size                A  attention heads
    d  head width, d = H / A      V  vocabulary size
    I  intermediate (feed-forward) size

Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + bias) V.  Each token (a *query*) scores every token
(a *key*), turns the scores into probabilities with a softmax over the keys, and takes the
probability-weighted average of the *values*.  Dividing by sqrt(d) keeps the scores' spread
independent of the head width, so the softmax does not saturate as d grows.

Two implementations share one signature:

* :func:`eager_attention` - the formula written out; it can return the probabilities (for plots);
* :func:`sdpa_attention`  - ``torch.nn.functional.scaled_dot_product_attention``, the fused kernel.

Padding is handled by an additive *bias* from :func:`make_attention_bias`: 0 where a key may be
seen, a very large negative number where it may not.  It masks **keys** (columns), never queries:
a [PAD] query row still attends to the real tokens, so its output is a harmless finite vector
that later layers and losses ignore.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.config import BertConfig

__all__ = ["make_attention_bias", "eager_attention", "sdpa_attention",
           "BertSelfAttention", "BertSelfOutput", "BertAttention"]


def make_attention_bias(attention_mask: torch.Tensor, dtype: torch.dtype, causal: bool = False) -> torch.Tensor:
    """Additive attention bias from a (B, T) mask of 1 = real token, 0 = padding.

    Returns ``(B, 1, 1, T)`` (broadcast over heads and queries), or ``(B, 1, T, T)`` when ``causal``
    (query i may only see keys j <= i: the left-to-right ablation of Sec. 5.1).  Hidden keys get
    ``torch.finfo(dtype).min``, a finite number: a row with no visible key becomes a uniform
    softmax instead of NaN (``-inf - -inf``).  The two masks are combined with a logical AND, never
    by adding two huge negatives (which would overflow to -inf).
    """
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.dim() != 2:
        raise ValueError("attention_mask must be a (B, T) tensor of 0/1, "
                         f"got {getattr(attention_mask, 'shape', type(attention_mask).__name__)}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype (the scores' dtype), got {dtype}")
    visible = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)  keys only
    if causal:
        T = attention_mask.shape[1]
        lower = torch.ones(T, T, dtype=torch.bool, device=attention_mask.device).tril()  # (T, T)
        visible = visible & lower  # (B, 1, T, T)
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    hidden = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=attention_mask.device)
    return torch.where(visible, zero, hidden)


def eager_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                    dropout_p: float = 0.0, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d) + bias) v, written out.  q, k, v: ``(B, A, T, d)``.

    Returns ``(out (B, A, T, d), probs (B, A, T, T))``; ``probs`` are taken *before* dropout, so
    each row sums to 1 and can be plotted.  Dropout on the probabilities (``dropout_p`` > 0, the
    caller passes 0 in eval mode) follows the original code; ``generator`` makes it reproducible.
    """
    d = q.shape[-1]
    scores = (q @ k.transpose(-1, -2)) * d**-0.5  # (B, A, T, T); times 1/sqrt(d), as the reference rounds it
    if bias is not None:
        scores = scores + bias  # hidden keys -> huge negative -> probability 0
    probs = scores.softmax(dim=-1)  # (B, A, T, T), rows sum to 1 over keys
    dropped = probs
    if dropout_p > 0.0:
        if generator is None:
            dropped = F.dropout(probs, p=dropout_p, training=True)
        else:
            keep = torch.rand(probs.shape, generator=generator, device=probs.device) >= dropout_p
            dropped = probs * keep / (1.0 - dropout_p)
    return dropped @ v, probs  # (B, A, T, d), (B, A, T, T)


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                   dropout_p: float = 0.0) -> torch.Tensor:
    """The same computation as :func:`eager_attention` by PyTorch's fused kernel -> ``(B, A, T, d)``.

    Faster and lighter on memory (it never stores the (T, T) probabilities), so it cannot return them.
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)  # (B, A, T, d)


class BertSelfAttention(nn.Module):
    """Project to queries, keys and values, split into A heads, attend, merge the heads.

    The three projections are H x H ``Linear`` layers named ``query``, ``key``, ``value`` as in real
    checkpoints; "splitting into heads" is only a reshape of their outputs into A slices of width d.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        H = config.hidden_size
        self.num_attention_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.attn_implementation = config.attn_implementation
        self.dropout_prob = config.attention_probs_dropout_prob
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_attention_heads, self.head_dim).transpose(1, 2)  # (B, A, T, d)

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None = None,
                output_attentions: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``hidden_states`` (B, T, H) -> ``(context (B, T, H), probs (B, A, T, T) or None)``.

        The eager path runs when the config asks for it or when probabilities are wanted.
        """
        B, T, H = hidden_states.shape
        q = self._split_heads(self.query(hidden_states))  # (B, A, T, d)
        k = self._split_heads(self.key(hidden_states))  # (B, A, T, d)
        v = self._split_heads(self.value(hidden_states))  # (B, A, T, d)
        if bias is not None and bias.dtype != q.dtype:  # autocast: match the scores' dtype, stay finite
            bias = bias.to(q.dtype).clamp(min=torch.finfo(q.dtype).min)
        p = self.dropout_prob if self.training else 0.0  # dropout only while training
        probs = None
        if output_attentions or self.attn_implementation == "eager":
            out, probs = eager_attention(q, k, v, bias, dropout_p=p)
        else:
            out = sdpa_attention(q, k, v, bias, dropout_p=p)
        context = out.transpose(1, 2).reshape(B, T, H)  # (B, T, H): heads concatenated
        return context, (probs if output_attentions else None)


class BertSelfOutput(nn.Module):
    """Output projection W^O, dropout, then the first residual "add & norm" of the block."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """LayerNorm(residual + dropout(dense(context))): post-LN, as the original Transformer. (B, T, H)"""
        return self.LayerNorm(residual + self.dropout(self.dense(context)))


class BertAttention(nn.Module):
    """The attention sub-layer: ``self`` (multi-head attention) + ``output`` (projection, add & norm)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)  # "self" is the checkpoint's key name, not Python's self
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None = None,
                output_attentions: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, H) -> ((B, T, H), probs (B, A, T, T) or None)."""
        context, probs = self.self(hidden_states, bias, output_attentions)
        return self.output(context, hidden_states), probs

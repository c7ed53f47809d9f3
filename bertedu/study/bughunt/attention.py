"""Bug #7 of book/bugs.md: the padding mask of self-attention (Sec. 3; Vaswani et al., 2017, Sec. 3.2).

Signature: ``attention_bias(attention_mask (B, T) of 1 = real / 0 = padding, dtype) -> bias`` that
broadcasts to the scores ``(B, A, T_query, T_key)`` and is *added* to them before the softmax.
"""

from __future__ import annotations

import torch

from bertedu.study.bughunt.outcome import Outcome, guarded


def attention_bias_fixed(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Hide padded *keys* (the last axis) with the most negative finite number: (B, 1, 1, T)."""
    hidden = (1 - attention_mask[:, None, None, :].to(dtype))
    return hidden * torch.finfo(dtype).min


def attention_bias_on_queries(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bug #7: the mask is laid along the queries (rows), so real tokens still read the padding."""
    hidden = (1 - attention_mask[:, None, :, None].to(dtype))       # BUG: (B, 1, T, 1), rows not columns
    return hidden * torch.finfo(dtype).min


def attention_bias_wrong_sign(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bug #7: the real tokens get the large negative number, the padding gets 0."""
    return attention_mask[:, None, None, :].to(dtype) * torch.finfo(dtype).min   # BUG: hides the real keys


def attention_bias_minus_inf(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bug #7: -inf instead of a finite minimum; a row with no visible key becomes NaN."""
    bias = torch.zeros(attention_mask.shape, dtype=dtype)[:, None, None, :]
    return bias.masked_fill(attention_mask[:, None, None, :] == 0, float("-inf"))   # BUG: -inf - -inf = NaN


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor):
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5 + bias    # (B, A, T, T)
    probs = scores.softmax(dim=-1)
    return probs @ v, probs


@guarded
def check_attention_bias(attention_bias) -> Outcome:
    """Bug #7: padded keys get probability 0, padding changes no real token, an all-padding row is finite."""
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(1, 2, 6, 4, generator=g) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])                       # 4 real tokens, 2 padding
    out, probs = _attend(q, k, v, attention_bias(mask, torch.float32))
    on_padding = float(probs[0, :, :4, 4:].sum(dim=-1).mean())      # per real query, on average
    alone, _ = _attend(q[:, :, :4], k[:, :, :4], v[:, :, :4], attention_bias(mask[:, :4], torch.float32))
    drift = float((out[:, :, :4] - alone).abs().max())
    empty, _ = _attend(q, k, v, attention_bias(torch.zeros(1, 6, dtype=torch.long), torch.float32))
    problems = []
    if not on_padding < 1e-6:
        problems.append(f"a real token puts {on_padding:.0%} of its attention on padding")
    if not drift < 1e-5:
        problems.append(f"padding changes the real tokens' outputs by up to {drift:.2f}")
    if not torch.isfinite(empty).all():
        problems.append("a sequence with no real token gives NaN")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, "padded keys get 0, real outputs do not depend on padding, nothing is NaN")

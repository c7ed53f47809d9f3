"""What BERT cannot do cheaply, measured: long inputs and generation (BERT paper Sec. 3, 3.1; Sec. 6).

* **Quadratic attention.**  Every token scores every token: the score matrix of one head is T x T,
  so time and memory grow with T^2 (Vaswani et al. 2017, Table 1: O(n^2 d) per layer).
  :func:`time_attention` times bertedu's two attention paths on random inputs; the eager path's
  probabilities are returned, so their size is read off the tensor itself.
* **No generation.**  The MLM head predicts masked tokens from *both* sides.  There is no left-to-right
  factorisation of p(text), so "generating" means inventing an order: :func:`fill_masks` appends
  [MASK] tokens and fills them one at a time (or all at once) with the MLM head's top guess.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

__all__ = ["time_attention", "fill_masks"]


@torch.no_grad()
def time_attention(seq_len: int, *, heads: int = 4, head_dim: int = 64, batch: int = 1, repeats: int = 3,
                   implementation: str = "eager", generator: torch.Generator | None = None) -> dict[str, Any]:
    """Time one attention call on random q, k, v of shape (batch, heads, seq_len, head_dim).

    Returns ``{"seq_len", "seconds" (median of ``repeats``), "all_seconds", "score_bytes"}``, where
    ``score_bytes`` is the size of the (batch, heads, T, T) probability tensor the eager path builds
    (the fused path never stores it all; its bytes are reported as the same count for reference).
    """
    from bertedu import eager_attention, sdpa_attention
    if implementation not in ("eager", "sdpa"):
        raise ValueError(f"implementation must be 'eager' or 'sdpa', got {implementation!r}")
    for name, value in (("seq_len", seq_len), ("heads", heads), ("head_dim", head_dim), ("batch", batch),
                        ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    g = generator or torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, heads, seq_len, head_dim, generator=g) for _ in range(3))
    times, score_bytes = [], batch * heads * seq_len * seq_len * q.element_size()
    for _ in range(repeats):
        start = time.perf_counter()
        if implementation == "eager":
            _, probs = eager_attention(q, k, v, None)  # probs: (B, A, T, T)
            score_bytes = probs.element_size() * probs.nelement()
        else:
            sdpa_attention(q, k, v, None)
        times.append(time.perf_counter() - start)
    return {"seq_len": seq_len, "seconds": statistics.median(times), "all_seconds": times,
            "score_bytes": score_bytes}


@torch.no_grad()
def fill_masks(model: Any, tokenizer: Any, prompt: str, n_new: int, *, order: str = "left_to_right",
               max_length: int = 128) -> list[list[str]]:
    """"Generate" ``n_new`` word pieces after ``prompt`` with an MLM (a :class:`bertedu.BertForPreTraining`).

    The input is ``[CLS] prompt [MASK] x n_new [SEP]``.  ``order="left_to_right"``: each step replaces the
    leftmost [MASK] by the head's top token and runs the model again (n_new passes);
    ``order="parallel"``: every [MASK] is filled in one pass.  Returns the new pieces after each pass.
    """
    if order not in ("left_to_right", "parallel"):
        raise ValueError(f"order must be 'left_to_right' or 'parallel', got {order!r}")
    if isinstance(n_new, bool) or not isinstance(n_new, int) or n_new < 1:
        raise ValueError(f"n_new must be an int >= 1, got {n_new!r}")
    prompt_ids = tokenizer.encode(prompt, max_length=None)["input_ids"][:-1]  # [CLS] prompt (no [SEP])
    if len(prompt_ids) + n_new + 1 > max_length:
        raise ValueError(f"prompt ({len(prompt_ids)} tokens) + n_new ({n_new}) + [SEP] exceed max_length={max_length}")
    ids = torch.tensor([prompt_ids + [tokenizer.mask_token_id] * n_new + [tokenizer.sep_token_id]])
    first = len(prompt_ids)
    was_training = model.training
    model.eval()
    steps = []
    for _ in range(n_new if order == "left_to_right" else 1):
        logits = model(ids).prediction_logits[0]  # (T, V)
        logits[:, tokenizer.all_special_ids] = float("-inf")  # answer with a word piece, never [MASK] itself
        masked = (ids[0] == tokenizer.mask_token_id).nonzero().flatten()
        targets = masked[:1] if order == "left_to_right" else masked
        ids[0, targets] = logits[targets].argmax(-1)
        steps.append(tokenizer.convert_ids_to_tokens(ids[0, first:first + n_new].tolist()))
    model.train(was_training)
    return steps

"""Sentence embeddings from a BERT encoder, and search with them (Reimers & Gurevych 2019, Sentence-BERT).

BERT gives one vector per *token*.  A sentence vector needs a pooling rule:

* ``"cls"``: the final vector of [CLS] (what BERT's classifiers read, before the pooler);
* ``"pooler"``: tanh(dense(h_[CLS])), BERT's pooled output C (trained by NSP in BERT; a checkpoint
  without NSP training may carry an untouched pooler);
* ``"mean"``: the average of the token vectors, padding excluded; Sentence-BERT's default
  ("MEAN-strategy", Sec. 3) and what all-MiniLM-L6-v2 was trained with.

Two sentences are then compared by the cosine of their vectors: a *bi-encoder*, each text encoded
alone, so a corpus is encoded once and searched with one matrix product.  A *cross-encoder* reads
both texts together (``[CLS] a [SEP] b [SEP]``, a fine-tuned pair classifier): more accurate, but one
full forward pass per pair, so it is used to rerank a bi-encoder's top candidates.
Shapes: B batch, T tokens, H hidden, N sentences, M corpus sentences.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

__all__ = ["POOLINGS", "mean_pool", "pool", "embed_sentences", "cosine_matrix", "top_k", "cross_encoder_scores"]

POOLINGS = ("cls", "mean", "pooler")


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the real tokens' vectors: (B, T, H), (B, T) of 0/1 -> (B, H).  [CLS] and [SEP] count
    (they are real tokens, as in Sentence-BERT); padding does not."""
    if last_hidden_state.dim() != 3 or attention_mask.shape != last_hidden_state.shape[:2]:
        raise ValueError(f"need last_hidden_state (B, T, H) and attention_mask (B, T), got "
                         f"{tuple(last_hidden_state.shape)} and {tuple(attention_mask.shape)}")
    weights = attention_mask.to(last_hidden_state.dtype).unsqueeze(-1)  # (B, T, 1)
    return (last_hidden_state * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B, H)


def pool(output: Any, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """One of :data:`POOLINGS` applied to a :class:`bertedu.BertModelOutput` -> (B, H)."""
    if how == "cls":
        return output.last_hidden_state[:, 0]  # (B, H)
    if how == "pooler":
        return output.pooler_output  # (B, H)
    if how == "mean":
        return mean_pool(output.last_hidden_state, attention_mask)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {how!r}")


@torch.no_grad()
def embed_sentences(model: nn.Module, tokenizer: Any, sentences: Sequence[str], *,
                    poolings: Sequence[str] = ("mean",), batch_size: int = 64,
                    max_length: int = 128) -> dict[str, torch.Tensor]:
    """Embed ``sentences`` with ``model`` (a :class:`bertedu.BertModel`) -> {pooling: (N, H)}, input order.

    Batches are formed from length-sorted sentences (less padding, same vectors: padding is masked),
    and every requested pooling comes from the same forward pass.
    """
    for how in poolings:
        if how not in POOLINGS:
            raise ValueError(f"poolings must be drawn from {POOLINGS}, got {how!r}")
    if isinstance(sentences, str) or not sentences:
        raise ValueError("sentences must be a non-empty list of strings")
    was_training = model.training
    model.eval()
    encoded = [tokenizer.encode(s, max_length=max_length)["input_ids"] for s in sentences]
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    out = {how: torch.empty(len(sentences), model.config.hidden_size) for how in poolings}
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        T = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), T), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(idx), T, dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, :len(encoded[i])] = torch.tensor(encoded[i])
            mask[row, :len(encoded[i])] = 1
        result = model(ids, attention_mask=mask)
        for how in poolings:
            out[how][idx] = pool(result, mask, how).float()
    model.train(was_training)
    return out


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` (N, H) with every row of ``b`` (M, H) -> (N, M)."""
    a = torch.nn.functional.normalize(a, dim=-1)
    b = torch.nn.functional.normalize(b, dim=-1)
    return a @ b.T  # (N, M): unit vectors, so the dot product is the cosine


def top_k(queries: torch.Tensor, corpus: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bi-encoder search: the ``k`` most similar corpus rows per query -> (scores (N, k), indices (N, k))."""
    if not 1 <= k <= corpus.shape[0]:
        raise ValueError(f"k must be in 1..{corpus.shape[0]} (the corpus size), got {k}")
    return cosine_matrix(queries, corpus).topk(k, dim=-1)


@torch.no_grad()
def cross_encoder_scores(model: nn.Module, tokenizer: Any, pairs: Sequence[tuple[str, str]], *,
                         batch_size: int = 64, max_length: int = 128) -> torch.Tensor:
    """Score each ``(a, b)`` with a fine-tuned pair model reading ``[CLS] a [SEP] b [SEP]`` -> (P,).

    ``model`` is a :class:`bertedu.BertForSequenceClassification` with one output (regression, e.g.
    STS-B) or two classes (the score is then logit 1 minus logit 0).
    """
    if not pairs:
        raise ValueError("pairs must be a non-empty list of (text_a, text_b)")
    was_training = model.training
    model.eval()
    encoded = [tokenizer.encode(a, b, max_length=max_length) for a, b in pairs]
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]["input_ids"]), i))
    scores = torch.empty(len(pairs))
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        T = max(len(encoded[i]["input_ids"]) for i in idx)
        batch = {name: torch.zeros(len(idx), T, dtype=torch.long)
                 for name in ("input_ids", "token_type_ids", "attention_mask")}
        batch["input_ids"].fill_(tokenizer.pad_token_id)
        for row, i in enumerate(idx):
            n = len(encoded[i]["input_ids"])
            batch["input_ids"][row, :n] = torch.tensor(encoded[i]["input_ids"])
            batch["token_type_ids"][row, :n] = torch.tensor(encoded[i]["token_type_ids"])
            batch["attention_mask"][row, :n] = 1
        logits = model(**batch).logits.float()  # (b, 1) or (b, 2)
        scores[idx] = logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0]
    model.train(was_training)
    return scores

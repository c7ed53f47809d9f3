"""Bugs #1, #2, #10 and #11 of book/bugs.md: the two pre-training losses and their heads (Sec. 3.1, A.2).

Signatures (one per bug, shared by the fixed and the broken versions):

* #1  ``mlm_loss(logits (B, T, V), labels (B, T)) -> scalar``; labels are -100 where nothing is predicted.
* #2  ``nsp_loss(logits (B, 2), labels (B,)) -> scalar``.
* #10 ``nsp_logits(hidden (B, T, H), head: NspHead) -> (B, 2)``.
* #11 ``loader(inputs (B, T), labels (B, T), epoch) -> (inputs, labels)``: the batch served at each step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.study.bughunt.masking import IGNORE, mask_fixed, toy_batch
from bertedu.study.bughunt.outcome import Outcome, guarded


# ------------------------------------------------------------------------------ bug #1
def mlm_loss_fixed(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at the labelled positions only, averaged over them."""
    per_position = F.cross_entropy(logits.flatten(0, 1), labels.flatten().clamp(min=0), reduction="none")
    weights = (labels.flatten() != IGNORE).float()                 # 1 at the chosen positions
    return (per_position * weights).sum() / weights.sum().clamp(min=1)


def mlm_loss_weighted_after_mean(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Bug #1: the mean over *all* positions is taken first, then "weighted" by the 0/1 mask."""
    loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten().clamp(min=0))   # BUG: already a mean
    weights = (labels.flatten() != IGNORE).float()
    return (loss * weights).sum() / weights.sum()                  # a scalar times w / sum(w): itself


@guarded
def check_mlm_loss(loss_fn) -> Outcome:
    """Bug #1: the loss is the mean cross-entropy of the labelled positions and ignores every other one."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 6, 11, generator=g)
    labels = torch.full((2, 6), IGNORE)
    labels[0, 2], labels[1, 4] = 7, 3
    want = (F.cross_entropy(logits[0, 2], torch.tensor(7)) + F.cross_entropy(logits[1, 4], torch.tensor(3))) / 2
    base = loss_fn(logits, labels)
    moved = logits.clone()
    moved[0, 0, 3] += 5.0                                          # one logit of an unlabelled position
    shift = float((loss_fn(moved, labels) - base).abs())
    if shift > 1e-6 or abs(float(base - want)) > 1e-5:
        return Outcome(False, f"loss {float(base):.4f}, the two labelled positions give {float(want):.4f}; "
                              f"changing an unlabelled position moved it by {shift:.4f}")
    return Outcome(True, f"loss {float(base):.4f} = the mean over the labelled positions; unlabelled ones "
                         "do not move it")


# ------------------------------------------------------------------------------ bug #2
def nsp_loss_fixed(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """A plain cross-entropy: every pair counts, whatever its label."""
    return F.cross_entropy(logits, labels)


def nsp_loss_ignore_index_0(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Bug #2: one loss function shared with the MLM labels, where 0 meant "padding, skip it".

    In the codebase that shipped it, NotNext was label 0, so every NotNext pair was dropped.
    """
    return F.cross_entropy(logits, labels, ignore_index=0)        # BUG: label 0 is a real class


@guarded
def check_nsp_loss(loss_fn) -> Outcome:
    """Bug #2: every example, of either label, must reach the loss (get a gradient)."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(8, 2, generator=g, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])
    loss = loss_fn(logits, labels)
    loss.backward()
    silent = [int(lab) for lab, grad in zip(labels, logits.grad) if float(grad.abs().sum()) == 0.0]
    if silent or not torch.isfinite(loss):
        return Outcome(False, f"{len(silent)} of 8 examples get no gradient (labels {sorted(set(silent))}): "
                              "the classifier never learns from them")
    return Outcome(True, "every example of both labels gets a gradient")


# ------------------------------------------------------------------------------ bug #10
class NspHead(nn.Module):
    """The pooler (dense + tanh) and the 2-way classifier ``seq_relationship``, (H,) -> (2,)."""

    def __init__(self, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.dense, self.seq_relationship = nn.Linear(hidden, hidden), nn.Linear(hidden, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)


def nsp_logits_fixed(hidden: torch.Tensor, head: NspHead) -> torch.Tensor:
    """Classify the pooled vector of position 0, [CLS]."""
    pooled = torch.tanh(head.dense(hidden[:, 0]))                  # (B, H)
    return head.seq_relationship(pooled)                           # (B, 2)


def nsp_logits_every_token(hidden: torch.Tensor, head: NspHead) -> torch.Tensor:
    """Bug #10: the classifier runs on every token and the votes are averaged."""
    pooled = torch.tanh(head.dense(hidden))                        # BUG: (B, T, H), not just [CLS]
    return head.seq_relationship(pooled).mean(dim=1)               # (B, 2), long sequences outvote short


@guarded
def check_nsp_head(logits_fn) -> Outcome:
    """Bug #10: the NSP logits depend on the [CLS] vector only (the gradient reaches position 0 alone)."""
    g = torch.Generator().manual_seed(10)
    head = NspHead(8, g)
    hidden = torch.randn(3, 5, 8, generator=g, requires_grad=True)
    logits_fn(hidden, head).sum().backward()
    reached = [t for t in range(5) if float(hidden.grad[:, t].abs().sum()) > 0]
    if reached != [0]:
        return Outcome(False, f"the NSP gradient reaches positions {reached}; it must reach [CLS] (0) only")
    return Outcome(True, "the NSP gradient reaches position 0 ([CLS]) and nothing else")


# ------------------------------------------------------------------------------ bug #11
def epoch_batch_fixed(inputs: torch.Tensor, labels: torch.Tensor, epoch: int):
    """One data loader: the rows are shuffled each epoch, inputs and labels by the *same* order."""
    order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(epoch))
    return inputs[order], labels[order]


def epoch_batch_two_loaders(inputs: torch.Tensor, labels: torch.Tensor, epoch: int):
    """Bug #11: inputs and labels come from two loaders, each shuffled with its own seed."""
    order_inputs = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(epoch))
    order_labels = torch.randperm(len(labels), generator=torch.Generator().manual_seed(epoch + 1))
    return inputs[order_inputs], labels[order_labels]              # BUG: row i gets row j's labels


@guarded
def check_overfit_one_batch(loader, steps: int = 60) -> Outcome:
    """Bug #11: a tiny BERT trained on one masked batch must drive its MLM loss towards zero (< 0.25).

    ``loader(inputs, labels, epoch) -> (inputs, labels)`` serves the batch at every step.  Labels that do
    not match their inputs cannot be memorised, so the loss stays up, near the unigram line.
    """
    from bertedu import BertConfig, BertForPreTraining

    torch.manual_seed(0)                                           # no dropout: nothing else is random
    g, V = torch.Generator().manual_seed(11), 40
    inputs, labels = mask_fixed(toy_batch(16, 16, V, g), V, g)     # one batch, masked once
    config = BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    model = BertForPreTraining(config, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for epoch in range(steps):
        x, y = loader(inputs, labels, epoch)
        loss = model(x, attention_mask=(x != 0).long(), labels=y).mlm_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    final = sum(losses[-5:]) / 5
    targets = labels[labels != IGNORE]
    p = torch.bincount(targets).float()
    p = p[p > 0] / len(targets)
    unigram = float(-(p * p.log()).sum())                          # the loss of the targets' frequencies
    verdict = f"after {steps} steps on one batch the MLM loss is {final:.1f} (unigram line {unigram:.1f})"
    return Outcome(final < 0.25, verdict + ("" if final < 0.25 else ": it cannot even memorise one batch"))

"""The two pre-training heads and their losses (BERT paper, Sec. 3.1, Appendix A.2).

* **Masked LM** ("Task #1"): at every chosen position the final hidden vector goes through a
  dense + GELU + LayerNorm *transform*, then an output layer over the vocabulary whose weight matrix
  **is** the input word-embedding table (tied, as in the original code) plus a per-token bias.
  The loss is the cross-entropy averaged over the chosen positions only (labels elsewhere are
  -100; bug #1 in book/bugs.md).
* **Next Sentence Prediction** ("Task #2"): the pooled [CLS] vector C goes through a 2-way
  linear classifier -- on C only, never on every token (bug #10 in book/bugs.md).  Labels follow the reference
  convention: 0 = IsNext (B really follows A), 1 = NotNext (B is a random sentence).  Its loss is a
  plain cross-entropy: no ``ignore_index`` that could silently drop a class (bug #2 in book/bugs.md).

The pre-training loss is the sum of the two (Appendix A.2: "the sum of the mean masked LM
likelihood and the mean next sentence prediction likelihood").
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.config import BertConfig
from bertedu.model.encoder import activation
from bertedu.model.bert import BertModel, init_bert_weights
from bertedu.model.checks import IGNORE_INDEX, check_labels

__all__ = ["BertPredictionHeadTransform", "BertLMPredictionHead", "BertPreTrainingHeads",
           "BertForPreTraining", "BertForPreTrainingOutput", "mlm_loss"]

class BertForPreTrainingOutput(NamedTuple):
    """What :class:`BertForPreTraining` returns; losses are ``None`` when their labels are absent."""

    loss: torch.Tensor | None  # mlm_loss + nsp_loss (whichever are present)
    mlm_loss: torch.Tensor | None
    nsp_loss: torch.Tensor | None
    prediction_logits: torch.Tensor  # (B, T, V), or (N, V) at the N labelled positions if masked_only
    seq_relationship_logits: torch.Tensor  # (B, 2): column 0 = IsNext, column 1 = NotNext
    last_hidden_state: torch.Tensor  # (B, T, H)
    pooler_output: torch.Tensor  # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class BertPredictionHeadTransform(nn.Module):
    """dense -> GELU -> LayerNorm on each token vector, (..., H) -> (..., H)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., H): the MLM head's transform (Sec. 3.1, original code)."""
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """transform, then vocabulary scores ``h E^T + bias``, (..., H) -> (..., V).

    ``decoder`` is a bias-free ``Linear(H, V)`` whose weight BertForPreTraining replaces by the word
    embedding table (tying).  The bias is a separate parameter ``bias``; ``decoder.bias`` is the
    very same tensor, so checkpoints that store it under either name load.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias  # one tensor, two names

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(..., H) -> vocabulary logits (..., V) (Sec. 3.1, Task #1)."""
        return self.decoder(self.transform(hidden_states))  # (..., V)


class BertPreTrainingHeads(nn.Module):
    """``predictions`` (MLM, on token vectors) and ``seq_relationship`` (NSP, on the pooled C only)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, sequence_output: torch.Tensor, pooled_output: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens (..., H), C (B, H)) -> (vocabulary logits (..., V), NSP logits (B, 2))."""
        return self.predictions(sequence_output), self.seq_relationship(pooled_output)


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over positions whose label is not -100 (bug #1 in book/bugs.md).

    Written as sum / count (the same number as ``F.cross_entropy(..., ignore_index=-100)``) so that a
    batch with no labelled position gives 0 instead of 0/0 = NaN.  logits (N, V), labels (N,).
    """
    total = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum")
    count = (labels != IGNORE_INDEX).sum().clamp(min=1)
    return total / count


class BertForPreTraining(nn.Module):
    """BertModel + both pre-training heads (Sec. 3.1): ``bert`` and ``cls`` as in real checkpoints."""

    def __init__(self, config: BertConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, generator=generator)
        self.cls = BertPreTrainingHeads(config)
        for module in self.cls.modules():  # before tying, so the embedding table is not re-drawn
            init_bert_weights(module, config.initializer_range, generator)
        self.cls.predictions.decoder.weight = self.bert.get_input_embeddings().weight  # tied (V, H)

    def get_input_embeddings(self) -> nn.Embedding:
        """The (V, H) token table, shared with the MLM output layer."""
        return self.bert.get_input_embeddings()

    # parameter count (the tied output matrix is the embedding table, counted once)
    num_parameters = BertModel.num_parameters

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, labels: torch.Tensor | None = None,
                next_sentence_label: torch.Tensor | None = None, masked_only: bool = False
                ) -> BertForPreTrainingOutput:
        """Encode, score both tasks, and add up the losses whose labels are given.

        ``labels`` (B, T): the original id at chosen positions, -100 elsewhere.
        ``next_sentence_label`` (B,): 0 = IsNext, 1 = NotNext.
        ``masked_only=True`` (needs ``labels``) computes vocabulary logits only at the N labelled
        positions (row-major order) -> ``prediction_logits`` (N, V): the same loss, far less work
        when V is large.  With no labelled position at all the MLM loss is 0 (not NaN).
        """
        if masked_only and labels is None:
            raise ValueError("masked_only=True needs labels (it predicts only where labels != -100)")
        check_labels(labels, next_sentence_label, input_ids, self.config.vocab_size)
        out = self.bert(input_ids, token_type_ids, attention_mask, output_attentions, output_hidden_states)
        tokens = out.last_hidden_state  # (B, T, H)
        targets = labels
        if masked_only:
            chosen = labels != IGNORE_INDEX  # (B, T)
            tokens, targets = tokens[chosen], labels[chosen]  # (N, H), (N,)
        logits, nsp_logits = self.cls(tokens, out.pooler_output)  # (B, T, V) or (N, V); (B, 2)
        mlm = None if targets is None else mlm_loss(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        nsp = None if next_sentence_label is None else F.cross_entropy(nsp_logits, next_sentence_label)
        present = [x for x in (mlm, nsp) if x is not None]
        loss = sum(present[1:], present[0]) if present else None
        return BertForPreTrainingOutput(loss, mlm, nsp, logits, nsp_logits, out.last_hidden_state,
                                        out.pooler_output, out.hidden_states, out.attentions)

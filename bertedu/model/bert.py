"""BertModel: embeddings -> L encoder layers -> pooler (BERT paper, Sec. 3, Figure 1).

The model maps token ids (B, T) to one contextual vector per token (B, T, H).  The *pooler* turns
the vector of the first token, [CLS], into a sentence vector with a dense layer and tanh; the paper
calls this "C", "the final hidden vector corresponding to the first input token", and feeds it to
the next-sentence classifier (Sec. 3.1) and to sentence-level fine-tuning heads (Sec. 4).

Inputs are checked up front (:mod:`bertedu.model.checks`), so a wrong id or shape gives an error that
says what to fix instead of an index error deep inside an embedding lookup.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from bertedu.config import BertConfig
from bertedu.model.attention import make_attention_bias
from bertedu.model.checks import check_inputs
from bertedu.model.embeddings import BertEmbeddings
from bertedu.model.encoder import BertEncoder

__all__ = ["BertModel", "BertPooler", "BertModelOutput", "init_bert_weights"]


class BertModelOutput(NamedTuple):
    """What :class:`BertModel` returns (field names as in the reference implementation)."""

    last_hidden_state: torch.Tensor  # (B, T, H)
    pooler_output: torch.Tensor  # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # L+1 of (B, T, H), embeddings first
    attentions: tuple[torch.Tensor, ...] | None = None  # L of (B, A, T, T)


class BertPooler(nn.Module):
    """tanh(dense(h_[CLS])): the sentence-level vector the classifiers read, (B, T, H) -> (B, H).

    The paper (Sec. 3, Figure 1) calls the final hidden vector of [CLS] "C" and feeds it to the NSP
    and sentence classifiers; the released code first passes it through this dense + tanh layer,
    which is pretrained with NSP.  Real checkpoints carry its weights as ``pooler.dense``.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, H), from the [CLS] position only (never every token: bug #10 in book/bugs.md)."""
        return self.activation(self.dense(hidden_states[:, 0]))  # (B, H): only position 0, [CLS]


def init_bert_weights(module: nn.Module, std: float, generator: torch.Generator | None = None) -> None:
    """Initialise one module as the original code: weights ~ N(0, std), biases 0, LayerNorm 1 and 0.

    The [PAD] row of the word embeddings starts at zero.  (The TensorFlow original truncates the
    normal at 2 std; with std = 0.02 the difference is invisible in practice.)
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std, generator=generator)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertModel(nn.Module):
    """The BERT encoder (Sec. 3): ``forward(input_ids (B, T), ...) -> BertModelOutput``.

    ``generator`` (optional) makes the random initialisation reproducible without global seeds.
    """

    def __init__(self, config: BertConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"config must be a bertedu.BertConfig, got {type(config).__name__}")
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)
        for module in self.modules():
            init_bert_weights(module, config.initializer_range, generator)

    def get_input_embeddings(self) -> nn.Embedding:
        """The (V, H) token table (tied to the MLM output layer in BertForPreTraining)."""
        return self.embeddings.word_embeddings

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (each shared tensor counted once); compare ``config.num_parameters_formula()``."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BertModelOutput:
        """Encode a batch.  ``attention_mask`` (B, T): 1/True = real token, 0/False = padding.

        ``output_attentions=True`` runs the readable eager attention for this call (the fused
        kernel never materialises the probabilities).
        """
        check_inputs(self.config, input_ids, token_type_ids, attention_mask)
        x = self.embeddings(input_ids, token_type_ids)  # (B, T, H)
        bias = None
        if attention_mask is not None or self.config.is_decoder:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            bias = make_attention_bias(attention_mask, x.dtype, causal=self.config.is_decoder)
        last, hidden, probs = self.encoder(x, bias, output_attentions, output_hidden_states)
        return BertModelOutput(last, self.pooler(last), hidden, probs)

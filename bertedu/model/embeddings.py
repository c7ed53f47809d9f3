"""Input representation: the sum of three embeddings (BERT paper, Sec. 3, Figure 2).

"For a given token, its input representation is constructed by summing the corresponding token,
segment, and position embeddings."  Each of the three is a lookup table with H columns:

* ``word_embeddings``       (V, H): one row per WordPiece token,
* ``token_type_embeddings`` (type_vocab_size, H): segment A (0) or segment B (1),
* ``position_embeddings``   (max_position_embeddings, H): one row per position 0, 1, 2, ...

BERT *learns* the position table.  The original Transformer (Vaswani et al., 2017, Sec. 3.5) used a
fixed table of sines and cosines instead; ``config.position_embedding_type = "sinusoidal"`` swaps it in
for the ablation.  The sum goes through LayerNorm and dropout before the first encoder layer.

The odd capitalised name ``LayerNorm`` is kept because real checkpoints store the weights under it.
"""

from __future__ import annotations

import torch
from torch import nn

from bertedu.config import BertConfig

__all__ = ["BertEmbeddings", "sinusoidal_position_encoding"]


def sinusoidal_position_encoding(num_positions: int, dim: int) -> torch.Tensor:
    """Fixed position table of Vaswani et al. (2017), Sec. 3.5 -> ``(num_positions, dim)``.

    ``PE[pos, 2i] = sin(pos / 10000^(2i/dim))`` and ``PE[pos, 2i+1] = cos(pos / 10000^(2i/dim))``:
    each pair of columns is a clock ticking at its own speed, from one turn per 2*pi positions
    (column 0) to one turn per 10000*2*pi positions (the last pair).  An odd ``dim`` keeps the
    last sine column without its cosine partner.
    """
    for name, value in (("num_positions", num_positions), ("dim", dim)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (T, 1)
    even = torch.arange(0, dim, 2, dtype=torch.float64)  # the 2i of the formula
    angle = position / torch.pow(10000.0, even / dim)  # (T, ceil(dim/2))
    table = torch.zeros(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return table.float()  # (T, H)


class BertEmbeddings(nn.Module):
    """word + token_type + position embeddings, then LayerNorm and dropout (Sec. 3, Figure 2).

    ``forward(input_ids (B, T), token_type_ids (B, T) | None) -> (B, T, H)``.
    Inputs are assumed valid here; :class:`bertedu.BertModel` checks them with clear errors.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        H = config.hidden_size
        # padding_idx: the [PAD] row gets no gradient, so it stays at its initial value (zero).
        self.word_embeddings = nn.Embedding(config.vocab_size, H, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, H)
        self.position_embedding_type = config.position_embedding_type
        if config.position_embedding_type == "sinusoidal":
            # Fixed, not learned: a buffer moves with .to(device) but is neither trained nor saved.
            table = sinusoidal_position_encoding(config.max_position_embeddings, H)
            self.register_buffer("sinusoidal_table", table, persistent=False)  # (P, H)
        else:
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, H)
        self.LayerNorm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # 0, 1, ..., P-1 once, sliced per call; non-persistent so it is not part of the state dict.
        positions = torch.arange(config.max_position_embeddings).unsqueeze(0)  # (1, P)
        self.register_buffer("position_ids", positions, persistent=False)

    def position_vectors(self, seq_len: int) -> torch.Tensor:
        """The position embedding of positions ``0 .. seq_len-1`` -> ``(1, T, H)``."""
        if self.position_embedding_type == "sinusoidal":
            return self.sinusoidal_table[:seq_len].unsqueeze(0)  # (1, T, H)
        return self.position_embeddings(self.position_ids[:, :seq_len])  # (1, T, H)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Sum the three embeddings of ``input_ids`` (B, T) -> normalised ``(B, T, H)``."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)  # everything is segment A
        words = self.word_embeddings(input_ids)  # (B, T, H)
        segments = self.token_type_embeddings(token_type_ids)  # (B, T, H)
        positions = self.position_vectors(input_ids.shape[1])  # (1, T, H), broadcast over B
        summed = words + segments + positions  # (B, T, H)
        return self.dropout(self.LayerNorm(summed))

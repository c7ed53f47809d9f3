"""Deliberately odd sizes shared by the model tests: a swapped dimension cannot go unnoticed.

B batch, T tokens, H hidden, A heads (d = H / A = 12), V vocabulary; intermediate 37 and 40 positions.
"""

from bertedu.config import BertConfig

B, T, H, A, V = 3, 7, 36, 3, 99


def odd_config(**overrides) -> BertConfig:
    """A 2-layer BertConfig with the odd sizes above; any field can be overridden."""
    values = dict(vocab_size=V, hidden_size=H, num_attention_heads=A, num_hidden_layers=2,
                  intermediate_size=37, max_position_embeddings=40)
    values.update(overrides)
    return BertConfig(**values)

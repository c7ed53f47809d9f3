"""BertEmbeddings: the input representation is the sum of three lookups (paper Sec. 3, Figure 2)."""

from __future__ import annotations

from functools import partial

import math

import pytest
import torch

from bertedu.model.embeddings import BertEmbeddings, sinusoidal_position_encoding
from odd_sizes import B, H, T, V, odd_config



small_config = partial(odd_config, type_vocab_size=3)


def test_embedding_is_layernorm_of_the_sum_of_three_tables():
    emb = BertEmbeddings(small_config()).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, V, (B, T), generator=g)
    segments = torch.randint(0, 3, (B, T), generator=g)
    by_hand = (emb.word_embeddings.weight[ids] + emb.token_type_embeddings.weight[segments]
               + emb.position_embeddings.weight[:T])  # (B, T, H), positions broadcast over B
    by_hand = torch.nn.functional.layer_norm(by_hand, (H,), emb.LayerNorm.weight, emb.LayerNorm.bias, 1e-12)
    torch.testing.assert_close(emb(ids, segments), by_hand)


def test_missing_token_type_ids_means_segment_a():
    emb = BertEmbeddings(small_config()).eval()
    ids = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(emb(ids), emb(ids, torch.zeros_like(ids)))


def test_bug13_learned_position_embeddings_learn():
    # bug #13 in book/bugs.md: reading the position table through `.data` (or a detached copy) cuts it out of
    # autograd; here every used row gets a gradient and one optimiser step moves it.
    emb = BertEmbeddings(small_config())
    ids = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(4))
    before = emb.position_embeddings.weight.detach().clone()
    optimizer = torch.optim.SGD(emb.parameters(), lr=0.1)
    (emb(ids) * torch.randn(B, T, H, generator=torch.Generator().manual_seed(5))).sum().backward()
    grad = emb.position_embeddings.weight.grad
    assert grad is not None and (grad[:T].abs().sum(-1) > 0).all() and (grad[T:] == 0).all()
    optimizer.step()
    assert not torch.equal(emb.position_embeddings.weight[:T], before[:T])


def test_same_token_at_two_positions_gets_two_different_vectors():
    emb = BertEmbeddings(small_config()).eval()
    ids = torch.full((1, T), 5)
    out = emb(ids)  # (1, T, H)
    assert not torch.allclose(out[0, 0], out[0, 1]), "position embeddings must make positions distinguishable"


def test_position_ids_buffer_is_not_saved_and_layer_norm_eps_is_bert_value():
    emb = BertEmbeddings(small_config())
    assert "position_ids" not in emb.state_dict()
    assert emb.position_ids.shape == (1, 40)
    assert emb.LayerNorm.eps == 1e-12


def test_sinusoidal_formula_worked_by_hand():
    pe = sinusoidal_position_encoding(5, 6)  # (T, H)
    assert pe.shape == (5, 6)
    pos, i = 3, 1  # column 2i = 2 is a sine, column 2i+1 = 3 its cosine partner
    angle = pos / 10000 ** (2 * i / 6)
    assert pe[pos, 2].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert pe[pos, 3].item() == pytest.approx(math.cos(angle), abs=1e-6)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 3))  # position 0: sin 0, cos 0


def test_sinusoidal_odd_dim_keeps_last_sine_column():
    pe = sinusoidal_position_encoding(4, 7)
    assert pe.shape == (4, 7)
    assert pe[2, 6].item() == pytest.approx(math.sin(2 / 10000 ** (6 / 7)), abs=1e-6)


def test_sinusoidal_embeddings_are_fixed_buffers_not_parameters():
    emb = BertEmbeddings(small_config(position_embedding_type="sinusoidal"))
    assert not hasattr(emb, "position_embeddings")
    assert all("position" not in name for name, _ in emb.named_parameters())
    assert "sinusoidal_table" not in emb.state_dict()
    torch.testing.assert_close(emb.position_vectors(T)[0], sinusoidal_position_encoding(40, H)[:T])


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError)])
def test_sinusoidal_rejects_bad_sizes(bad, error):
    with pytest.raises(error, match="num_positions"):
        sinusoidal_position_encoding(bad, 4)


def test_dropout_only_in_training():
    emb = BertEmbeddings(small_config(hidden_dropout_prob=0.5))
    ids = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(2))
    emb.eval()
    torch.testing.assert_close(emb(ids), emb(ids))
    emb.train()
    torch.manual_seed(0)
    assert (emb(ids) == 0).any(), "dropout p=0.5 must zero some entries in training mode"

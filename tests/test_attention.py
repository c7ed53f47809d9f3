"""Scaled dot-product attention, its padding mask and its two implementations (paper Sec. 3)."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from bertedu.model.attention import (BertAttention, BertSelfAttention, eager_attention, make_attention_bias,
                               sdpa_attention)
from odd_sizes import A, B, H, T, odd_config

d = H // A


small_config = partial(odd_config, attention_probs_dropout_prob=0.0)


def qkv(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, A, T, d, generator=g) for _ in range(3))  # each (B, A, T, d)


def padding_mask() -> torch.Tensor:
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 4:] = 0  # sequence 1 has 4 real tokens
    mask[2, 6:] = 0  # sequence 2 has 6
    return mask


def test_bias_masks_keys_not_queries():
    bias = make_attention_bias(padding_mask(), torch.float32)
    assert bias.shape == (B, 1, 1, T)  # one row, broadcast to every query
    assert (bias[1, 0, 0, :4] == 0).all()
    assert (bias[1, 0, 0, 4:] == torch.finfo(torch.float32).min).all()  # finite, never -inf
    assert bias.dtype == torch.float32


def test_eager_attention_is_the_formula():
    q, k, v = qkv()
    out, probs = eager_attention(q, k, v, None)
    weights = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, dim=-1)  # (B, A, T, T)
    torch.testing.assert_close(probs, weights)
    torch.testing.assert_close(out, weights @ v)
    torch.testing.assert_close(probs.sum(-1), torch.ones(B, A, T))


def test_padded_keys_get_zero_probability_and_real_keys_all_of_it():
    """bug #7 in book/bugs.md: a sign flip or masking queries instead of keys fails here."""
    q, k, v = qkv(1)
    _, probs = eager_attention(q, k, v, make_attention_bias(padding_mask(), torch.float32))
    assert (probs[1, :, :, 4:] == 0).all()  # no query looks at padding
    torch.testing.assert_close(probs[1, :, :, :4].sum(-1), torch.ones(A, T))
    assert (probs[1, :, 4:, :4] > 0).all(), "padded query rows still attend to the real tokens"
    assert torch.isfinite(probs).all()


def test_output_at_real_tokens_ignores_the_content_of_padded_keys():
    q, k, v = qkv(2)
    bias = make_attention_bias(padding_mask(), torch.float32)
    out, _ = eager_attention(q, k, v, bias)
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 4:], v2[1, :, 4:] = 100.0, -100.0  # garbage in the padding
    out2, _ = eager_attention(q, k2, v2, bias)
    torch.testing.assert_close(out2, out)


def test_all_masked_row_is_uniform_not_nan():
    q, k, v = qkv(3)
    mask = padding_mask()
    mask[0] = 0  # a sequence of nothing but padding
    out, probs = eager_attention(q, k, v, make_attention_bias(mask, torch.float32, causal=True))
    assert torch.isfinite(out).all() and torch.isfinite(probs).all()
    torch.testing.assert_close(probs[0], torch.full((A, T, T), 1.0 / T))
    assert torch.isfinite(sdpa_attention(q, k, v, make_attention_bias(mask, torch.float32))).all()


def test_causal_bias_hides_the_future_and_the_padding():
    mask = padding_mask()
    bias = make_attention_bias(mask, torch.float32, causal=True)
    assert bias.shape == (B, 1, T, T)
    visible = bias[1, 0] == 0  # (T, T) for the sequence with 4 real tokens
    expected = torch.ones(T, T, dtype=torch.bool).tril()
    expected[:, 4:] = False
    assert torch.equal(visible, expected)
    _, probs = eager_attention(*qkv(4), bias)
    assert (probs.triu(diagonal=1) == 0).all(), "no query may attend to a later position"


@pytest.mark.parametrize("causal", [False, True])
def test_eager_and_sdpa_agree(causal):
    q, k, v = qkv(5)
    bias = make_attention_bias(padding_mask(), torch.float32, causal=causal)
    eager, _ = eager_attention(q, k, v, bias)
    assert (eager - sdpa_attention(q, k, v, bias)).abs().max() <= 1e-5


def test_eager_dropout_with_generator_is_reproducible_and_keeps_expectation():
    q, k, v = qkv(6)
    out1, probs = eager_attention(q, k, v, None, 0.25, torch.Generator().manual_seed(7))
    out2, _ = eager_attention(q, k, v, None, 0.25, torch.Generator().manual_seed(7))
    torch.testing.assert_close(out1, out2)
    torch.testing.assert_close(probs.sum(-1), torch.ones(B, A, T))  # probabilities returned pre-dropout
    assert not torch.allclose(out1, eager_attention(q, k, v, None)[0])


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_attention_dropout_follows_the_training_flag(impl):
    layer = BertSelfAttention(small_config(attn_implementation=impl, attention_probs_dropout_prob=0.5))
    x = torch.randn(B, T, H, generator=torch.Generator().manual_seed(8))
    layer.eval()
    torch.testing.assert_close(layer(x)[0], layer(x)[0])
    layer.train()
    torch.manual_seed(0)
    assert not torch.allclose(layer(x)[0], layer.eval()(x)[0])


def test_self_attention_module_paths_agree_and_return_probabilities_on_request():
    torch.manual_seed(0)
    sdpa = BertAttention(small_config(attn_implementation="sdpa")).eval()
    eager = BertAttention(small_config(attn_implementation="eager")).eval()
    eager.load_state_dict(sdpa.state_dict())
    x = torch.randn(B, T, H, generator=torch.Generator().manual_seed(9))
    bias = make_attention_bias(padding_mask(), torch.float32)
    out_s, none = sdpa(x, bias)
    out_e, probs = eager(x, bias, output_attentions=True)
    assert none is None and probs.shape == (B, A, T, T)
    assert (out_s - out_e).abs().max() <= 1e-5


def test_head_split_keeps_heads_separate():
    """Head a's output must depend only on columns a*d .. (a+1)*d of q, k, v (no dimension mix-up)."""
    layer = BertSelfAttention(small_config(attn_implementation="eager")).eval()
    x = torch.randn(1, T, H, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        layer.value.weight[d:].zero_()  # heads 1 and 2 see zero values
        layer.value.bias.zero_()
    context, _ = layer(x)  # (1, T, H)
    assert context[..., :d].abs().sum() > 0 and (context[..., d:] == 0).all()


def test_bias_rejects_bad_input():
    with pytest.raises(ValueError, match="attention_mask"):
        make_attention_bias(torch.ones(B, 1, T), torch.float32)
    with pytest.raises(TypeError, match="dtype"):
        make_attention_bias(torch.ones(B, T), torch.long)


def test_bias_cast_under_half_precision_stays_finite():
    layer = BertSelfAttention(small_config(attn_implementation="eager")).eval().half()
    x = torch.randn(B, T, H).half()
    mask = padding_mask()
    mask[0] = 0
    _, probs = layer(x, make_attention_bias(mask, torch.float32), output_attentions=True)
    assert torch.isfinite(probs).all()

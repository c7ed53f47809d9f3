"""ALBERT's two parameter savings on top of BERT's encoder (Lan et al. 2019, Sec. 3.1).

1. **Factorised embedding parameterisation.**  BERT's word table is V x H: at V = 30,000 and H = 4,096
   that alone is 123M parameters.  ALBERT keeps the tables E wide (E << H) and maps each E-vector to H
   with one dense layer: V x E + E x H instead of V x H.
2. **Cross-layer parameter sharing.**  One encoder block, applied L times: the L layers cost the
   parameters of one.  The *computation* is unchanged, L blocks run either way: ALBERT is smaller,
   not faster.

The block itself is bertedu's :class:`~bertedu.model.encoder.BertLayer` (ALBERT's layer is BERT's
post-LN block), and the tables are :class:`~bertedu.model.embeddings.BertEmbeddings` built E wide.
Attribute names follow the reference ALBERT checkpoints where the structure allows
(``embeddings.*`` at width E, ``encoder.embedding_hidden_mapping_in``, ``predictions.*``,
``sop_classifier``); the shared block keeps BertLayer's names (tests/test_beyond.py maps them to
``transformers``' ALBERT for the parity test).  Shapes: B batch, T tokens, E embedding width, H hidden.
"""

from __future__ import annotations

import dataclasses
import random

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.config import BertConfig
from bertedu.model.bert import BertModel, BertPooler, init_bert_weights
from bertedu.model.checks import IGNORE_INDEX, check_labels
from bertedu.model.embeddings import BertEmbeddings
from bertedu.model.encoder import BertLayer, activation
from bertedu.model.heads import BertForPreTrainingOutput, mlm_loss
from bertedu.pretraining import demo

__all__ = ["AlbertModel", "AlbertForPreTraining", "albert_num_parameters_formula", "DemoVariant", "DEMO_VARIANTS",
           "demo_run"]


def _check_embedding_size(embedding_size: int) -> None:
    if isinstance(embedding_size, bool) or not isinstance(embedding_size, int) or embedding_size < 1:
        raise ValueError(f"embedding_size (ALBERT's E) must be an int >= 1, e.g. 128; got {embedding_size!r}")


def albert_num_parameters_formula(config: BertConfig, embedding_size: int, share_layers: bool = True) -> int:
    """Exact parameter count of :class:`AlbertModel` (embeddings E wide, E->H map, layers, pooler).

    embeddings: (V + P + 2) E + 2E (LayerNorm);  map: E H + H;  one block: 4(H^2 + H) + 2H + 2HI + I + H
    + 2H, once if shared else L times;  pooler: H^2 + H.
    """
    _check_embedding_size(embedding_size)
    H, I, L, E = config.hidden_size, config.intermediate_size, config.num_hidden_layers, embedding_size
    learned_pos = config.max_position_embeddings if config.position_embedding_type == "absolute" else 0
    embeddings = (config.vocab_size + learned_pos + config.type_vocab_size) * E + 2 * E
    mapping = E * H + H
    block = 4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H
    return embeddings + mapping + (1 if share_layers else L) * block + H * H + H


class AlbertEncoder(nn.Module):
    """E -> H projection, then one shared block run L times (or L blocks when not shared)."""

    def __init__(self, config: BertConfig, embedding_size: int, share_layers: bool) -> None:
        super().__init__()
        self.num_hidden_layers = config.num_hidden_layers
        self.share_layers = share_layers
        self.embedding_hidden_mapping_in = nn.Linear(embedding_size, config.hidden_size)
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(1 if share_layers else config.num_hidden_layers))

    def forward(self, embedded: torch.Tensor, bias: torch.Tensor | None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> tuple[torch.Tensor, tuple | None, tuple | None]:
        """(B, T, E) -> (last (B, T, H), L+1 hidden states or None, L attention maps or None)."""
        x = self.embedding_hidden_mapping_in(embedded)  # (B, T, H)
        hidden = [x] if output_hidden_states else None
        probs_all = [] if output_attentions else None
        for i in range(self.num_hidden_layers):
            block = self.layer[0 if self.share_layers else i]  # the same weights every time when shared
            x, probs = block(x, bias, output_attentions)
            if hidden is not None:
                hidden.append(x)
            if probs_all is not None:
                probs_all.append(probs)
        return x, tuple(hidden) if hidden is not None else None, tuple(probs_all) if probs_all is not None else None


class AlbertModel(nn.Module):
    """ALBERT's encoder: ``forward(input_ids (B, T), ...) -> BertModelOutput`` like :class:`bertedu.BertModel`.

    ``embedding_size`` is E (ALBERT uses 128); ``share_layers=True`` shares all layers (ALBERT's default).
    """

    def __init__(self, config: BertConfig, embedding_size: int = 128, share_layers: bool = True, *,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"config must be a bertedu.BertConfig, got {type(config).__name__}")
        _check_embedding_size(embedding_size)
        self.config, self.embedding_size, self.share_layers = config, embedding_size, share_layers
        narrow = dataclasses.replace(config, hidden_size=embedding_size, num_attention_heads=1)  # tables E wide
        self.embeddings = BertEmbeddings(narrow)
        self.encoder = AlbertEncoder(config, embedding_size, share_layers)
        self.pooler = BertPooler(config)
        for module in self.modules():
            init_bert_weights(module, config.initializer_range, generator)

    # The rest is BertModel's own code: the same attribute names (embeddings, encoder, pooler, config) and the
    # same encoder signature, so embeddings (B, T, E) -> encoder (E -> H, then the blocks) -> pooler.
    get_input_embeddings = BertModel.get_input_embeddings   # here the (V, E) token table
    num_parameters = BertModel.num_parameters               # each shared tensor once
    forward = BertModel.forward


class AlbertMLMHead(nn.Module):
    """dense H -> E, activation, LayerNorm(E), then scores against the (V, E) table (tied) + bias."""

    def __init__(self, config: BertConfig, embedding_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, embedding_size)
        self.activation = activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(embedding_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(embedding_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(..., H) -> vocabulary logits (..., V)."""
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states)))) + self.bias


class SopClassifier(nn.Module):
    """Sentence-order prediction (Sec. 3.1 of ALBERT) on the pooled [CLS]: 0 = in order, 1 = swapped."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled))  # (B, 2)


class AlbertForPreTraining(nn.Module):
    """AlbertModel + the MLM head + SOP: the same ``forward`` and output as :class:`bertedu.BertForPreTraining`,
    so :func:`bertedu.train` runs it unchanged (its ``next_sentence_label`` is the SOP label with SOP data)."""

    def __init__(self, config: BertConfig, embedding_size: int = 128, share_layers: bool = True, *,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config, embedding_size, share_layers, generator=generator)
        self.predictions = AlbertMLMHead(config, embedding_size)
        self.sop_classifier = SopClassifier(config)
        for module in (self.predictions, self.sop_classifier):
            for sub in module.modules():
                init_bert_weights(sub, config.initializer_range, generator)
        self.predictions.decoder.weight = self.albert.get_input_embeddings().weight  # tied (V, E)

    num_parameters = AlbertModel.num_parameters

    def get_input_embeddings(self) -> nn.Embedding:
        return self.albert.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, labels: torch.Tensor | None = None,
                next_sentence_label: torch.Tensor | None = None, masked_only: bool = False
                ) -> BertForPreTrainingOutput:
        """As :meth:`bertedu.BertForPreTraining.forward`: MLM loss + sentence-pair loss, each if labelled."""
        if masked_only and labels is None:
            raise ValueError("masked_only=True needs labels (it predicts only where labels != -100)")
        check_labels(labels, next_sentence_label, input_ids, self.config.vocab_size)
        out = self.albert(input_ids, token_type_ids, attention_mask, output_attentions, output_hidden_states)
        tokens, targets = out.last_hidden_state, labels
        if masked_only:
            chosen = labels != IGNORE_INDEX
            tokens, targets = tokens[chosen], labels[chosen]  # (N, H), (N,)
        logits = self.predictions(tokens)
        pair_logits = self.sop_classifier(out.pooler_output)
        mlm = None if targets is None else mlm_loss(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        pair = None if next_sentence_label is None else F.cross_entropy(pair_logits, next_sentence_label)
        present = [x for x in (mlm, pair) if x is not None]
        loss = sum(present[1:], present[0]) if present else None
        return BertForPreTrainingOutput(loss, mlm, pair, logits, pair_logits, out.last_hidden_state,
                                        out.pooler_output, out.hidden_states, out.attentions)


# ----------------------------------------------------------------------------- a small run (chapter 13)
@dataclasses.dataclass(frozen=True)
class DemoVariant:
    """One model of :func:`demo_run`: ``embedding_size=None`` is BERT itself (chapter 8's demo model)."""

    name: str
    embedding_size: int | None
    share_layers: bool = False


# BERT and ALBERT at the size of chapter 8's demo model (L=2, H=64, A=2, I=128, no dropout)
DEMO_VARIANTS: tuple[DemoVariant, ...] = (
    DemoVariant("BERT (E = H = 64)", None),
    DemoVariant("ALBERT E=64, not shared", 64, False),
    DemoVariant("ALBERT E=64, shared", 64, True),
    DemoVariant("ALBERT E=32, shared", 32, True),
    DemoVariant("ALBERT E=16, shared", 16, True),
)


def demo_run(variant: DemoVariant, *, steps: int = 600, eval_every: int = 50, seed: int = 0, batch_size: int = 256,
             lr: float = 5e-3, n_test: int = 1200) -> dict:
    """Pre-train one BERT or ALBERT with masked LM on chapter 8's tiny language and record how fast it learns.

    Everything but the model is chapter 8's demo (:mod:`bertedu.pretraining.demo`): the same ``steps``
    batches of ``batch_size`` sentences (seed ``seed``), the same ``train_step`` recipe, the same test
    blanks (seed ``seed + 1``). Every ``eval_every`` steps the [MASK] accuracy per kind of blank is
    recorded. Deterministic for a seed (no dropout, seeded draws). Cost: about 0.04 s of CPU per step (with the evaluations) on
    one thread at the defaults. Returns ``{"variant", "embedding_size", "share_layers", "parameters",
    "seed", "curve": [{"step", "needs right context", "left suffices", "loss"}, ...]}`` where ``loss`` is
    the mean training loss over the steps since the previous point.
    """
    if not isinstance(variant, DemoVariant):
        raise TypeError(f"variant must be a DemoVariant (see DEMO_VARIANTS), got {type(variant).__name__}")
    for name, value in (("steps", steps), ("eval_every", eval_every), ("batch_size", batch_size),
                        ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    tokenizer = demo.demo_tokenizer()
    rng = random.Random(seed)
    batches = [demo.encode([demo.sample_sentence(rng)[0] for _ in range(batch_size)], tokenizer)
               for _ in range(steps)]
    test = demo.make_examples(n_test, random.Random(seed + 1))
    model = demo.build_demo_model(tokenizer, causal=False, seed=seed)
    if variant.embedding_size is not None:
        model = AlbertForPreTraining(model.config, variant.embedding_size, variant.share_layers,
                                     generator=torch.Generator().manual_seed(seed))
    curve = [{"step": 0, **_kind_accuracy(model, test, tokenizer)}]

    def record(step: int, trained: nn.Module) -> None:
        if step % eval_every == 0 or step == steps:
            curve.append({"step": step, **_kind_accuracy(trained, test, tokenizer)})

    losses = demo.train_demo_model(model, batches, tokenizer, lr, seed, callback=record)
    for before, point in zip(curve, curve[1:]):  # mean training loss over the steps since the previous point
        point["loss"] = sum(losses[before["step"]:point["step"]]) / (point["step"] - before["step"])
    curve[0]["loss"] = None
    return {"variant": variant.name, "embedding_size": variant.embedding_size or model.config.hidden_size,
            "share_layers": variant.share_layers, "parameters": sum(p.numel() for p in model.parameters()),
            "seed": seed, "steps": steps, "curve": curve}


def _kind_accuracy(model: nn.Module, test: list, tokenizer: object) -> dict[str, float]:
    acc = demo.accuracy_by_kind(test, demo.predict_blanks(model, test, tokenizer))
    return {k: acc[k] for k in demo.KINDS}

"""The feature-based approach (BERT paper, Sec. 5.3, Table 7): frozen activations -> BiLSTM.

Fine-tuning updates every weight of BERT for the task. The feature-based approach instead
runs the pre-trained encoder *once*, keeps some of its activations, and trains only a new
model on top:

    "we apply the feature-based approach by extracting the activations from one or more
    layers without fine-tuning any parameters of BERT. These contextual embeddings are used
    as input to a randomly initialized two-layer 768-dimensional BiLSTM before the
    classification layer." (Sec. 5.3)

This module has the three pieces:

1. :func:`extract_features`: every hidden state of a frozen encoder (the embedding output
   and each layer's output, ``L + 1`` of them) at the first sub-token of every word of an
   encoded tagging split, computed under ``torch.no_grad`` and kept as one packed float16
   tensor (a :class:`FeatureCache`, saved and loaded with a file), so that all six Table 7
   rows and every seed read the same activations;
2. :data:`VARIANTS` and :func:`variant_layers`: which hidden states each Table 7 row reads,
   and how (one layer, an ELMo-style learned weighted sum, or a concatenation);
3. :class:`BiLSTMTagger`: (one layer | weighted sum | concat) -> dropout -> two-layer BiLSTM
   -> linear, over one vector per word: its first sub-token's, the piece the fine-tuned
   tagger classifies (Sec. 5.3). The encoder saw every piece; the BiLSTM reads words, which
   costs about a third less than reading every piece.

Shapes: S sentences, N words in all, K = L + 1 hidden states, H hidden size, B batch,
T words of the longest sentence in a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["VARIANTS", "Variant", "variant_layers", "FeatureCache", "extract_features",
           "ScalarMix", "BiLSTMTagger", "dropout_mask"]

IGNORE_INDEX = -100  # as bertedu.model.checks: non-first pieces, [CLS] and [SEP]


@dataclass(frozen=True)
class Variant:
    """One row of Table 7: a name, the paper's wording, how its layers are combined."""

    name: str
    title: str
    combine: str  # "one" | "mix" (learned softmax-weighted sum) | "concat"


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("embeddings", "Embeddings", "one"),
    Variant("second_to_last_hidden", "Second-to-Last Hidden", "one"),
    Variant("last_hidden", "Last Hidden", "one"),
    Variant("weighted_sum_last_four", "Weighted Sum Last Four Hidden", "mix"),
    Variant("concat_last_four", "Concat Last Four Hidden", "concat"),
    Variant("weighted_sum_all", "Weighted Sum All 12 Layers", "mix"),
]}


def variant_layers(variant: str, num_layers: int) -> list[int]:
    """Indices into ``hidden_states`` (0 = embedding output, i = output of layer i).

    For BERT-Base (12 layers) these are the paper's rows: [0], [11], [12], [9..12],
    [9..12], [1..12]. A smaller model keeps the same rule: "last four" is the last four
    of the ``L + 1`` hidden states (for a 2-layer model all three, the embedding output
    included) and "all layers" are the L Transformer layers (the paper's "All 12 Layers"
    of a 12-layer model; the embedding output is a row of its own).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; "
                         f"choose one of {', '.join(VARIANTS)}")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) \
            or num_layers < 1:
        raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}")
    last = num_layers
    last_four = list(range(max(0, last - 3), last + 1))
    return {"embeddings": [0], "second_to_last_hidden": [last - 1],
            "last_hidden": [last],
            "weighted_sum_last_four": last_four, "concat_last_four": last_four,
            "weighted_sum_all": list(range(1, last + 1))}[variant]


@dataclass
class FeatureCache:
    """Frozen hidden states at the first sub-token of every word of one split, packed:
    sentence s owns rows ``offsets[s]:offsets[s + 1]`` (one per word, in order; words cut
    off by truncation have none)."""

    states: torch.Tensor  # (N, K, H) float16: N words in all, K = L + 1
    offsets: torch.Tensor  # (S + 1,) long
    labels: torch.Tensor  # (N,) long: the word's tag id
    positions: torch.Tensor  # (N,) long: token index of the word's first piece
    token_lengths: torch.Tensor  # (S,) long: tokens per sentence, [CLS] and [SEP] included

    @property
    def num_sentences(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_layers(self) -> int:
        return self.states.shape[1] - 1

    @property
    def lengths(self) -> list[int]:
        """Words (rows) per sentence."""
        return (self.offsets[1:] - self.offsets[:-1]).tolist()

    def batch(self, indices: Sequence[int], layers: Sequence[int]) -> dict[str, torch.Tensor]:
        """Padded float32 ``features`` (B, T, len(layers), H), ``lengths`` (B,) and
        ``labels`` (B, T), -100 on padding; T = the most words of a sentence in the batch."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        starts, counts = self.offsets[idx], self.offsets[idx + 1] - self.offsets[idx]
        T = max(1, int(counts.max()))
        valid = torch.arange(T)[None, :] < counts[:, None]  # (B, T)
        rows = (starts[:, None] + torch.arange(T)[None, :])[valid]  # the words, row by row
        x = torch.zeros(len(idx), T, len(layers), self.states.shape[2])
        x[valid] = self.states[rows][:, list(layers)].float()
        y = torch.full((len(idx), T), IGNORE_INDEX, dtype=torch.long)
        y[valid] = self.labels[rows]
        return {"features": x, "lengths": counts.clamp(min=1), "labels": y}

    def token_predictions(self, sentence: int, word_predictions: Sequence[int],
                          fill: int = 0) -> list[int]:
        """One prediction per *token* of ``sentence`` (``fill`` off the first pieces): the
        form the fine-tuning scorer reads (:func:`bertedu.finetuning.scoring.score`)."""
        out = [fill] * int(self.token_lengths[sentence])
        a, b = int(self.offsets[sentence]), int(self.offsets[sentence + 1])
        for position, value in zip(self.positions[a:b].tolist(), word_predictions):
            out[position] = int(value)
        return out

    def save(self, path: str | Path) -> None:
        from bertedu._io import atomic_write
        atomic_write(path, lambda tmp: torch.save(self.__dict__, tmp))

    @classmethod
    def load(cls, path: str | Path) -> "FeatureCache":
        return cls(**torch.load(path, weights_only=True))


@torch.no_grad()
def extract_features(model: nn.Module, features: Sequence[dict[str, Any]], *,
                     batch_size: int = 64, pad_token_id: int = 0) -> FeatureCache:
    """All ``L + 1`` hidden states of a frozen encoder at each word's first sub-token.

    ``model``: a :class:`bertedu.BertModel` (or any model whose ``forward(input_ids,
    attention_mask=, output_hidden_states=True)`` returns ``hidden_states``);
    ``features``: the dicts of :func:`bertedu.finetuning.features.encode_task` for a
    tagging task, whose ``labels`` mark the first pieces (-100 elsewhere). The encoder
    reads every piece of the sentence; only the first pieces' vectors are kept, as the
    fine-tuned tagger classifies only them (Sec. 5.3). Eval mode (no dropout) and no
    gradient recorded: nothing trained downstream can reach the encoder's weights.
    """
    if not features:
        raise ValueError("features is empty; encode a split first "
                         "(bertedu.finetuning.run.prepare_data)")
    was_training = model.training
    model.eval()
    lengths = [len(f["input_ids"]) for f in features]
    order = sorted(range(len(features)), key=lambda i: -lengths[i])  # less padding
    rows: list[torch.Tensor | None] = [None] * len(features)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        T = max(lengths[i] for i in idx)
        ids = torch.tensor([features[i]["input_ids"] + [pad_token_id] * (T - lengths[i])
                            for i in idx])
        real = torch.tensor([lengths[i] for i in idx])
        mask = (torch.arange(T)[None, :] < real[:, None]).long()  # (B, T)
        out = model(ids, attention_mask=mask, output_hidden_states=True)
        stacked = torch.stack(out.hidden_states, dim=2)  # (B, T, K, H)
        for row, i in enumerate(idx):
            first = torch.tensor(features[i]["labels"]) != IGNORE_INDEX
            rows[i] = stacked[row, : lengths[i]][first].to(torch.float16)
    model.train(was_training)
    firsts = [[p for p, y in enumerate(f["labels"]) if y != IGNORE_INDEX]
              for f in features]
    return FeatureCache(
        states=torch.cat(rows),  # type: ignore[arg-type]
        offsets=torch.tensor([0] + [len(p) for p in firsts]).cumsum(0),
        labels=torch.tensor([f["labels"][p] for f, ps in zip(features, firsts)
                             for p in ps], dtype=torch.long),
        positions=torch.tensor([p for ps in firsts for p in ps], dtype=torch.long),
        token_lengths=torch.tensor(lengths, dtype=torch.long))


def dropout_mask(shape: Sequence[int], p: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Inverted-dropout multipliers (0 or 1/(1-p)) drawn from ``generator``, not from
    torch's global generator."""
    if p <= 0:
        return torch.ones(shape)
    return (torch.rand(shape, generator=generator) >= p).float() / (1.0 - p)


class ScalarMix(nn.Module):
    """ELMo's scalar mix: gamma * sum_k softmax(w)_k h_k, with w and gamma learned.

    The paper's "weighted sum" does not say how the weights are set; learning them with
    the tagger, softmax-normalised, is ELMo's recipe (Peters et al. 2018, Eq. 1), which
    Table 7 sets BERT against. The weights start equal (w = 0), gamma at 1.
    """

    def __init__(self, num_inputs: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(num_inputs))
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, K, H) -> (B, T, H)
        return self.gamma * torch.einsum("btkh,k->bth", x, self.weights.softmax(0))


class BiLSTMTagger(nn.Module):
    """Frozen features -> combine -> dropout -> two-layer BiLSTM -> linear (Sec. 5.3).

    ``combine`` is a :class:`Variant`'s: "one" (K = 1), "mix" (:class:`ScalarMix`) or
    "concat" (K x H inputs). Padding is packed away, so the backward LSTM never reads
    [PAD] positions. Every weight is drawn from ``generator`` (uniform +-1/sqrt(fan),
    PyTorch's LSTM rule; biases zero).
    """

    def __init__(self, hidden_size: int, num_inputs: int, num_labels: int, *,
                 combine: str = "one", lstm_size: int = 128, num_layers: int = 2,
                 dropout: float = 0.1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if combine not in ("one", "mix", "concat"):
            raise ValueError(f"combine must be 'one', 'mix' or 'concat', "
                             f"got {combine!r}")
        if combine == "one" and num_inputs != 1:
            raise ValueError(f"combine='one' reads one layer, "
                             f"got num_inputs={num_inputs}")
        self.combine, self.dropout = combine, dropout
        self.mix = ScalarMix(num_inputs) if combine == "mix" else None
        width = hidden_size * num_inputs if combine == "concat" else hidden_size
        self.lstm = nn.LSTM(width, lstm_size, num_layers=num_layers, batch_first=True,
                            bidirectional=True)
        self.classifier = nn.Linear(2 * lstm_size, num_labels)
        self._init(generator or torch.Generator().manual_seed(0), lstm_size)

    @torch.no_grad()
    def _init(self, generator: torch.Generator, lstm_size: int) -> None:
        for name, p in self.named_parameters():
            if name.startswith("lstm.weight") or name == "classifier.weight":
                fan = lstm_size if name.startswith("lstm") else p.shape[1]
                bound = 1 / math.sqrt(fan)
                p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
            elif "bias" in name:
                p.zero_()

    def combined(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, K, H) -> (B, T, D): one layer, the scalar mix, or K side by side."""
        if self.mix is not None:
            return self.mix(features)
        return features.flatten(2)  # "one": K = 1; "concat": (B, T, K * H)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (B, T, num_labels); dropout (training only) uses ``generator``."""
        g = generator or torch.Generator().manual_seed(0)
        x = self.combined(features)  # (B, T, D)
        if self.training and self.dropout > 0:
            x = x * dropout_mask(x.shape, self.dropout, g)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        if self.training and self.dropout > 0:  # out: (B, T, 2 * lstm_size)
            out = out * dropout_mask(out.shape, self.dropout, g)
        return self.classifier(out)

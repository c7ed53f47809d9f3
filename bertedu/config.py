"""Model hyper-parameters (BERT paper, Section 3: "We primarily report results on two model sizes").

The paper names a model by three numbers: L (layers), H (hidden size) and A (attention heads).
Real checkpoints store them in a ``config.json`` under longer names; :class:`BertConfig` uses those
``config.json`` keys so a real file round-trips, and comments give the paper's letter for each.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertedu._io import atomic_write_text

# name: (L, H).  A = H / 64 and the feed-forward size is 4H, as in the paper and the
# 24 small models of Turc et al. (2019), "Well-Read Students Learn Better".
PRESETS: dict[str, tuple[int, int]] = {
    "tiny": (2, 128),
    "mini": (4, 256),
    "small": (4, 512),
    "medium": (8, 512),
    "base": (12, 768),
    "large": (24, 1024),
}

# Table 6 of the paper varies L, H and A separately (e.g. 6/768/3 beside 6/768/12), which (L, H) names
# cannot say; so BertConfig.preset also reads a size spelled "L{layers}-H{hidden}-A{heads}" (the naming of
# Turc et al.'s checkpoints), with the feed-forward size 4H.  SIZE_GRID is the book's miniature of Table 6:
# H 768 -> 128 and 1024 -> 192 (d = H/A = 64 kept), L divided by 3 (3, 6, 12, 24 -> 1, 2, 4, 8), and the
# few-heads row 6/768/3 (d = 256, a quarter of the heads) as 2/128/1.
SIZE_GRID: dict[str, tuple[int, int, int]] = {  # paper L/H/A -> miniature (L, H, A)
    "3/768/12": (1, 128, 2),
    "6/768/3": (2, 128, 1),
    "6/768/12": (2, 128, 2),  # = the "tiny" preset
    "12/768/12": (4, 128, 2),
    "12/1024/16": (4, 192, 3),
    "24/1024/16": (8, 192, 3),
}
_SIZE_NAME = re.compile(r"L(\d+)-H(\d+)-A(\d+)")

_HIDDEN_ACTS = ("gelu", "relu", "gelu_new")
_ATTN_IMPLS = ("eager", "sdpa")
_POSITION_TYPES = ("absolute", "sinusoidal")


@dataclass
class BertConfig:
    """Hyper-parameters of a BERT model, named as in a real checkpoint's ``config.json``.

    >>> cfg = BertConfig.preset("tiny", vocab_size=8000)
    >>> cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads
    (2, 128, 2)
    """

    vocab_size: int = 30522  # V: WordPiece vocabulary ("30,000 token vocabulary", Sec. 3)
    hidden_size: int = 768  # H
    num_hidden_layers: int = 12  # L
    num_attention_heads: int = 12  # A
    intermediate_size: int = 3072  # feed-forward size, 4H in the paper
    hidden_act: str = "gelu"  # exact erf GELU, as the original TensorFlow code
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512  # longest sequence the position table covers
    type_vocab_size: int = 2  # segments A and B
    initializer_range: float = 0.02  # std of the truncated-normal initialiser
    layer_norm_eps: float = 1e-12  # the original code's value; 1e-5 (PyTorch's default) drifts
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"  # "absolute" (learned, BERT) or "sinusoidal" (Vaswani et al.)
    is_decoder: bool = False  # True = causal (left-to-right) attention, the paper's "LTR" ablation
    attn_implementation: str = "sdpa"  # "eager" (readable, can return probabilities) or "sdpa" (fused)
    architectures: list[str] = field(default_factory=lambda: ["BertForPreTraining"])
    model_type: str = "bert"

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the bad field and how to fix it."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"BertConfig.{name} must be an int, got {type(value).__name__} {value!r}")
            if value < 1:
                raise ValueError(f"BertConfig.{name} must be >= 1, got {value}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}): each head gets hidden_size / num_attention_heads dimensions. "
                f"Pick e.g. num_attention_heads={_divisor_hint(self.hidden_size)}."
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p < 1.0:
                raise ValueError(f"BertConfig.{name} must be a probability in [0, 1), got {p!r}")
        if not isinstance(self.layer_norm_eps, (int, float)) or not self.layer_norm_eps > 0:
            raise ValueError(f"BertConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range < 0:
            raise ValueError(f"BertConfig.initializer_range must be >= 0, got {self.initializer_range!r}")
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"BertConfig.pad_token_id must be in [0, vocab_size={self.vocab_size}), "
                             f"got {self.pad_token_id!r}")
        _check_choice("hidden_act", self.hidden_act, _HIDDEN_ACTS)
        _check_choice("attn_implementation", self.attn_implementation, _ATTN_IMPLS)
        _check_choice("position_embedding_type", self.position_embedding_type, _POSITION_TYPES)
        if not isinstance(self.is_decoder, bool):
            raise TypeError(f"BertConfig.is_decoder must be a bool, got {self.is_decoder!r}")

    # ------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "BertConfig":
        """A named model size: tiny, mini, small, medium, base or large, or ``"L{l}-H{h}-A{a}"``.

        Named presets have A = H/64; every size has intermediate_size = 4H. Any field can be overridden,
        e.g. ``BertConfig.preset("tiny", vocab_size=8000)``, ``BertConfig.preset("L2-H128-A1")`` (Table 6's
        few-heads row in miniature, see :data:`SIZE_GRID`).
        """
        size = parse_size(name)
        if size is None:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)} "
                             f"or spell a size L<layers>-H<hidden>-A<heads>, e.g. L4-H128-A2")
        layers, hidden, heads = size
        values: dict[str, Any] = dict(num_hidden_layers=layers, hidden_size=hidden,
                                      num_attention_heads=heads, intermediate_size=4 * hidden)
        values.update(overrides)
        return cls.from_dict(values)

    # ------------------------------------------------------------------ (de)serialisation
    @property
    def head_dim(self) -> int:
        """d = H / A, the width of one attention head."""
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "BertConfig":
        """Build from a ``config.json`` dictionary; keys we do not use (``transformers_version``,
        ``gradient_checkpointing``, ...) are ignored, wrong types raise."""
        if not isinstance(values, dict):
            raise TypeError(f"BertConfig.from_dict expects a dict, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in known}
        unknown = set(values) - known
        if "_attn_implementation" in unknown and "attn_implementation" not in values:
            impl = values["_attn_implementation"]
            kwargs["attn_implementation"] = "eager" if impl == "eager" else "sdpa"
        if "architectures" in kwargs and kwargs["architectures"] is None:
            kwargs.pop("architectures")
        return cls(**kwargs)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_json(self, path: str | Path) -> None:
        """Write ``config.json`` (atomically: a crash never leaves half a file)."""
        atomic_write_text(path, self.to_json_string())

    @classmethod
    def from_json_file(cls, path: str | Path) -> "BertConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no config file at {path}")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
        return cls.from_dict(values)

    def num_parameters_formula(self) -> int:
        """Exact parameter count of :class:`bertedu.BertModel` (embeddings, L layers, pooler)."""
        H, I, L = self.hidden_size, self.intermediate_size, self.num_hidden_layers
        learned_pos = self.max_position_embeddings if self.position_embedding_type == "absolute" else 0
        embeddings = (self.vocab_size + learned_pos + self.type_vocab_size) * H + 2 * H
        layer = 4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H
        pooler = H * H + H
        return embeddings + L * layer + pooler


def parse_size(name: Any) -> tuple[int, int, int] | None:
    """(L, H, A) of a preset name (``"tiny"``, ...) or a spelled size (``"L4-H128-A2"``); None if neither.

    >>> parse_size("tiny"), parse_size("L2-H128-A1"), parse_size("huge")
    ((2, 128, 2), (2, 128, 1), None)
    """
    if not isinstance(name, str):
        return None
    if name.lower() in PRESETS:
        layers, hidden = PRESETS[name.lower()]
        return layers, hidden, hidden // 64
    match = _SIZE_NAME.fullmatch(name)
    if match is None:
        return None
    layers, hidden, heads = (int(g) for g in match.groups())
    return (layers, hidden, heads) if min(layers, hidden, heads) >= 1 else None


def size_name(layers: int, hidden: int, heads: int) -> str:
    """The preset name of a size: ``size_name(4, 128, 2) == "L4-H128-A2"``."""
    return f"L{layers}-H{hidden}-A{heads}"


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"BertConfig.{name} must be one of {choices}, got {value!r}")


def _divisor_hint(hidden: int) -> int:
    for heads in (hidden // 64, 12, 8, 4, 2, 1):
        if heads >= 1 and hidden % heads == 0:
            return heads
    return 1


__all__ = ["BertConfig", "PRESETS", "SIZE_GRID", "parse_size", "size_name"]

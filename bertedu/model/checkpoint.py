"""Loading and saving real BERT checkpoints (the weights behind Sec. 4's fine-tuning results).

Because every module attribute in bertedu is named like the reference implementation's
state-dict keys, a checkpoint loads by a plain key copy.  :func:`load_hf_state_dict` is strict:
an unknown key or a wrong shape raises ``ValueError`` listing every offending key and shape, so a
silently half-loaded model (bug #8 in book/bugs.md) cannot happen.  The differences it *tolerates* are exactly:

1. keys with or without the ``bert.`` prefix (a ``BertModel`` checkpoint has none, a
   ``BertForPreTraining`` one has it);
2. the legacy names ``LayerNorm.gamma`` / ``LayerNorm.beta`` (old TensorFlow conversions) for
   ``LayerNorm.weight`` / ``LayerNorm.bias``;
3. the buffers ``embeddings.position_ids`` / ``embeddings.token_type_ids`` some checkpoints store:
   ignored, bertedu recomputes them;
4. ``cls.predictions.decoder.weight``: the tied output matrix; accepted only if it equals the word
   embeddings of the same checkpoint (otherwise it is an untied model bertedu cannot represent);
5. ``cls.predictions.decoder.bias``: another name for ``cls.predictions.bias`` (if both are
   present they must be equal);
6. loading into :class:`~bertedu.BertForPreTraining` from a checkpoint without (some of) the
   ``cls.*`` head weights (e.g. a ``BertModel`` checkpoint): those heads keep their fresh random
   initialisation and the report lists them under ``fresh``;
7. loading into :class:`~bertedu.BertModel` from a checkpoint with ``cls.*`` head weights: they are
   skipped and listed under ``ignored``.

:func:`save_pretrained` writes ``config.json`` + ``model.safetensors`` that
``transformers.BertForPreTraining.from_pretrained`` (or ``BertModel``) loads with no missing and no
unexpected keys.  Every file is written to a temporary name and moved into place with
``os.replace``, so an interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from bertedu._io import atomic_write, atomic_write_text
from bertedu.config import BertConfig
from bertedu.model.heads import BertForPreTraining
from bertedu.model.bert import BertModel

__all__ = ["LoadReport", "load_hf_state_dict", "from_pretrained", "save_pretrained"]

_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
_DECODER_W = "cls.predictions.decoder.weight"
_DECODER_B = "cls.predictions.decoder.bias"
_BIAS = "cls.predictions.bias"
_WORDS = "embeddings.word_embeddings.weight"


@dataclass
class LoadReport:
    """What :func:`load_hf_state_dict` did, key by key (model key names)."""

    loaded: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)  # model keys absent from the checkpoint (heads only)
    ignored: list[str] = field(default_factory=list)  # checkpoint keys deliberately not used
    renamed: dict[str, str] = field(default_factory=dict)  # legacy checkpoint name -> model name

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors"]
        if self.fresh:
            lines.append(f"freshly initialised (not in checkpoint): {', '.join(self.fresh)}")
        if self.ignored:
            lines.append(f"ignored checkpoint keys: {', '.join(self.ignored)}")
        if self.renamed:
            lines.append(f"renamed legacy keys: {len(self.renamed)}")
        return "\n".join(lines)


def _canonical(key: str) -> str:
    """Checkpoint key -> backbone-relative key (no ``bert.``), legacy gamma/beta renamed."""
    if key.startswith("bert."):
        key = key[len("bert."):]
    if key.endswith("LayerNorm.gamma"):
        key = key[: -len("gamma")] + "weight"
    elif key.endswith("LayerNorm.beta"):
        key = key[: -len("beta")] + "bias"
    return key


def _model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Backbone-relative key -> the model's parameter/buffer, aliases of the tied head left out."""
    if isinstance(model, BertForPreTraining):
        prefixed = model.state_dict(keep_vars=True)
        out = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in prefixed.items()}
        out.pop(_DECODER_W), out.pop(_DECODER_B)
        return out
    if isinstance(model, BertModel):
        return dict(model.state_dict(keep_vars=True))
    raise TypeError(f"model must be a bertedu BertModel or BertForPreTraining, got {type(model).__name__}")


def _model_name(model: nn.Module, key: str) -> str:
    return f"bert.{key}" if isinstance(model, BertForPreTraining) and not key.startswith("cls.") else key


def _sort_keys(model: nn.Module, state_dict: Mapping[str, Any], report: LoadReport
               ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """Split checkpoint tensors into (to copy, special head aliases, problems)."""
    heads = isinstance(model, BertForPreTraining)
    wanted, special, problems = {}, {}, []
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            problems.append(f"{key}: not a tensor ({type(value).__name__})")
            continue
        name = _canonical(key)
        if key.endswith(("LayerNorm.gamma", "LayerNorm.beta")):
            report.renamed[key] = name
        if name in _BUFFERS or (not heads and name.startswith("cls.")):
            report.ignored.append(key)
        elif name in (_DECODER_W, _DECODER_B):
            special[name] = value
        elif name in wanted:
            problems.append(f"{key}: duplicate of another key that maps to {name}")
        else:
            wanted[name] = value
    return wanted, special, problems


def _check_tied(wanted: dict[str, torch.Tensor], special: dict[str, torch.Tensor], problems: list[str]) -> None:
    """Tolerances 4 and 5: the decoder's weight/bias are aliases, never independent tensors."""
    if _DECODER_W in special:
        words = wanted.get(_WORDS)
        w = special[_DECODER_W]
        if words is None or w.shape != words.shape or not torch.equal(w, words.to(w.dtype)):
            problems.append(f"{_DECODER_W} {tuple(w.shape)}: differs from the word embeddings, but bertedu "
                            "ties them; this untied checkpoint cannot be loaded")
    if _DECODER_B in special:
        b = special[_DECODER_B]
        if _BIAS not in wanted:
            wanted[_BIAS] = b
        elif wanted[_BIAS].shape != b.shape or not torch.equal(wanted[_BIAS], b.to(wanted[_BIAS].dtype)):
            problems.append(f"{_DECODER_B} {tuple(b.shape)}: differs from {_BIAS}; they must be one tensor")


def load_hf_state_dict(model: nn.Module, state_dict: Mapping[str, Any]) -> LoadReport:
    """Copy a reference-format (``transformers``) state dict into ``model``, strictly.

    ``model`` is a :class:`~bertedu.BertModel` or :class:`~bertedu.BertForPreTraining`; the keys may
    or may not carry the ``bert.`` prefix.  Only the seven differences in this module's docstring are
    tolerated; anything else raises ``ValueError`` before a single tensor is copied, listing every
    unknown key, missing key and shape mismatch.  Returns a :class:`LoadReport`.
    """
    if hasattr(model, "load_reference_state_dict"):  # a task head (bertedu.finetuning): its own rules
        return model.load_reference_state_dict(state_dict)
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of key -> tensor, got {type(state_dict).__name__}")
    targets = _model_tensors(model)
    report = LoadReport()
    wanted, special, problems = _sort_keys(model, state_dict, report)
    _check_tied(wanted, special, problems)
    for name, value in wanted.items():
        if name not in targets:
            problems.append(f"unexpected key {name} {tuple(value.shape)}")
        elif value.shape != targets[name].shape:
            problems.append(f"shape mismatch {name}: checkpoint {tuple(value.shape)}, "
                            f"model {tuple(targets[name].shape)}")
    for name in targets:
        if name not in wanted and name.startswith("cls."):
            report.fresh.append(name)
        elif name not in wanted:
            problems.append(f"missing key {name} {tuple(targets[name].shape)}")
    if problems:
        raise ValueError("checkpoint does not match the model:\n  " + "\n  ".join(problems))
    with torch.no_grad():
        for name, value in wanted.items():
            targets[name].copy_(value)
            report.loaded.append(_model_name(model, name))
    return report


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """Read model.safetensors (preferred) or pytorch_model.bin; corrupt -> ValueError naming the file."""
    safe, legacy = directory / "model.safetensors", directory / "pytorch_model.bin"
    try:
        if safe.is_file():
            from safetensors.torch import load_file
            return load_file(str(safe))
        if legacy.is_file():
            loaded = torch.load(legacy, map_location="cpu", weights_only=True)  # never unpickle code
            if not isinstance(loaded, dict):
                raise ValueError(f"expected a state dict, found {type(loaded).__name__}")
            return loaded
    except Exception as err:  # safetensors, pickle and zip errors have no common base class
        file = safe if safe.is_file() else legacy
        raise ValueError(f"cannot read weights from {file}: it is truncated or corrupt ({err})") from err
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {directory}")


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
# what a BERT checkpoint needs from a hub repository (no TensorFlow/Flax/ONNX copies)
_HUB_FILES = ["config.json", "model.safetensors", "pytorch_model.bin", "vocab.txt", "tokenizer_config.json",
              "special_tokens_map.json"]


def looks_like_hub_id(path: str | os.PathLike[str]) -> bool:
    """``"bert-base-uncased"`` or ``"google/bert_uncased_L-2_H-128_A-2"``: at most one slash, no leading
    ``.``, ``/`` or ``~``, only the characters the Hugging Face hub allows in repository names."""
    text = str(path)
    return bool(_HUB_ID.match(text)) and ".." not in text and not text.endswith((".json", ".safetensors", ".bin"))


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """The local checkpoint directory for ``path``: the directory itself, or, for a Hugging Face hub id
    that is not a local folder, its snapshot fetched by ``huggingface_hub`` (from the local cache when
    offline, ``HF_HUB_OFFLINE=1``). Every failure is one clear error saying what to do."""
    directory = Path(path).expanduser()
    if directory.is_dir():
        return directory
    if directory.is_file():
        raise ValueError(f"{directory} is a file: pass the checkpoint *directory* that holds config.json "
                         f"and model.safetensors (here: {directory.parent})")
    if not looks_like_hub_id(path):
        raise FileNotFoundError(f"checkpoint directory {directory} does not exist")
    try:
        import huggingface_hub
        from huggingface_hub import errors as hub_errors
        from huggingface_hub.utils import HfHubHTTPError
    except ImportError as err:  # pragma: no cover - huggingface_hub is a dependency
        raise FileNotFoundError(f"{str(path)!r} is not a local directory; to load it as a hub id, "
                                f"pip install huggingface_hub") from err
    try:
        folder = huggingface_hub.snapshot_download(str(path), allow_patterns=_HUB_FILES)
    except hub_errors.LocalEntryNotFoundError as err:
        raise FileNotFoundError(
            f"{str(path)!r} is not a local directory, and as a Hugging Face hub id it is not in the local "
            f"cache while the hub is unreachable or HF_HUB_OFFLINE=1: go online once (unset HF_HUB_OFFLINE) "
            f"to download it, or pass a checkpoint directory (e.g. data/pretrained/cpu-tiny)") from err
    except hub_errors.RepositoryNotFoundError as err:
        raise FileNotFoundError(f"{str(path)!r} is neither a local directory nor a model on the Hugging Face "
                                f"hub (check the spelling, e.g. 'google-bert/bert-base-uncased')") from err
    except (HfHubHTTPError, OSError) as err:
        raise FileNotFoundError(f"could not download {str(path)!r} from the Hugging Face hub ({err}); "
                                f"pass a local checkpoint directory instead") from err
    return Path(folder)


def from_pretrained(path: str | os.PathLike[str], model_class: type[nn.Module] | None = None, *,
                    attn_implementation: str | None = None, return_report: bool = False,
                    **head_kwargs: Any) -> Any:
    """Build a model from a checkpoint directory (``config.json`` + weights), in eval mode.

    ``path`` may also be a Hugging Face hub id (``"google/bert_uncased_L-2_H-128_A-2"``): it is fetched
    with ``huggingface_hub`` when online, or read from its cache when offline (see
    :func:`resolve_checkpoint`).

    ``model_class`` is :class:`~bertedu.BertModel` or :class:`~bertedu.BertForPreTraining` (by default
    BertForPreTraining when the checkpoint contains ``cls.*`` head weights, else BertModel), or a task
    head such as :class:`~bertedu.BertForSequenceClassification`: then the checkpoint's encoder is the
    backbone and ``head_kwargs`` (``num_labels=2``, ``generator=``, ``fresh_head=``...) build the head,
    whose new weights are initialised as the reference does. ``attn_implementation`` ("eager" or "sdpa")
    overrides the config's attention path. ``return_report=True`` returns ``(model, LoadReport)``:
    ``report.fresh`` names the newly initialised keys, ``report.ignored`` the unused ones.
    """
    directory = resolve_checkpoint(path)
    if isinstance(model_class, type) and hasattr(model_class, "from_checkpoint"):  # a task head
        model, report = model_class.from_checkpoint(directory, attn_implementation=attn_implementation,
                                                    **head_kwargs)
        return (model, report) if return_report else model
    if head_kwargs:
        raise TypeError(f"unexpected keyword(s) {sorted(head_kwargs)}: they build task heads; pass a head class as "
                        f"model_class (e.g. bertedu.BertForSequenceClassification)")
    config = BertConfig.from_json_file(directory / "config.json")
    if attn_implementation is not None:
        config = BertConfig.from_dict({**config.to_dict(), "attn_implementation": attn_implementation})
    state_dict = _read_weights(directory)
    if model_class is None:
        has_heads = any(k.startswith("cls.") for k in state_dict)
        model_class = BertForPreTraining if has_heads else BertModel
    if not (isinstance(model_class, type) and issubclass(model_class, (BertModel, BertForPreTraining))):
        raise TypeError(f"model_class must be BertModel or BertForPreTraining, got {model_class!r}")
    model = model_class(config)
    report = load_hf_state_dict(model, state_dict)
    return (model.eval(), report) if return_report else model.eval()


def save_pretrained(model: nn.Module, path: str | os.PathLike[str], tokenizer: Any = None) -> Path:
    """Write ``config.json``, ``model.safetensors`` (and ``vocab.txt`` if ``tokenizer``) into ``path``.

    The tied decoder weight and its bias alias are left out (safetensors refuses tensors that share
    memory, and the reference re-ties them on load).  Returns the directory.
    """
    if hasattr(model, "save_checkpoint"):  # a task head (bertedu.finetuning) writes its own config fields
        return model.save_checkpoint(path, tokenizer)
    tensors = _model_tensors(model)  # validates the model type
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    prefix = "bert." if isinstance(model, BertForPreTraining) else ""
    weights = {(k if k.startswith("cls.") else prefix + k): v.detach().cpu().contiguous()
               for k, v in tensors.items()}
    from safetensors.torch import save_file
    atomic_write(directory / "model.safetensors",
                  lambda tmp: save_file(weights, str(tmp), metadata={"format": "pt"}))
    config = model.config.to_dict()
    config["architectures"] = [type(model).__name__]
    config["tie_word_embeddings"] = True
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    atomic_write_text(directory / "config.json", text)
    if tokenizer is not None:
        tokenizer.save_vocabulary(directory / "vocab.txt")
    return directory

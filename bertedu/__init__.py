"""bertedu: BERT (Devlin et al., 2018, arXiv:1810.04805), built piece by piece.

The package mirrors the book: :mod:`bertedu.text` (tokenization, Part I), :mod:`bertedu.model` (the
network), :mod:`bertedu.pretraining` (MLM + NSP), :mod:`bertedu.finetuning` (Part III),
:mod:`bertedu.datasets` (the data), :mod:`bertedu.notebook` (the book's display helpers).

This file only re-exports the public API.  Names are resolved lazily so ``import bertedu`` stays fast
and a chapter that only needs the tokenizer never imports the model code.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module (under bertedu.) that defines it
_EXPORTS: dict[str, str] = {
    "BertConfig": "config", "PRESETS": "config",
    "BertTokenizer": "text.tokenizer", "BasicTokenizer": "text.tokenizer",
    "WordpieceTokenizer": "text.tokenizer", "load_vocab": "text.tokenizer", "SPECIAL_TOKENS": "text.tokenizer",
    "train_wordpiece": "text.wordpiece",
    "pack_pair": "text.inputs", "encode_pair": "text.inputs", "pad_encoding": "text.inputs",
    "truncate_pair_from_end": "text.inputs", "truncate_pair_randomly": "text.inputs",
    "BertEmbeddings": "model.embeddings", "sinusoidal_position_encoding": "model.embeddings",
    "BertSelfAttention": "model.attention", "eager_attention": "model.attention",
    "sdpa_attention": "model.attention", "make_attention_bias": "model.attention",
    "BertLayer": "model.encoder", "BertEncoder": "model.encoder",
    "BertModel": "model.bert", "BertPooler": "model.bert", "BertModelOutput": "model.bert",
    "BertForPreTraining": "model.heads", "BertPreTrainingHeads": "model.heads",
    "BertForPreTrainingOutput": "model.heads", "mlm_loss": "model.heads",
    "IGNORE_INDEX": "model.checks",
    "load_hf_state_dict": "model.checkpoint", "from_pretrained": "model.checkpoint",
    "save_pretrained": "model.checkpoint",
    "mask_tokens": "pretraining.masking", "whole_word_mask_tokens": "pretraining.masking",
    "MaskedBatch": "pretraining.masking", "MaskSpec": "pretraining.masking",
    "mask_kwargs": "pretraining.masking", "continuation_lookup": "pretraining.masking",
    "create_pretraining_examples": "pretraining.nsp", "TrainingInstance": "pretraining.nsp",
    "collate_instances": "pretraining.nsp", "documents_from_lines": "pretraining.nsp",
    "PretrainingDataset": "pretraining.data", "BatchStream": "pretraining.data",
    "prepare_dataset": "pretraining.data",
    "PretrainConfig": "pretraining.recipe", "build_optimizer": "pretraining.recipe",
    "build_scheduler": "pretraining.recipe", "lr_multiplier": "pretraining.recipe",
    "train_step": "pretraining.recipe", "evaluate": "pretraining.recipe",
    "frequency_baseline": "pretraining.recipe",
    "read_metrics": "pretraining.state", "save_checkpoint": "pretraining.state",
    "load_checkpoint": "pretraining.state",
    "train": "pretraining.loop", "build_model": "pretraining.loop",
    "dataset_path": "datasets.download", "data_file": "datasets.download",
    "download_dataset": "datasets.download",
    "known_datasets": "datasets.registry",
    "split_sentences": "datasets.corpora", "read_wikitext": "datasets.corpora",
    "wikitext_documents": "datasets.corpora", "gutenberg_documents": "datasets.corpora",
    "speech_documents": "datasets.corpora", "pretraining_documents": "datasets.corpora",
    "read_glue": "datasets.glue",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bertedu' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bertedu.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

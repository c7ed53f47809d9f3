"""bertedu: BERT (Devlin et al., 2018, arXiv:1810.04805), built piece by piece.

This file only re-exports.  Names are resolved lazily so ``import bertedu`` stays fast and a
chapter that only needs the tokenizer never imports the model code.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "BertConfig": "config", "PRESETS": "config",
    "BertTokenizer": "tokenizer", "BasicTokenizer": "tokenizer", "WordpieceTokenizer": "tokenizer",
    "load_vocab": "tokenizer",
    "train_wordpiece": "wordpiece",
    "BertEmbeddings": "embeddings", "sinusoidal_position_encoding": "embeddings",
    "BertSelfAttention": "attention", "eager_attention": "attention", "sdpa_attention": "attention",
    "make_attention_bias": "attention",
    "BertLayer": "encoder", "BertEncoder": "encoder",
    "BertModel": "model", "BertPooler": "model", "BertModelOutput": "model",
    "BertForPreTraining": "heads", "BertPreTrainingHeads": "heads", "BertForPreTrainingOutput": "heads",
    "mask_tokens": "masking", "whole_word_mask_tokens": "masking", "MaskedBatch": "masking",
    "mask_kwargs": "masking", "continuation_lookup": "masking",
    "create_pretraining_examples": "nsp", "TrainingInstance": "nsp", "collate_instances": "nsp",
    "documents_from_lines": "nsp",
    "load_hf_state_dict": "checkpoint", "from_pretrained": "checkpoint", "save_pretrained": "checkpoint",
    "dataset_path": "data", "data_file": "data", "known_datasets": "data", "download_dataset": "data",
    "split_sentences": "corpus", "read_wikitext": "corpus", "wikitext_documents": "corpus",
    "gutenberg_documents": "corpus", "speech_documents": "corpus", "pretraining_documents": "corpus",
    "read_glue": "corpus",
    "PretrainConfig": "pretrain", "build_optimizer": "pretrain", "build_scheduler": "pretrain",
    "train_step": "pretrain", "evaluate": "pretrain", "prepare_dataset": "pretrain", "read_metrics": "pretrain",
    "frequency_baseline": "pretrain", "PretrainingDataset": "pretrain_data", "BatchStream": "pretrain_data",
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

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

# module (under bertedu.) -> the public names it defines; `bertedu.NAME` imports that module on first use
_PUBLIC: dict[str, tuple[str, ...]] = {
    "config": ("BertConfig", "PRESETS"),
    "text.tokenizer": ("BertTokenizer", "BasicTokenizer", "WordpieceTokenizer", "load_vocab", "SPECIAL_TOKENS"),
    "text.wordpiece": ("train_wordpiece",),
    "text.inputs": ("pack_pair", "encode_pair", "pad_encoding", "truncate_pair_from_end", "truncate_pair_randomly"),
    "model.embeddings": ("BertEmbeddings", "sinusoidal_position_encoding"),
    "model.attention": ("BertSelfAttention", "eager_attention", "sdpa_attention", "make_attention_bias"),
    "model.encoder": ("BertLayer", "BertEncoder"),
    "model.bert": ("BertModel", "BertPooler", "BertModelOutput"),
    "model.heads": ("BertForPreTraining", "BertPreTrainingHeads", "BertForPreTrainingOutput", "mlm_loss"),
    "model.checks": ("IGNORE_INDEX",),
    "model.checkpoint": ("load_hf_state_dict", "from_pretrained", "save_pretrained"),
    "pretraining.masking": ("mask_tokens", "whole_word_mask_tokens", "MaskedBatch", "MaskSpec", "mask_kwargs",
                            "continuation_lookup"),
    "pretraining.nsp": ("create_pretraining_examples", "TrainingInstance", "collate_instances",
                        "documents_from_lines"),
    "pretraining.data": ("PretrainingDataset", "BatchStream", "prepare_dataset"),
    "pretraining.recipe": ("PretrainConfig", "build_optimizer", "build_scheduler", "lr_multiplier", "train_step",
                           "evaluate", "frequency_baseline"),
    "pretraining.state": ("read_metrics", "save_checkpoint", "load_checkpoint"),
    "pretraining.loop": ("train", "build_model"),
    "datasets.download": ("dataset_path", "data_file", "download_dataset"),
    "datasets.registry": ("known_datasets",),
    "datasets.corpora": ("split_sentences", "read_wikitext", "wikitext_documents", "gutenberg_documents",
                         "speech_documents", "pretraining_documents"),
    "datasets.glue": ("read_glue",),
    "datasets.tasks": ("read_conll2003", "read_wnut17", "read_squad", "squad_examples", "split_squad_by_article",
                       "read_piqa", "read_snips"),
    "finetuning.heads": ("BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering",
                         "BertForMultipleChoice", "BertForJointIntentSlot"),
    "finetuning.tagging": ("encode_words", "align_word_labels", "word_predictions"),
    "finetuning.loading": ("load_backbone",),
    "finetuning.metrics": ("accuracy", "binary_f1", "matthews_corrcoef", "pearson", "spearman", "entity_f1",
                           "squad_scores"),
    "finetuning.squad": ("squad_features", "best_spans", "decode_predictions", "tune_null_threshold"),
    "finetuning.loop": ("FinetuneConfig", "finetune"),
    "finetuning.run": ("run_task",),
}
_EXPORTS: dict[str, str] = {name: module for module, names in _PUBLIC.items() for name in names}

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

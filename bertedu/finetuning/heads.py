"""Task heads: one small output layer on the pretrained encoder per task type (BERT paper, Sec. 4, Figure 4).

"For fine-tuning, the BERT model is first initialized with the pre-trained parameters, and all of the
parameters are fine-tuned using labeled data from the downstream tasks" (Sec. 3).  Each head below adds
only a linear layer (plus dropout) on top of ``bert``:

==================================  ======================  ==============================================
class                               reads                   new keys (as the reference checkpoints)
==================================  ======================  ==============================================
BertForSequenceClassification       C = pooler([CLS])       ``classifier`` (K, H)       Sec. 4.1 (GLUE)
BertForTokenClassification          every token             ``classifier`` (K, H)       Sec. 5.3 (NER)
BertForQuestionAnswering            every token             ``qa_outputs`` (2, H) = S,E Sec. 4.2/4.3
BertForMultipleChoice               C of each choice        ``classifier`` (1, H)       Sec. 4.4 (SWAG)
BertForJointIntentSlot              C and every token       ``intent_classifier``,      Chen et al. 2019
                                                            ``slot_classifier``
==================================  ======================  ==============================================

Heads that read tokens only have no pooler, as the reference builds them (``add_pooling_layer=False``),
so their checkpoints have no ``bert.pooler.*`` keys.  bertedu's :class:`~bertedu.BertModel` always
builds a pooler; :class:`NoPooler` replaces it after construction (a parameter-free module whose output
is ``None``).  The joint head has no reference class; its keys are ``bert.*``,
``intent_classifier.{weight,bias}`` and ``slot_classifier.{weight,bias}``.

Losses are the reference's: cross-entropy (mean), MSE for regression, BCE for multi-label, and for
token-level losses the mean over positions whose label is not -100.  One deliberate difference: a batch
with *no* counted position has loss 0, not 0/0 = NaN.  Shape legend: B batch, C choices, T tokens,
H hidden, K labels.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.finetuning.loading import load_backbone, save_task_model, task_from_pretrained
from bertedu.model.bert import BertModel
from bertedu.finetuning._checks import (IGNORE_INDEX, check_class_labels, check_positions,
                                        check_sequence_labels, check_token_labels)

__all__ = ["BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering",
           "BertForMultipleChoice", "BertForJointIntentSlot", "SequenceClassifierOutput",
           "TokenClassifierOutput", "QuestionAnsweringModelOutput", "MultipleChoiceModelOutput",
           "JointIntentSlotOutput", "NoPooler", "IGNORE_INDEX", "PROBLEM_TYPES"]

PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
Tensors = tuple[torch.Tensor, ...] | None


class SequenceClassifierOutput(NamedTuple):
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, K)
    hidden_states: Tensors = None  # L+1 of (B, T, H)
    attentions: Tensors = None  # L of (B, A, T, T)


class TokenClassifierOutput(NamedTuple):
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, T, K)
    hidden_states: Tensors = None
    attentions: Tensors = None


class QuestionAnsweringModelOutput(NamedTuple):
    loss: torch.Tensor | None
    start_logits: torch.Tensor  # (B, T): S . T_i
    end_logits: torch.Tensor  # (B, T): E . T_i
    hidden_states: Tensors = None
    attentions: Tensors = None


class MultipleChoiceModelOutput(NamedTuple):
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, C): one score per choice
    hidden_states: Tensors = None  # of the flattened (B*C, T, H) batch
    attentions: Tensors = None


class JointIntentSlotOutput(NamedTuple):
    loss: torch.Tensor | None  # intent_loss + slot_loss (whichever labels are given)
    intent_loss: torch.Tensor | None
    slot_loss: torch.Tensor | None
    intent_logits: torch.Tensor  # (B, num_intents)
    slot_logits: torch.Tensor  # (B, T, num_slots)
    hidden_states: Tensors = None
    attentions: Tensors = None


class NoPooler(nn.Module):
    """Stands in for ``bert.pooler`` in heads that read tokens only: no weights, output ``None``."""

    def forward(self, hidden_states: torch.Tensor) -> None:
        return None


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_INDEX
                         ) -> torch.Tensor:
    """Mean cross-entropy over rows whose label != ignore_index; 0 (not NaN) if there is none.

    logits (N, K), labels (N,).  Written as sum / count: the same number as ``F.cross_entropy``'s mean.
    """
    total = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="sum")
    return total / (labels != ignore_index).sum().clamp(min=1)


class _TaskHead(nn.Module):
    """``bert`` + dropout; subclasses add their linear layers and call :meth:`_init_head`."""

    head_prefixes: tuple[str, ...] = ("classifier.",)  # state-dict keys that are not the backbone's
    uses_pooler = True

    def __init__(self, config: Any, *, classifier_dropout: float | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        from bertedu import BertConfig, BertModel  # lazy: bertedu resolves names on first use
        if not isinstance(config, BertConfig):
            raise TypeError(f"config must be a bertedu.BertConfig, got {type(config).__name__}")
        if classifier_dropout is not None and not 0.0 <= classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1) or None, got {classifier_dropout}")
        self.config = config
        self.bert = BertModel(config, generator=generator)
        if not self.uses_pooler:
            self.bert.pooler = NoPooler()  # the reference's add_pooling_layer=False: no bert.pooler.* keys
        # the reference's rule: classifier_dropout if set, else the encoder's hidden dropout
        self.classifier_dropout = classifier_dropout
        p = config.hidden_dropout_prob if classifier_dropout is None else classifier_dropout
        self.dropout = nn.Dropout(p)

    def _init_head(self, generator: torch.Generator | None) -> None:
        """New head weights as the reference: N(0, initializer_range), biases 0 (drawn after the backbone)."""
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and not name.startswith("bert."):
                nn.init.normal_(module.weight, 0.0, self.config.initializer_range, generator=generator)
                nn.init.zeros_(module.bias)

    def _encode(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None,
                attention_mask: torch.Tensor | None, output_attentions: bool, output_hidden_states: bool) -> Any:
        return self.bert(input_ids, token_type_ids, attention_mask, output_attentions, output_hidden_states)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.bert.get_input_embeddings()

    num_parameters = BertModel.num_parameters  # one definition; it counts this module's parameters

    def hf_config_extras(self) -> dict[str, Any]:
        """Fields a ``transformers`` config.json needs to rebuild this head (see finetuning.loading)."""
        return {"classifier_dropout": self.classifier_dropout}

    @classmethod
    def kwargs_from_config(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Constructor keywords read back from a config.json dictionary (inverse of hf_config_extras)."""
        return {"classifier_dropout": values.get("classifier_dropout")}

    # The checkpoint protocol: bertedu.from_pretrained / save_pretrained / load_hf_state_dict (in
    # bertedu.model.checkpoint, which may not import fine-tuning code) hand task heads to these methods.
    @classmethod
    def from_checkpoint(cls, path: Any, **kwargs: Any) -> tuple[nn.Module, Any]:
        """(model, LoadReport) built on the checkpoint in ``path``; see finetuning.loading.task_from_pretrained."""
        return task_from_pretrained(path, cls, **kwargs)

    def save_checkpoint(self, path: Any, tokenizer: Any = None) -> Any:
        return save_task_model(self, path, tokenizer)

    def load_reference_state_dict(self, state_dict: Any) -> Any:
        return load_backbone(self, state_dict)


def _num_labels(values: dict[str, Any]) -> int | None:
    if isinstance(values.get("id2label"), dict):
        return len(values["id2label"])
    return values.get("num_labels")


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _id2label(n: int) -> dict[str, Any]:
    labels = {str(i): f"LABEL_{i}" for i in range(n)}
    return {"id2label": labels, "label2id": {v: int(k) for k, v in labels.items()}}


class BertForSequenceClassification(_TaskHead):
    """[CLS] -> pooler (dense + tanh) -> dropout -> ``classifier``: logits (B, K) (Sec. 4.1, Figure 4a/b).

    "The only new parameters introduced during fine-tuning are classification layer weights
    W in R^{K x H}" (Sec. 4.1).  Loss, as the reference's default ``problem_type=None``:
    K = 1 -> MSE regression (STS-B; float labels (B,)); K >= 2 with integer labels (B,) in [0, K) ->
    cross-entropy (SST-2, MRPC, RTE); K >= 2 with float labels (B, K) in [0, 1] -> BCE (multi-label).
    ``problem_type`` fixes one of :data:`PROBLEM_TYPES` instead of inferring it from the labels.
    """

    def __init__(self, config: Any, num_labels: int, *, problem_type: str | None = None,
                 classifier_dropout: float | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__(config, classifier_dropout=classifier_dropout, generator=generator)
        if problem_type is not None and problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be None or one of {PROBLEM_TYPES}, got {problem_type!r}")
        self.num_labels = _check_count("num_labels", num_labels)
        self.problem_type = problem_type
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        self._init_head(generator)

    def resolve_problem_type(self, labels: torch.Tensor) -> str:
        """The loss the reference picks for these labels when ``problem_type`` is None."""
        if self.problem_type is not None:
            return self.problem_type
        if self.num_labels == 1:
            return "regression"
        return "multi_label_classification" if labels.dtype.is_floating_point else "single_label_classification"

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> SequenceClassifierOutput:
        """input_ids (B, T) -> logits (B, K); ``labels`` as in the class docstring."""
        problem = None if labels is None else self.resolve_problem_type(labels)
        if labels is not None:
            check_sequence_labels(labels, input_ids.shape[0], self.num_labels, problem)
        out = self._encode(input_ids, token_type_ids, attention_mask, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(out.pooler_output))  # (B, K)
        loss = None
        if problem == "regression":
            target = labels.to(logits.dtype)
            loss = F.mse_loss(logits.reshape(-1), target.reshape(-1)) if self.num_labels == 1 \
                else F.mse_loss(logits, target)
        elif problem == "single_label_classification":
            loss = F.cross_entropy(logits, labels.long())
        elif problem == "multi_label_classification":
            loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)

    def hf_config_extras(self) -> dict[str, Any]:
        return {**super().hf_config_extras(), **_id2label(self.num_labels), "problem_type": self.problem_type}

    @classmethod
    def kwargs_from_config(cls, values: dict[str, Any]) -> dict[str, Any]:
        return {**super().kwargs_from_config(values), "num_labels": _num_labels(values) or 2,
                "problem_type": values.get("problem_type")}


class BertForTokenClassification(_TaskHead):
    """Every token -> dropout -> ``classifier``: logits (B, T, K) (Sec. 5.3, Figure 4d).

    No pooler (as the reference).  ``labels`` (B, T): a tag id in [0, K) on the first sub-token of each
    word, -100 elsewhere (see :func:`bertedu.finetuning.tagging.align_word_labels`); the loss is the
    mean cross-entropy over the labelled positions.
    """

    uses_pooler = False

    def __init__(self, config: Any, num_labels: int, *, classifier_dropout: float | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(config, classifier_dropout=classifier_dropout, generator=generator)
        self.num_labels = _check_count("num_labels", num_labels)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        self._init_head(generator)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> TokenClassifierOutput:
        """input_ids (B, T) -> logits (B, T, K)."""
        if labels is not None:
            check_token_labels("labels", labels, input_ids.shape, self.num_labels)
        out = self._encode(input_ids, token_type_ids, attention_mask, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))  # (B, T, K)
        loss = None if labels is None else masked_cross_entropy(logits.reshape(-1, self.num_labels),
                                                                labels.reshape(-1).long())
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)

    def hf_config_extras(self) -> dict[str, Any]:
        return {**super().hf_config_extras(), **_id2label(self.num_labels)}

    @classmethod
    def kwargs_from_config(cls, values: dict[str, Any]) -> dict[str, Any]:
        return {**super().kwargs_from_config(values), "num_labels": _num_labels(values) or 2}


class BertForQuestionAnswering(_TaskHead):
    """Every token -> ``qa_outputs`` (rows S and E) -> start_logits, end_logits (B, T) (Sec. 4.2, Figure 4c).

    "We only introduce a start vector S in R^H and an end vector E in R^H during fine-tuning" (Sec. 4.2);
    the released code adds a bias.  No dropout, no pooler (as the reference).  Loss = (CE(start) +
    CE(end)) / 2.  As the reference, positions are clamped to [0, T]: a negative one becomes 0 ([CLS],
    SQuAD 2.0's "no answer") and one >= T (an answer cut off by truncation) is left out of the loss.
    """

    head_prefixes = ("qa_outputs.",)
    uses_pooler = False

    def __init__(self, config: Any, *, generator: torch.Generator | None = None) -> None:
        super().__init__(config, generator=generator)
        del self.dropout  # the reference's QA head has none
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self._init_head(generator)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> QuestionAnsweringModelOutput:
        """input_ids (B, T) -> start_logits, end_logits (B, T); positions (B,) token indices."""
        if (start_positions is None) != (end_positions is None):
            raise ValueError("give both start_positions and end_positions (or neither) to get a loss")
        out = self._encode(input_ids, token_type_ids, attention_mask, output_attentions, output_hidden_states)
        start_logits, end_logits = self.qa_outputs(out.last_hidden_state).unbind(-1)  # (B, T) each
        loss = None
        if start_positions is not None:
            B, T = input_ids.shape
            start = check_positions("start_positions", start_positions, B).clamp(0, T)  # T = "ignore"
            end = check_positions("end_positions", end_positions, B).clamp(0, T)
            loss = (masked_cross_entropy(start_logits, start, ignore_index=T)
                    + masked_cross_entropy(end_logits, end, ignore_index=T)) / 2
        return QuestionAnsweringModelOutput(loss, start_logits.contiguous(), end_logits.contiguous(),
                                            out.hidden_states, out.attentions)

    def hf_config_extras(self) -> dict[str, Any]:
        return _id2label(2)  # the reference sizes qa_outputs by num_labels = 2

    @classmethod
    def kwargs_from_config(cls, values: dict[str, Any]) -> dict[str, Any]:
        return {}


class BertForMultipleChoice(_TaskHead):
    """(B, C, T) -> each choice's C vector -> dropout -> ``classifier`` (1 x H) -> logits (B, C) (Sec. 4.4).

    "The only task-specific parameters introduced is a vector whose dot product with the [CLS] token
    representation C denotes a score for each choice which is normalized with a softmax layer"
    (Sec. 4.4, SWAG).  The B x C (context, choice) sequences run as one flat batch of B*C.
    ``labels`` (B,): the index of the right choice.
    """

    def __init__(self, config: Any, *, classifier_dropout: float | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(config, classifier_dropout=classifier_dropout, generator=generator)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self._init_head(generator)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> MultipleChoiceModelOutput:
        """input_ids, token_type_ids, attention_mask (B, C, T) -> logits (B, C)."""
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 3:
            shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
            raise ValueError(f"input_ids must have shape (B, C, T) = (batch, choices, tokens), got {shape}; "
                             "stack the C encoded (context, choice) pairs of each example along dim 1")
        B, C, T = input_ids.shape
        for name, value in (("token_type_ids", token_type_ids), ("attention_mask", attention_mask)):
            if value is not None and (not isinstance(value, torch.Tensor) or value.shape != input_ids.shape):
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"{name} must have the shape of input_ids {(B, C, T)}, got {got}")
        if labels is not None:
            check_class_labels("labels", labels, B, C, what="choice index")
        flat = [None if x is None else x.reshape(B * C, T) for x in (input_ids, token_type_ids, attention_mask)]
        out = self._encode(*flat, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(out.pooler_output)).view(B, C)  # (B*C, 1) -> (B, C)
        loss = None if labels is None else F.cross_entropy(logits, labels.long())
        return MultipleChoiceModelOutput(loss, logits, out.hidden_states, out.attentions)


class BertForJointIntentSlot(_TaskHead):
    """One encoder, two classifiers (Chen, Zhuo & Wang 2019, "BERT for Joint Intent Classification and
    Slot Filling", arXiv:1902.10909): C -> dropout -> ``intent_classifier``; every token -> dropout ->
    ``slot_classifier``.  Loss = intent CE + slot CE (mean over slot labels != -100).

    ``intent_labels`` (B,) in [0, num_intents); ``slot_labels`` (B, T): a BIO slot id on the first
    sub-token of each word (their Sec. 3.2), -100 elsewhere.  Either may be given alone.
    """

    head_prefixes = ("intent_classifier.", "slot_classifier.")

    def __init__(self, config: Any, num_intents: int, num_slots: int, *, classifier_dropout: float | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(config, classifier_dropout=classifier_dropout, generator=generator)
        self.num_intents = _check_count("num_intents", num_intents)
        self.num_slots = _check_count("num_slots", num_slots)
        self.intent_classifier = nn.Linear(config.hidden_size, num_intents)
        self.slot_classifier = nn.Linear(config.hidden_size, num_slots)
        self._init_head(generator)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, intent_labels: torch.Tensor | None = None,
                slot_labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> JointIntentSlotOutput:
        """input_ids (B, T) -> intent_logits (B, num_intents), slot_logits (B, T, num_slots)."""
        if intent_labels is not None:
            check_class_labels("intent_labels", intent_labels, input_ids.shape[0], self.num_intents)
        if slot_labels is not None:
            check_token_labels("slot_labels", slot_labels, input_ids.shape, self.num_slots)
        out = self._encode(input_ids, token_type_ids, attention_mask, output_attentions, output_hidden_states)
        intent_logits = self.intent_classifier(self.dropout(out.pooler_output))  # (B, num_intents)
        slot_logits = self.slot_classifier(self.dropout(out.last_hidden_state))  # (B, T, num_slots)
        intent_loss = None if intent_labels is None else F.cross_entropy(intent_logits, intent_labels.long())
        slot_loss = None if slot_labels is None else masked_cross_entropy(
            slot_logits.reshape(-1, self.num_slots), slot_labels.reshape(-1).long())
        present = [x for x in (intent_loss, slot_loss) if x is not None]
        loss = sum(present[1:], present[0]) if present else None
        return JointIntentSlotOutput(loss, intent_loss, slot_loss, intent_logits, slot_logits,
                                     out.hidden_states, out.attentions)

    def hf_config_extras(self) -> dict[str, Any]:
        return {**super().hf_config_extras(), "num_intents": self.num_intents, "num_slots": self.num_slots}

    @classmethod
    def kwargs_from_config(cls, values: dict[str, Any]) -> dict[str, Any]:
        return {**super().kwargs_from_config(values), "num_intents": values.get("num_intents"),
                "num_slots": values.get("num_slots")}

"""The task heads equal ``transformers``' classes of the same names, and checkpoints move both ways.

Each reference head is built from a random odd config (V=99, H=36, A=3, L=2, I=37; no download), its
parameters nudged so no bias or LayerNorm is trivial, and its state dict copied into the bertedu head
with :func:`load_backbone` (every key used, none fresh).  Then logits and loss are compared in eval mode
on a padded batch of sentence pairs, for both attention paths (eager with eager, SDPA with SDPA).
"""

from __future__ import annotations

import pytest
import torch

from bertedu import BertConfig, BertForPreTraining
from bertedu.finetuning.heads import (BertForJointIntentSlot, BertForMultipleChoice, BertForQuestionAnswering,
                                      BertForSequenceClassification, BertForTokenClassification)
from bertedu.finetuning.loading import load_backbone, save_task_model, task_from_pretrained
from odd_sizes import A, H, V, odd_config

transformers = pytest.importorskip("transformers")

TOL = 1e-5
IMPLS = ["eager", "sdpa"]
B, T = 3, 7  # odd_sizes' batch and length


def reference(name: str, impl: str, seed: int = 0, **config_kwargs) -> torch.nn.Module:
    config = transformers.BertConfig(vocab_size=V, hidden_size=H, num_attention_heads=A, num_hidden_layers=2,
                                     intermediate_size=37, max_position_embeddings=40,
                                     attn_implementation=impl, **config_kwargs)
    torch.manual_seed(seed)  # the reference initialises from the global generator
    model = getattr(transformers, name)(config).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def ours_from(ref: torch.nn.Module, cls: type, impl: str, *args) -> torch.nn.Module:
    model = cls(BertConfig.from_dict({**ref.config.to_dict(), "attn_implementation": impl}), *args)
    report = load_backbone(model, ref.state_dict())
    assert report.fresh == [] and sorted(report.loaded) == sorted(model.state_dict())
    return model.eval()


def pairs(seed: int = 0, shape: tuple[int, ...] = (B, T)) -> dict[str, torch.Tensor]:
    """Padded pairs [CLS] a a [SEP] b b [SEP] with 0, 2 and 4 padding tokens (rows cycle for >2-D)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    segments = torch.tensor([[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    n = int(torch.tensor(shape[:-1]).prod())
    mask, segments = mask[torch.arange(n) % 3].view(shape), segments[torch.arange(n) % 3].view(shape)
    ids = torch.randint(5, V, shape, generator=g).masked_fill(mask == 0, 0)
    return dict(input_ids=ids, token_type_ids=segments, attention_mask=mask)


def diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


SEQ_CASES = {  # name -> (num_labels, labels)
    "single-label": (3, torch.tensor([0, 2, 1])),
    "pair-binary": (2, torch.tensor([1, 0, 1])),
    "regression": (1, torch.tensor([0.5, 4.2, 2.0])),
    "multi-label": (3, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.5, 1.0, 0.0]])),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", SEQ_CASES)
def test_sequence_classification_matches_reference(impl: str, case: str) -> None:
    k, labels = SEQ_CASES[case]
    ref = reference("BertForSequenceClassification", impl, num_labels=k)
    ours = ours_from(ref, BertForSequenceClassification, impl, k)
    with torch.no_grad():
        theirs, mine = ref(**pairs(), labels=labels), ours(**pairs(), labels=labels)
    assert ours.resolve_problem_type(labels) == ref.config.problem_type  # the reference's own choice
    assert mine.logits.shape == (B, k)
    assert diff(mine.logits, theirs.logits) <= TOL and diff(mine.loss, theirs.loss) <= TOL


@pytest.mark.parametrize("impl", IMPLS)
def test_token_classification_matches_reference(impl: str) -> None:
    ref = reference("BertForTokenClassification", impl, num_labels=5)
    ours = ours_from(ref, BertForTokenClassification, impl, 5)
    batch = pairs()
    labels = torch.randint(0, 5, (B, T), generator=torch.Generator().manual_seed(3))
    labels = labels.masked_fill(batch["attention_mask"] == 0, -100)
    labels[:, 0], labels[0, 2] = -100, -100  # [CLS] and a continuation piece
    with torch.no_grad():
        theirs = ref(**batch, labels=labels, output_hidden_states=True)
        mine = ours(**batch, labels=labels, output_hidden_states=True)
    assert "bert.pooler.dense.weight" not in ours.state_dict()
    assert diff(mine.logits, theirs.logits) <= TOL and diff(mine.loss, theirs.loss) <= TOL
    assert max(diff(a, b) for a, b in zip(mine.hidden_states, theirs.hidden_states)) <= TOL


@pytest.mark.parametrize("impl", IMPLS)
def test_question_answering_matches_reference(impl: str) -> None:
    ref = reference("BertForQuestionAnswering", impl)
    ours = ours_from(ref, BertForQuestionAnswering, impl)
    # inside, negative (clamped to [CLS]) and past the end (left out of the loss), as the reference
    for start, end in [([1, 4, 2], [3, 4, 2]), ([-1, 5, 9], [0, 6, 20]), ([[2], [1], [7]], [[3], [2], [7]])]:
        s, e = torch.tensor(start), torch.tensor(end)
        with torch.no_grad():
            theirs = ref(**pairs(), start_positions=s, end_positions=e)
            mine = ours(**pairs(), start_positions=s, end_positions=e)
        assert mine.start_logits.shape == mine.end_logits.shape == (B, T)
        assert diff(mine.start_logits, theirs.start_logits) <= TOL
        assert diff(mine.end_logits, theirs.end_logits) <= TOL and diff(mine.loss, theirs.loss) <= TOL


@pytest.mark.parametrize("impl", IMPLS)
def test_multiple_choice_matches_reference(impl: str) -> None:
    ref = reference("BertForMultipleChoice", impl)
    ours = ours_from(ref, BertForMultipleChoice, impl)
    batch, labels = pairs(shape=(2, 3, T)), torch.tensor([2, 0])
    with torch.no_grad():
        theirs, mine = ref(**batch, labels=labels), ours(**batch, labels=labels)
    assert mine.logits.shape == (2, 3)
    assert diff(mine.logits, theirs.logits) <= TOL and diff(mine.loss, theirs.loss) <= TOL


@pytest.mark.parametrize("impl", IMPLS)
def test_joint_intent_slot_is_the_two_reference_heads_on_one_encoder(impl: str) -> None:
    seq = reference("BertForSequenceClassification", impl, num_labels=4)
    tok = reference("BertForTokenClassification", impl, seed=5, num_labels=6)
    tok.bert.load_state_dict(seq.bert.state_dict(), strict=False)  # the same encoder (tok has no pooler)
    joint = BertForJointIntentSlot(BertConfig.from_dict({**seq.config.to_dict(), "attn_implementation": impl}), 4, 6)
    weights = {**seq.state_dict(), "intent_classifier.weight": seq.classifier.weight,
               "intent_classifier.bias": seq.classifier.bias, "slot_classifier.weight": tok.classifier.weight,
               "slot_classifier.bias": tok.classifier.bias}
    del weights["classifier.weight"], weights["classifier.bias"]
    joint.load_state_dict(weights)
    batch, intents = pairs(), torch.tensor([3, 0, 1])
    slots = torch.randint(0, 6, (B, T), generator=torch.Generator().manual_seed(1))
    slots = slots.masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        out = joint.eval()(**batch, intent_labels=intents, slot_labels=slots)
        s, t = seq(**batch, labels=intents), tok(**batch, labels=slots)
    assert diff(out.intent_logits, s.logits) <= TOL and diff(out.slot_logits, t.logits) <= TOL
    assert diff(out.intent_loss, s.loss) <= TOL and diff(out.slot_loss, t.loss) <= TOL
    assert diff(out.loss, s.loss + t.loss) <= TOL
    assert sorted(k for k in joint.state_dict() if not k.startswith("bert.")) == [
        "intent_classifier.bias", "intent_classifier.weight", "slot_classifier.bias", "slot_classifier.weight"]


ROUND_TRIP = [("BertForSequenceClassification", BertForSequenceClassification, (3,)),
              ("BertForTokenClassification", BertForTokenClassification, (5,)),
              ("BertForQuestionAnswering", BertForQuestionAnswering, ()),
              ("BertForMultipleChoice", BertForMultipleChoice, ())]


def _logits(out) -> torch.Tensor:
    return out.logits if hasattr(out, "logits") else torch.stack([out.start_logits, out.end_logits])


@pytest.mark.parametrize("name,cls,args", ROUND_TRIP)
def test_save_load_both_ways_with_transformers(tmp_path, name: str, cls: type, args: tuple) -> None:
    batch = pairs(shape=(2, 3, T)) if name == "BertForMultipleChoice" else pairs()
    ours = cls(odd_config(attn_implementation="eager"), *args, generator=torch.Generator().manual_seed(0)).eval()
    save_task_model(ours, tmp_path / "ours")
    theirs, info = getattr(transformers, name).from_pretrained(tmp_path / "ours", output_loading_info=True,
                                                               attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    with torch.no_grad():
        assert diff(_logits(ours(**batch)), _logits(theirs.eval()(**batch))) <= TOL
    theirs.save_pretrained(tmp_path / "theirs")
    back, report = task_from_pretrained(tmp_path / "theirs", cls, attn_implementation="eager")
    assert report.fresh == [] and sorted(report.loaded) == sorted(back.state_dict())
    with torch.no_grad():
        assert diff(_logits(back(**batch)), _logits(ours(**batch))) == 0.0


def test_joint_head_round_trip(tmp_path) -> None:
    ours = BertForJointIntentSlot(odd_config(), 4, 6, generator=torch.Generator().manual_seed(0)).eval()
    back, report = task_from_pretrained(save_task_model(ours, tmp_path), BertForJointIntentSlot)
    assert (back.num_intents, back.num_slots) == (4, 6) and report.fresh == []
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in ours.state_dict().items())


HEADS = [(BertForSequenceClassification, {"num_labels": 2}, ["classifier.bias", "classifier.weight"]),
         (BertForTokenClassification, {"num_labels": 9}, ["classifier.bias", "classifier.weight"]),
         (BertForQuestionAnswering, {}, ["qa_outputs.bias", "qa_outputs.weight"]),
         (BertForMultipleChoice, {}, ["classifier.bias", "classifier.weight"]),
         (BertForJointIntentSlot, {"num_intents": 7, "num_slots": 20},
          ["intent_classifier.bias", "intent_classifier.weight", "slot_classifier.bias", "slot_classifier.weight"])]


@pytest.mark.parametrize("cls,kwargs,head_keys", HEADS)
def test_minilm_backbone_loads_into_every_head(minilm_path, cls: type, kwargs: dict, head_keys: list) -> None:
    model, report = task_from_pretrained(minilm_path, cls, **kwargs)
    assert sorted(report.fresh) == head_keys  # only the head is new
    assert sorted(report.loaded + report.fresh) == sorted(model.state_dict())  # every backbone key used
    pooler = [] if model.uses_pooler else ["pooler.dense.bias", "pooler.dense.weight"]  # token-only heads
    assert sorted(report.ignored) == ["embeddings.position_ids", *pooler]


def test_minilm_classifier_matches_reference_on_real_weights(minilm_path) -> None:
    ours, _ = task_from_pretrained(minilm_path, BertForSequenceClassification, num_labels=2,
                                   generator=torch.Generator().manual_seed(0))
    theirs = transformers.BertForSequenceClassification.from_pretrained(minilm_path, num_labels=2).eval()
    theirs.classifier.load_state_dict(ours.classifier.state_dict())
    batch = pairs()
    batch["input_ids"] = batch["input_ids"] + 2000 * batch["attention_mask"]  # ordinary word pieces, [PAD] = 0
    with torch.no_grad():
        assert diff(ours(**batch).logits, theirs(**batch).logits) <= TOL


def test_pretraining_checkpoint_backbone_loads_and_mlm_heads_are_ignored() -> None:
    pre = BertForPreTraining(odd_config(), generator=torch.Generator().manual_seed(1))
    head = BertForSequenceClassification(odd_config(), 2)
    report = load_backbone(head, pre.state_dict())
    assert sorted(report.fresh) == ["classifier.bias", "classifier.weight"]
    assert report.ignored and all(k.startswith("cls.") for k in report.ignored)
    assert torch.equal(head.bert.pooler.dense.weight, pre.bert.pooler.dense.weight)


def test_head_initialisation_is_the_reference_rule_and_reproducible() -> None:
    config = odd_config(initializer_range=0.5)
    a = BertForTokenClassification(config, 50, generator=torch.Generator().manual_seed(7))
    b = BertForTokenClassification(config, 50, generator=torch.Generator().manual_seed(7))
    c = BertForTokenClassification(config, 50, generator=torch.Generator().manual_seed(8))
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.classifier.weight, c.classifier.weight)
    assert torch.count_nonzero(a.classifier.bias) == 0
    assert abs(a.classifier.weight.std().item() - 0.5) < 0.05  # 1800 draws of N(0, 0.5)


def test_loading_a_mismatched_head_fails_and_copies_nothing() -> None:
    source = BertForSequenceClassification(odd_config(), 3, generator=torch.Generator().manual_seed(0))
    target = BertForSequenceClassification(odd_config(), 2, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match="shape mismatch classifier.weight"):
        load_backbone(target, source.state_dict())
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in before.items())
    report = load_backbone(target, source.state_dict(), fresh_head=True)  # a new 2-way head on that encoder
    assert sorted(report.fresh) == ["classifier.bias", "classifier.weight"]
    assert torch.equal(target.bert.pooler.dense.weight, source.bert.pooler.dense.weight)


@pytest.fixture(scope="module")
def heads() -> dict[str, torch.nn.Module]:
    g = torch.Generator().manual_seed(0)
    return {"seq": BertForSequenceClassification(odd_config(), 3, generator=g).eval(),
            "reg": BertForSequenceClassification(odd_config(), 1, generator=g).eval(),
            "tok": BertForTokenClassification(odd_config(), 5, generator=g).eval(),
            "qa": BertForQuestionAnswering(odd_config(), generator=g).eval(),
            "mc": BertForMultipleChoice(odd_config(), generator=g).eval(),
            "joint": BertForJointIntentSlot(odd_config(), 4, 6, generator=g).eval()}


ids = torch.randint(5, V, (B, T), generator=torch.Generator().manual_seed(0))
BAD = [  # (head, keyword arguments, error, message fragment)
    ("seq", dict(labels=torch.tensor([0, 3, 1])), ValueError, r"contains 3; every label id must be in \[0, 3\)"),
    ("seq", dict(labels=torch.tensor([[0], [1], [2]])), ValueError, r"shape \(3,\)"),
    ("seq", dict(labels=torch.tensor([True, False, True])), TypeError, "integer"),
    ("seq", dict(labels=torch.tensor([[2.0, 0, 0]] * 3)), ValueError, r"in \[0, 1\]"),
    ("reg", dict(labels=torch.tensor([1, 2, 3])), TypeError, r"float tensor for regression.*labels.float\(\)"),
    ("reg", dict(labels=torch.tensor([1.0, float("nan"), 3.0])), ValueError, "NaN"),
    ("reg", dict(labels=torch.ones(3, 2)), ValueError, "must have shape"),
    ("tok", dict(labels=torch.full((B, T), 5)), ValueError, "or -100 for positions"),
    ("tok", dict(labels=torch.zeros(B, T)), TypeError, "integer"),
    ("tok", dict(labels=torch.zeros(B, T + 1, dtype=torch.long)), ValueError, "shape of input_ids"),
    ("qa", dict(start_positions=torch.tensor([0, 1, 2])), ValueError, "both start_positions and end_positions"),
    ("qa", dict(start_positions=torch.zeros(3), end_positions=torch.zeros(3)), TypeError, "start_positions"),
    ("qa", dict(start_positions=torch.zeros(2, dtype=torch.long), end_positions=torch.zeros(2, dtype=torch.long)),
     ValueError, r"shape \(3,\)"),
    ("mc", dict(), ValueError, r"\(B, C, T\)"),
    ("joint", dict(intent_labels=torch.tensor([0, 1, 4])), ValueError, "intent_labels contains 4"),
    ("joint", dict(slot_labels=torch.full((B, T), -1)), ValueError, "slot_labels contains -1"),
]


@pytest.mark.parametrize("head,kwargs,error,message", BAD)
def test_bad_labels_and_shapes_are_clear_errors(heads, head: str, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        heads[head](ids, **kwargs)


def test_multiple_choice_masks_must_match_the_choices(heads) -> None:
    batch = pairs(shape=(2, 3, T))
    with pytest.raises(ValueError, match="attention_mask must have the shape of input_ids"):
        heads["mc"](batch["input_ids"], attention_mask=batch["attention_mask"][:, 0])
    with pytest.raises(ValueError, match=r"choice index must be in \[0, 3\)"):
        heads["mc"](**batch, labels=torch.tensor([0, 3]))


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="num_labels must be a positive int"):
        BertForSequenceClassification(odd_config(), 0)
    with pytest.raises(ValueError, match="problem_type"):
        BertForSequenceClassification(odd_config(), 2, problem_type="ranking")
    with pytest.raises(ValueError, match="classifier_dropout"):
        BertForTokenClassification(odd_config(), 2, classifier_dropout=1.5)
    with pytest.raises(TypeError, match="bertedu.BertConfig"):
        BertForQuestionAnswering(transformers.BertConfig())
    with pytest.raises(TypeError, match="task head"):
        load_backbone(BertForPreTraining(odd_config()), {})


def test_no_labelled_token_gives_zero_loss_not_nan(heads) -> None:
    out = heads["tok"](ids, labels=torch.full((B, T), -100))
    assert out.loss.item() == 0.0  # the reference gives NaN here (0 / 0)


def test_classifier_dropout_follows_the_reference_rule(tmp_path) -> None:
    assert BertForSequenceClassification(odd_config(hidden_dropout_prob=0.2), 2).dropout.p == 0.2  # default
    ours = BertForSequenceClassification(odd_config(), 2, classifier_dropout=0.3)
    theirs = transformers.BertForSequenceClassification.from_pretrained(save_task_model(ours, tmp_path))
    back, _ = task_from_pretrained(tmp_path, BertForSequenceClassification)
    assert ours.dropout.p == theirs.dropout.p == back.dropout.p == 0.3
    assert not hasattr(BertForQuestionAnswering(odd_config()), "dropout")  # the reference's QA head has none

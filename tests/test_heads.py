"""Pre-training heads and losses: masked LM + next sentence prediction (paper Sec. 3.1, App. A.2)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertedu.model.heads import BertForPreTraining, BertPreTrainingHeads, mlm_loss
from odd_sizes import B, H, T, V, odd_config



small_config = odd_config


def make_model(seed: int = 0, **overrides) -> BertForPreTraining:
    return BertForPreTraining(small_config(**overrides), generator=torch.Generator().manual_seed(seed)).eval()


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0
    labels = torch.full((B, T), -100)
    labels[0, 2], labels[0, 5], labels[2, 1] = 7, 8, 9  # three chosen positions
    return dict(input_ids=ids.masked_fill(mask == 0, 0), attention_mask=mask, labels=labels,
                next_sentence_label=torch.tensor([0, 1, 1]))


def test_output_matrix_is_the_word_embedding_table():
    model = make_model()
    decoder = model.cls.predictions.decoder
    assert decoder.weight is model.get_input_embeddings().weight
    assert decoder.bias is model.cls.predictions.bias
    out = model(**batch())
    out.loss.backward()
    assert model.get_input_embeddings().weight.grad is not None
    # counted once: the formula for the backbone + transform (H*H+H+2H) + bias V + NSP (2H+2)
    head = H * H + 3 * H + V + 2 * H + 2
    assert model.num_parameters() == model.config.num_parameters_formula() + head


def test_mlm_loss_averages_over_chosen_positions_only():
    """bug #1 in book/bugs.md: padding and unchosen positions must not count, not even in the denominator."""
    out = make_model()(**batch())
    logits, labels = out.prediction_logits, batch()["labels"]
    rows = [(0, 2), (0, 5), (2, 1)]
    by_hand = sum(-logits[b, t].log_softmax(-1)[labels[b, t]] for b, t in rows) / len(rows)
    torch.testing.assert_close(out.mlm_loss, by_hand)
    all_positions = F.cross_entropy(logits.view(-1, V), logits.view(-1, V).argmax(-1))
    assert not torch.isclose(out.mlm_loss, all_positions)


def test_mlm_loss_does_not_change_when_unlabelled_logits_change():
    logits = torch.randn(B * T, V, generator=torch.Generator().manual_seed(1))
    labels = batch()["labels"].view(-1)
    changed = logits.clone()
    changed[labels == -100] += 50 * torch.randn(int((labels == -100).sum()), V)
    torch.testing.assert_close(mlm_loss(changed, labels), mlm_loss(logits, labels))
    torch.testing.assert_close(mlm_loss(logits, labels), F.cross_entropy(logits, labels, ignore_index=-100))


def test_nsp_uses_only_the_pooled_cls_vector():
    """bug #10 in book/bugs.md: the NSP classifier sees C = pooler(h_[CLS]), nothing else."""
    heads = BertPreTrainingHeads(small_config()).eval()
    tokens, pooled = torch.randn(B, T, H), torch.randn(B, H)
    _, nsp = heads(tokens, pooled)
    _, nsp_other_tokens = heads(torch.randn(B, T, H), pooled)
    assert nsp.shape == (B, 2)
    torch.testing.assert_close(nsp, nsp_other_tokens)
    model = make_model()
    out = model(**batch())
    torch.testing.assert_close(out.seq_relationship_logits, model.cls.seq_relationship(out.pooler_output))


def test_nsp_loss_counts_notnext_examples():
    """bug #2 in book/bugs.md: NotNext is label 1; a loss with ignore_index=0 (or 1) would drop a whole class."""
    model = make_model()
    inputs = batch()
    for labels in (torch.tensor([1, 1, 1]), torch.tensor([0, 0, 0]), torch.tensor([0, 1, 1])):
        inputs["next_sentence_label"] = labels
        out = model(**inputs)
        by_hand = -out.seq_relationship_logits.log_softmax(-1)[torch.arange(B), labels].mean()
        torch.testing.assert_close(out.nsp_loss, by_hand)
        assert out.nsp_loss > 0


def test_total_loss_is_the_sum_and_missing_labels_give_none():
    model, inputs = make_model(), batch()
    out = model(**inputs)
    torch.testing.assert_close(out.loss, out.mlm_loss + out.nsp_loss)
    only_mlm = model(**{**inputs, "next_sentence_label": None})
    assert only_mlm.nsp_loss is None and torch.equal(only_mlm.loss, only_mlm.mlm_loss)
    only_nsp = model(**{**inputs, "labels": None})
    assert only_nsp.mlm_loss is None and torch.equal(only_nsp.loss, only_nsp.nsp_loss)
    assert model(inputs["input_ids"]).loss is None


def test_masked_only_gives_the_same_loss_and_the_labelled_rows():
    model, inputs = make_model(), batch()
    full = model(**inputs)
    fast = model(**inputs, masked_only=True)
    assert fast.prediction_logits.shape == (3, V)
    chosen = inputs["labels"] != -100
    torch.testing.assert_close(fast.prediction_logits, full.prediction_logits[chosen])  # row-major order
    assert (fast.loss - full.loss).abs() <= 1e-6


def test_masked_only_with_no_label_gives_zero_not_nan():
    model, inputs = make_model(), batch()
    inputs["labels"] = torch.full((B, T), -100)
    out = model(**inputs, masked_only=True)
    assert out.prediction_logits.shape == (0, V)
    assert out.mlm_loss.item() == 0.0
    out.loss.backward()  # still differentiable: the NSP part trains
    assert model(**inputs).mlm_loss.item() == 0.0  # the full path agrees


def test_label_errors():
    model, inputs = make_model(), batch()
    cases = [
        ({"labels": inputs["labels"][:, :5]}, ValueError, r"labels must have shape \(3, 7\)"),
        ({"labels": inputs["labels"].float()}, TypeError, "labels must be an integer"),
        ({"labels": inputs["labels"].clone().fill_(V)}, ValueError, f"labels contains {V}"),
        ({"labels": inputs["labels"].clone().fill_(-5)}, ValueError, "-100"),
        ({"next_sentence_label": torch.tensor([0, 1])}, ValueError, r"next_sentence_label must have shape \(3,\)"),
        ({"next_sentence_label": torch.tensor([0, 2, 1])}, ValueError, "0 \\(IsNext\\) or 1 \\(NotNext\\)"),
        ({"labels": None, "masked_only": True}, ValueError, "masked_only=True needs labels"),
    ]
    for change, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            model(**{**inputs, **change})


def test_overfits_one_batch():
    """A correct model + loss can memorise one small batch; a broken mask or loss usually cannot."""
    config = small_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForPreTraining(config, generator=torch.Generator().manual_seed(0)).train()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (4, 12), generator=g)
    labels = torch.full_like(ids, -100)
    chosen = torch.rand(ids.shape, generator=g) < 0.3
    labels[chosen] = ids[chosen]
    ids = ids.masked_fill(chosen, 4)  # 4 plays [MASK]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        loss = model(ids, labels=labels, masked_only=True).mlm_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.05:
            break
    assert loss.item() < 0.1, f"MLM loss still {loss.item():.3f} after {step + 1} steps"

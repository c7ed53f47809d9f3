"""bertedu.pretraining.diagnostics: the baselines and splits that say whether a model reads its context."""

import random

import pytest
import torch

from bertedu.pretraining.diagnostics import (Neighbour, Unigram, mlm_report, swap_partners, target_kinds)


def test_unigram_counts_scores_and_best_guess_by_hand():
    # ids 0 and 1 are "special" and never counted; 7 appears 3 times, 5 twice, 6 once
    uni = Unigram.fit([[0, 7, 5, 7], [7, 6, 5, 1]], vocab_size=9, exclude=[0, 1])
    assert uni.best_guess == 7
    # add-one smoothing over the 7 non-special ids: p(7) = 4 / (6 + 7)
    score = uni.score(torch.tensor([7, 7, 5, 8]))
    assert score["accuracy"] == pytest.approx(0.5)
    expected = -(2 * torch.tensor(4 / 13).log() + torch.tensor(3 / 13).log() + torch.tensor(1 / 13).log()) / 4
    assert score["loss"] == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="token_ids is empty"):
        Unigram.fit([], vocab_size=9)


def test_neighbour_guesses_from_each_side():
    nb = Neighbour.fit([[2, 3, 4], [2, 3, 5], [9, 3, 4]], fallback=0)
    clean = torch.tensor([[2, 3, 4, 9]])
    left = nb.guess(clean, torch.tensor([[0, 1], [0, 2], [0, 0]]), "left")  # after 2 -> 3, after 3 -> 4, none
    right = nb.guess(clean, torch.tensor([[0, 1], [0, 3]]), "right")  # before 4 -> 3, past the end -> fallback
    assert left.tolist() == [3, 4, 0] and right.tolist() == [3, 0]
    with pytest.raises(ValueError, match="side"):
        nb.guess(clean, torch.tensor([[0, 1]]), "up")


def test_target_kinds_split_mask_kept_random():
    mask_id = 4
    labels = torch.tensor([[-100, 10, 11, 12, -100]])
    shown = torch.tensor([[2, 4, 11, 13, 3]])  # [MASK], kept, replaced
    assert target_kinds(shown, labels, mask_id).tolist() == [0, 1, 2]


def test_mlm_report_ratio_share_and_copying_is_not_context():
    uni = Unigram.fit([[5, 5, 5, 6, 7]], vocab_size=10)
    truth = torch.tensor([5, 6, 7, 8, 6, 7])
    kinds = torch.tensor([0, 0, 0, 0, 1, 1])
    preds = torch.tensor([5, 6, 5, 5, 6, 7])  # right twice of four at [MASK]; copies the kept words
    losses = torch.zeros(6)
    rep = mlm_report(preds, losses, truth, kinds, uni)
    assert rep["mask"]["accuracy"] == pytest.approx(0.5)
    assert rep["mask"]["unigram_accuracy"] == pytest.approx(0.25)  # always 5
    assert rep["mask"]["ratio"] == pytest.approx(2.0)
    assert rep["mask"]["top_answer_id"] == 5 and rep["mask"]["top_answer_share"] == pytest.approx(0.75)
    assert rep["kept"]["accuracy"] == 1.0 and "random" not in rep
    assert rep["all"]["targets"] == 6


def test_swap_partners_keeps_length_and_only_notnext():
    from bertedu import TrainingInstance

    inst = [TrainingInstance(["a", "b"], ["c", "d", "e"], True), TrainingInstance(["a"], ["b"], False)]
    other = [[["x", "y", "z", "w"], ["v"]]]
    out = swap_partners(inst, other, random.Random(0))
    assert len(out) == 1 and out[0].is_random_next and out[0].tokens_a == ["a", "b"]
    assert len(out[0].tokens_b) == 3 and set(out[0].tokens_b) <= {"x", "y", "z", "w", "v"}
    with pytest.raises(ValueError, match="other_documents is empty"):
        swap_partners(inst, [], random.Random(0))

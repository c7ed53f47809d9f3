"""The ablation switches of the paper's Sec. 5 and Appendix C, each with a test that can fail.

* LTR (Table 5, "LTR & No NSP"): causal attention (a later token never changes an earlier output) and
  next-token targets; NSP must be off.
* No NSP (Table 5): no NSP loss, no NSP head, no ``cls.seq_relationship`` keys in any checkpoint.
* Masking mixtures (Table 8): the six MASK/SAME/RND mixtures produce their rates.
* Model sizes (Table 6): the miniature L/H/A grid builds, by name.
* Pretraining length (Figure 5): ``--export-steps`` keeps the weights of chosen steps, also across a kill.
* Fine-tuning "+ BiLSTM" (Table 5) and last-token pooling for a left-to-right encoder.

Sizes are odd (V=99 or 1000, H=36, A=3, T=31) so that a swapped dimension fails.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from bertedu import BertConfig
from bertedu.config import SIZE_GRID, size_name
from bertedu.finetuning.bilstm import (BiLSTMOnTop, load_task_model_with_top, top_recipe, with_encoder_top)
from bertedu.finetuning.heads import (BertForMultipleChoice, BertForQuestionAnswering,
                                      BertForSequenceClassification, BertForTokenClassification)
from bertedu.finetuning.loading import save_task_model
from bertedu.model.checks import IGNORE_INDEX
from bertedu.model.checkpoint import save_pretrained
from bertedu.pretraining.data import BatchStream, prepare_dataset
from bertedu.pretraining.loop import build_model, train
from bertedu.pretraining.recipe import (PretrainConfig, build_optimizer, build_scheduler, has_nsp_head,
                                        train_step)
from bertedu.pretraining.state import latest_checkpoint, load_checkpoint
from bertedu.text.tokenizer import BertTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(94)]  # vocab 99


@pytest.fixture(scope="module")
def tokenizer() -> BertTokenizer:
    return BertTokenizer.from_tokens(SPECIALS + WORDS)


@pytest.fixture(scope="module")
def documents() -> list[list[str]]:
    rng = random.Random(7)
    return [[" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(rng.randint(3, 8))]
            for _ in range(30)]


def config(**overrides) -> PretrainConfig:
    values = dict(max_seq_length=31, batch_size=6, total_steps=4, warmup_steps=1, log_every=1, eval_every=0,
                  save_every=0, dupe_factor=2, max_predictions_per_seq=5, seed=3, num_threads=1, dropout=0.0)
    values.update(overrides)
    return PretrainConfig(**values)


def odd_model_config(**overrides) -> BertConfig:
    values = dict(vocab_size=99, hidden_size=36, num_hidden_layers=2, num_attention_heads=3, intermediate_size=50,
                  max_position_embeddings=40, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertConfig(**{**values, **overrides})


# ----------------------------------------------------------------------------- left-to-right LM
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_ltr_model_cannot_see_later_tokens(impl):
    ids = torch.randint(5, 99, (2, 12), generator=torch.Generator().manual_seed(0))
    later = ids.clone()
    later[:, 7] = (later[:, 7] - 5 + 1) % 94 + 5  # a different word at position 7
    outputs = {}
    for objective, nsp in (("ltr", False), ("mlm", True)):
        model = build_model(config(objective=objective, nsp=nsp), 99, odd_model_config(attn_implementation=impl))
        model.eval()
        with torch.no_grad():
            a, b = model(ids).prediction_logits, model(later).prediction_logits  # (B, T, V)
        outputs[objective] = (a, b)
    a, b = outputs["ltr"]
    torch.testing.assert_close(a[:, :7], b[:, :7], rtol=0, atol=1e-6)  # positions before 7: untouched
    assert not torch.allclose(a[:, 7:], b[:, 7:])  # from 7 on, it reads the new word
    a, b = outputs["mlm"]  # the check can fail: the bidirectional model's earlier outputs do change
    assert (a[:, :7] - b[:, :7]).abs().max() > 1e-4


def test_ltr_targets_are_the_next_tokens_and_nothing_is_masked(tokenizer, documents):
    cfg = config(objective="ltr", nsp=False, masking="dynamic")
    data = prepare_dataset(documents, tokenizer, cfg)
    batch = next(BatchStream(data, cfg.batch_size, cfg.seed))
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert not (ids == tokenizer.mask_token_id).any()  # clean input
    real_next = mask[:, 1:].bool()
    assert torch.equal(labels[:, :-1][real_next], ids[:, 1:][real_next])  # label t = token t + 1
    assert (labels[:, :-1][~real_next] == IGNORE_INDEX).all() and (labels[:, -1] == IGNORE_INDEX).all()
    model = build_model(cfg, len(tokenizer.vocab), odd_model_config())
    assert model.config.is_decoder and not has_nsp_head(model)
    opt = build_optimizer(model, cfg)
    metrics = train_step(model, opt, build_scheduler(opt, 1, 4), [batch], cfg)
    assert metrics["loss"] == metrics["mlm_loss"] and metrics["masked_tokens"] == int(real_next.sum())
    assert "nsp_loss" not in metrics


def test_ltr_needs_nsp_off_and_a_matching_data_set(tokenizer, documents):
    with pytest.raises(ValueError, match="objective='ltr' needs nsp=False"):
        config(objective="ltr")
    with pytest.raises(ValueError, match="objective"):
        config(objective="rtl", nsp=False)
    mlm_data = prepare_dataset(documents, tokenizer, config())
    with pytest.raises(ValueError, match="prepared for objective='mlm'"):
        train(config(objective="ltr", nsp=False), mlm_data, progress=False)


# ----------------------------------------------------------------------------- NSP on / off
def test_no_nsp_removes_the_loss_the_head_and_the_checkpoint_keys(tmp_path, tokenizer, documents):
    keys = {}
    for nsp in (True, False):
        cfg = config(nsp=nsp, save_every=2)
        data = prepare_dataset(documents, tokenizer, cfg)
        model = build_model(cfg, 99, odd_model_config())
        records = train(cfg, data, data, model=model, out_dir=tmp_path / f"nsp-{nsp}", progress=False)
        state = torch.load(latest_checkpoint(tmp_path / f"nsp-{nsp}"), weights_only=True)["model"]
        save_pretrained(model, tmp_path / f"final-{nsp}")
        keys[nsp] = (set(state), set(model.state_dict()))
        saved = json.loads((tmp_path / f"final-{nsp}/config.json").read_text())
        train_rec = [r for r in records if r["split"] == "train"]
        eval_rec = [r for r in records if r["split"] == "eval"]
        if nsp:
            assert all(r["loss"] > r["mlm_loss"] for r in train_rec) and "nsp_accuracy" in eval_rec[-1]
        else:
            assert all(r["loss"] == r["mlm_loss"] and "nsp_loss" not in r for r in train_rec)
            assert "nsp_accuracy" not in eval_rec[-1] and not saved["is_decoder"]
    nsp_keys = {"cls.seq_relationship.weight", "cls.seq_relationship.bias"}
    assert nsp_keys <= keys[True][0] and nsp_keys <= keys[True][1]
    assert not nsp_keys & (keys[False][0] | keys[False][1])
    assert keys[True][0] - keys[False][0] == nsp_keys  # nothing else differs


def test_no_nsp_draws_the_other_weights_as_before():
    with_head, without = build_model(config(), 99, odd_model_config()), build_model(config(nsp=False), 99,
                                                                                     odd_model_config())
    theirs = without.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in with_head.state_dict().items() if "seq_relationship" not in k)


# ----------------------------------------------------------------------------- masking mixtures (Table 8)
PAPER_MIXTURES = [(80, 10, 10), (100, 0, 0), (80, 0, 20), (80, 20, 0), (0, 20, 80), (0, 0, 100)]


@pytest.fixture(scope="module")
def big_vocab_data():
    """1,000 pieces, so that a random replacement hits the original word only 0.1% of the time."""
    words = [f"v{i}" for i in range(995)]
    tok = BertTokenizer.from_tokens(SPECIALS + words)
    rng = random.Random(1)
    docs = [[" ".join(rng.choice(words) for _ in range(10)) for _ in range(6)] for _ in range(40)]
    return tok, docs


@pytest.mark.parametrize("mix", PAPER_MIXTURES, ids=lambda m: "/".join(map(str, m)))
def test_mask_mixture_rates(mix, big_vocab_data):
    from bertedu.pretraining.cli import parse_mask_mix

    tok, docs = big_vocab_data
    shares = parse_mask_mix(",".join(map(str, mix)))
    assert shares == tuple(x / 100 for x in mix)
    cfg = config(masking="dynamic", mask_mix=shares, max_predictions_per_seq=20)
    data = prepare_dataset(docs, tok, cfg)
    counts = torch.zeros(3)
    g = torch.Generator().manual_seed(0)
    for _ in range(40):  # 40 fresh maskings of the whole set: ~25,000 targets
        batch = data.batch(torch.arange(len(data)), g)
        chosen = batch["labels"] != IGNORE_INDEX
        seen, truth = batch["input_ids"][chosen], batch["labels"][chosen]
        is_mask = seen == tok.mask_token_id
        counts += torch.tensor([is_mask.sum(), (seen == truth).sum(), (~is_mask & (seen != truth)).sum()])
    rates = 100 * counts / counts.sum()
    assert counts.sum() > 20_000
    for measured, wanted, name in zip(rates.tolist(), mix, ("MASK", "SAME", "RND")):
        assert abs(measured - wanted) < 1.5, f"{name}: {measured:.2f}% measured, {wanted}% wanted"


def test_static_masking_and_the_default_follow_the_mixture(tokenizer, documents):
    default = prepare_dataset(documents, tokenizer, config())
    assert (default.mask_spec.mask_prob, default.mask_spec.random_prob) == (0.8, 0.1)
    static = prepare_dataset(documents, tokenizer, config(mask_mix=(0.0, 0.0, 1.0)))
    chosen = static.labels != IGNORE_INDEX
    assert not (static.input_ids[chosen] == tokenizer.mask_token_id).any()
    with pytest.raises(ValueError, match="mask_mix"):
        config(mask_mix=(0.8, 0.1, 0.2))


def test_heldout_set_is_masked_80_10_10_whatever_the_training_mixture(tokenizer, documents):
    from bertedu.pretraining.recipe import DEFAULT_MASK_MIX, heldout_config

    rnd_only = config(mask_mix=(0.0, 0.0, 1.0))
    assert heldout_config(rnd_only).mask_mix == DEFAULT_MASK_MIX == (0.8, 0.1, 0.1)
    assert rnd_only.mask_mix == (0.0, 0.0, 1.0)  # a copy: the training settings are untouched
    held = {mix: prepare_dataset(documents, tokenizer, heldout_config(config(mask_mix=mix)), seed=10,
                                 masking="static", dupe_factor=1) for mix in ((0.0, 0.0, 1.0), (0.8, 0.1, 0.1))}
    a, b = held.values()
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.labels, b.labels)
    chosen = a.labels != IGNORE_INDEX
    assert (a.input_ids[chosen] == tokenizer.mask_token_id).float().mean() > 0.6  # [MASK]s, not only RND


def test_report_rebuilds_the_clis_heldout_set_for_any_mixture(data_dir):
    # Table 8's rows are compared on one held-out set: the report (and tools/analyse_pretraining.py, which
    # calls it) must rebuild the 80/10/10 set the CLI scored, not one masked with the run's own mixture
    from bertedu import pretraining_documents
    from bertedu.pretraining.report import rebuild_heldout

    tok = BertTokenizer.from_vocab_file(Path(__file__).resolve().parents[1] / "data/pretrained/cpu-tiny/vocab.txt")
    small = dict(max_seq_length=64, max_predictions_per_seq=10)
    docs = pretraining_documents(("wikitext-valid",), holdout=5, part="heldout")
    scored = prepare_dataset(docs, tok, config(**small), seed=config().seed + 7, masking="static", dupe_factor=1)
    for mix in ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.8, 0.0, 0.2)):
        run = {"corpus": ["wikitext-valid"], "config": config(mask_mix=mix, **small).to_dict(),
               "heldout_examples": len(scored)}
        rebuilt = rebuild_heldout(Path("run"), run, tok, holdout=5)
        assert torch.equal(rebuilt.input_ids, scored.input_ids) and torch.equal(rebuilt.labels, scored.labels), mix
    with pytest.raises(ValueError, match="held-out pairs"):  # and the count is checked against the run's
        rebuild_heldout(Path("run"), {**run, "heldout_examples": len(scored) + 1}, tok, holdout=5)


# ----------------------------------------------------------------------------- model sizes (Table 6)
def test_size_grid_builds_by_name():
    assert len(SIZE_GRID) == 6
    for paper, (layers, hidden, heads) in SIZE_GRID.items():
        cfg = BertConfig.preset(size_name(layers, hidden, heads), vocab_size=99)
        assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (layers, hidden, heads)
        assert cfg.intermediate_size == 4 * hidden
        paper_l, paper_h, paper_a = map(int, paper.split("/"))
        assert (paper_h // paper_a == 64) == (hidden // heads == 64)  # the few-heads row keeps few heads
    assert BertConfig.preset("L2-H128-A2").to_dict() == BertConfig.preset("tiny").to_dict()
    model = build_model(config(preset="L1-H36-A3"), 99)
    assert model.config.num_hidden_layers == 1 and model.config.num_attention_heads == 3
    with pytest.raises(ValueError, match="L<layers>-H<hidden>-A<heads>"):
        BertConfig.preset("L2-H128")


# ----------------------------------------------------------------------------- old checkpoints still resume
def test_checkpoint_from_before_the_switches_resumes(tmp_path, tokenizer, documents):
    cfg = config(save_every=2)
    data = prepare_dataset(documents, tokenizer, cfg)
    train(cfg, data, model=build_model(cfg, 99, odd_model_config()), out_dir=tmp_path, progress=False)
    path = latest_checkpoint(tmp_path)
    state = torch.load(path, weights_only=True)
    old = json.loads(state["config_json"])
    del old["objective"], old["mask_mix"]  # what the code before the switches saved
    state["config_json"] = json.dumps(old)
    torch.save(state, path)
    model = build_model(cfg, 99, odd_model_config())
    opt = build_optimizer(model, cfg)
    assert load_checkpoint(path, model, opt, build_scheduler(opt, 1, 4), BatchStream(data, 6, cfg.seed), cfg) == 4
    with pytest.raises(ValueError, match="mask_mix"):  # a changed mixture is still refused
        load_checkpoint(path, model, opt, build_scheduler(opt, 1, 4), BatchStream(data, 6, cfg.seed),
                        config(save_every=2, mask_mix=(1.0, 0.0, 0.0)))


# ----------------------------------------------------------------------------- the CLI: flags and exports
def test_cli_exports_chosen_steps_and_recovers_one_after_a_kill(tmp_path, data_dir, capsys):
    from bertedu.pretraining.cli import export_dir, main
    from safetensors.torch import load_file

    out = tmp_path / "run"
    vocab = Path(__file__).resolve().parents[1] / "data/pretrained/cpu-tiny/vocab.txt"
    argv = ["--out", str(out), "--vocab", str(vocab), "--corpus", "wikitext-valid",
            "--max-documents", "6", "--steps", "4", "--seq-len", "32", "--batch-size", "4", "--eval-every", "2",
            "--eval-max-batches", "1", "--save-every", "2", "--log-every", "1", "--no-progress", "--threads", "1",
            "--dropout", "0", "--masking", "dynamic", "--no-nsp", "--objective", "ltr", "--export-steps", "2", "4",
            "--preset", "L1-H64-A1", "--mask-mix", "80,0,20"]
    main(argv)
    # the narration: data -> vocabulary -> data sets with counts -> model -> where the model went
    said = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert said == ["data", "data", "vocabulary", "data sets", "data sets", "model", "saved"], said
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["objective"] == "ltr" and run["config"]["mask_mix"] == [0.8, 0.0, 0.2]
    assert run["export_steps"] == [2, 4]
    final = load_file(str(out / "final/model.safetensors"))
    step4 = load_file(str(export_dir(out, 4) / "model.safetensors"))
    assert all(torch.equal(final[k], step4[k]) for k in final)
    step2 = load_file(str(export_dir(out, 2) / "model.safetensors"))
    assert not torch.equal(step2["bert.embeddings.word_embeddings.weight"],
                           final["bert.embeddings.word_embeddings.weight"])
    assert json.loads((export_dir(out, 2) / "config.json").read_text())["is_decoder"] is True
    # a kill between the step-4 checkpoint and its export: --resume writes the missing export
    for f in export_dir(out, 4).iterdir():
        f.unlink()
    main(argv + ["--resume"])
    again = load_file(str(export_dir(out, 4) / "model.safetensors"))
    assert all(torch.equal(final[k], again[k]) for k in final)


BAD_FLAGS = {
    "--objective": ["--objective", "ltr"],
    "--mask-mix": ["--mask-mix", "80,10"],
    "--preset": ["--preset", "L2-H128-A3"],
    "--export-steps": ["--export-steps", "5000", "--steps", "100"],
    "--batch-size": ["--batch-size", "0"],  # PretrainConfig's check, reported by its flag
    "--seq-len": ["--seq-len", "-3"],
    "--vocab-size": ["--vocab-size", "10", "--corpus", "wikitext-valid", "--max-documents", "2", "--holdout", "0"],
}


@pytest.mark.parametrize("flag", sorted(BAD_FLAGS))
def test_cli_errors_are_one_line_naming_the_flag(flag, tmp_path, capsys):
    from bertedu.pretraining.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path)] + BAD_FLAGS[flag])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err and "Traceback" not in err


# ----------------------------------------------------------------------------- fine-tuning: + BiLSTM
HEADS = [(BertForSequenceClassification, {"num_labels": 3}, "logits", (3, 3)),
         (BertForTokenClassification, {"num_labels": 5}, "logits", (3, 9, 5)),
         (BertForQuestionAnswering, {}, "start_logits", (3, 9))]


@pytest.mark.parametrize("cls, kwargs, field, shape", HEADS, ids=lambda x: getattr(x, "__name__", ""))
def test_bilstm_head_shapes_gradients_and_round_trip(cls, kwargs, field, shape, tmp_path):
    top = with_encoder_top(cls, bilstm=True)
    assert top is with_encoder_top(cls, bilstm=True) and issubclass(top, cls)
    model = top(odd_model_config(), generator=torch.Generator().manual_seed(0), **kwargs)
    assert any(k.startswith("bilstm.lstm.") for k in model.state_dict())
    ids = torch.randint(5, 99, (3, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    out = getattr(model(ids, attention_mask=mask), field)
    assert tuple(out.shape) == shape
    out.float().sum().backward()
    for name in ("bilstm.lstm.weight_ih_l0", "bilstm.lstm.weight_hh_l0_reverse",
                 "bert.embeddings.word_embeddings.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    save_task_model(model, tmp_path / "m")
    assert json.loads((tmp_path / "m/config.json").read_text())["encoder_top"] == {"bilstm": True, "pool": "first"}
    again, report = load_task_model_with_top(tmp_path / "m", cls)
    assert type(again) is top and report.fresh == []
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(getattr(model(ids, attention_mask=mask), field),
                                   getattr(again(ids, attention_mask=mask), field))


def test_bilstm_reads_both_directions_and_ignores_padding():
    lstm = BiLSTMOnTop(36, generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 8, 36, generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    y = lstm(x, mask)
    assert y.shape == (2, 8, 36) and (y[1, 5:] == 0).all()
    changed = x.clone()
    changed[:, 3] += 1.0
    z = lstm(changed, mask)
    assert not torch.allclose(y[:, 0, 18:], z[:, 0, 18:])  # the backward half of position 0 sees position 3
    torch.testing.assert_close(y[:, 0, :18], z[:, 0, :18])  # the forward half does not
    padded = x.clone()
    padded[1, 5:] = 100.0  # padding never leaks in
    torch.testing.assert_close(lstm(padded, mask)[1, :5], y[1, :5])
    with pytest.raises(ValueError, match="even"):
        BiLSTMOnTop(35)


def test_last_token_pooling_lets_a_causal_encoder_read_the_sentence():
    causal = odd_model_config(is_decoder=True)
    ids = torch.randint(5, 99, (2, 9), generator=torch.Generator().manual_seed(2))
    later = ids.clone()
    later[:, 4] = (later[:, 4] - 5 + 1) % 94 + 5
    mask = torch.ones_like(ids)
    logits = {}
    for pool in ("first", "last"):
        cls = BertForSequenceClassification if pool == "first" else with_encoder_top(
            BertForSequenceClassification, bilstm=False, pool="last")
        model = cls(causal, num_labels=2, generator=torch.Generator().manual_seed(0)).eval()
        with torch.no_grad():
            logits[pool] = model(ids, attention_mask=mask).logits, model(later, attention_mask=mask).logits
    torch.testing.assert_close(*logits["first"])  # [CLS] of a causal encoder is blind to the sentence
    assert not torch.allclose(*logits["last"])


def test_top_recipe_changes_only_the_head_class():
    plain = top_recipe("sst2")
    assert plain.head_class() is BertForSequenceClassification
    recipe = top_recipe("sst2", bilstm=True, pool="last")
    assert recipe.head_class() is with_encoder_top(BertForSequenceClassification, bilstm=True, pool="last")
    assert (recipe.name, recipe.kind, recipe.metrics) == (plain.name, plain.kind, plain.metrics)
    assert top_recipe("piqa", bilstm=True).head_class().__name__ == "BertForMultipleChoiceWithBiLSTM"
    assert issubclass(top_recipe("piqa", bilstm=True).head_class(), BertForMultipleChoice)
    with pytest.raises(ValueError, match="pool"):
        top_recipe("sst2", pool="middle")

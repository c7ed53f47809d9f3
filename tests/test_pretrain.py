"""The pre-training loop (paper Sec. 3.1, Appendix A.2): optimiser, schedule, losses, checkpoints, resume.

Sizes are deliberately odd (vocab 99, H 36, A 3, batch 6 = 2 x 3, length 31) so a swapped dimension fails.
"""

from __future__ import annotations

import copy
import json
import random

import pytest
import torch
import torch.nn.functional as F

from bertedu.config import BertConfig
from bertedu.model.heads import BertForPreTraining
from bertedu.pretraining.data import BatchStream, prepare_dataset
from bertedu.pretraining.loop import build_model, train
from bertedu.pretraining.recipe import (PretrainConfig, build_optimizer, build_scheduler, evaluate, lr_multiplier,
                                        train_step)
from bertedu.pretraining.state import latest_checkpoint, load_checkpoint, read_metrics, save_checkpoint
from bertedu.text.tokenizer import BertTokenizer

WORDS = [f"w{i}" for i in range(94)]  # 5 special tokens + 94 words = vocab 99


@pytest.fixture(scope="module")
def tokenizer() -> BertTokenizer:
    return BertTokenizer.from_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)


@pytest.fixture(scope="module")
def documents() -> list[list[str]]:
    rng = random.Random(7)
    return [[" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(rng.randint(3, 8))]
            for _ in range(30)]


def small_config(**overrides) -> PretrainConfig:
    values = dict(max_seq_length=31, batch_size=6, total_steps=8, warmup_steps=2, log_every=1, eval_every=0,
                  save_every=0, dupe_factor=2, max_predictions_per_seq=5, seed=3, num_threads=1)
    values.update(overrides)
    return PretrainConfig(**values)


def model_config(dropout: float = 0.0) -> BertConfig:
    return BertConfig(vocab_size=99, hidden_size=36, num_hidden_layers=2, num_attention_heads=3, intermediate_size=50,
                      max_position_embeddings=40, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


def one_batch(tokenizer, documents, cfg=None, **kw):
    cfg = cfg or small_config()
    data = prepare_dataset(documents, tokenizer, cfg)
    return next(BatchStream(data, cfg.batch_size, cfg.seed)), data


# ----------------------------------------------------------------------------- optimiser and schedule
def test_adamw_does_not_decay_biases_and_layernorm():
    model = BertForPreTraining(model_config())
    opt = build_optimizer(model, PretrainConfig())
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert all(not names[id(p)].endswith("bias") and "LayerNorm" not in names[id(p)] for p in decay["params"])
    assert any("LayerNorm.weight" in names[id(p)] for p in no_decay["params"])
    assert any("word_embeddings" in names[id(p)] for p in decay["params"])
    # every parameter in exactly one group; the tied output matrix is the embedding table, listed once
    listed = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(listed) == sorted(names) and len(listed) == len(set(listed))
    assert opt.defaults["lr"] == 1e-4 and opt.defaults["betas"] == (0.9, 0.999)


def test_schedule_warms_up_then_decays_linearly_to_zero():
    param = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.AdamW([param], lr=1e-4)
    sched = build_scheduler(opt, warmup_steps=4, total_steps=10)
    lrs = []
    for _ in range(11):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [0, 0.25, 0.5, 0.75, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0]
    assert lrs == pytest.approx([1e-4 * e for e in expected])
    assert lr_multiplier(4, 4, 10) == 1.0 and lr_multiplier(20, 4, 10) == 0.0  # peak, and never negative
    with pytest.raises(ValueError, match="warmup_steps"):
        build_scheduler(opt, warmup_steps=11, total_steps=10)


def test_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="masking"):
        PretrainConfig(masking="sometimes")
    with pytest.raises(ValueError, match="batch_size"):
        PretrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="warmup_steps"):
        PretrainConfig(total_steps=10, warmup_steps=20)
    assert PretrainConfig.from_dict(json.loads(json.dumps(PretrainConfig().to_dict()))) == PretrainConfig()


# ----------------------------------------------------------------------------- data
def test_static_masks_repeat_dynamic_masks_change(tokenizer, documents):
    static = prepare_dataset(documents, tokenizer, small_config(masking="static"))
    dynamic = prepare_dataset(documents, tokenizer, small_config(masking="dynamic"))
    idx = torch.arange(6)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(static.batch(idx, g)["labels"], static.batch(idx, g)["labels"])  # drawn once, at build
    first, second = dynamic.batch(idx, g), dynamic.batch(idx, g)
    assert not torch.equal(first["labels"], second["labels"])  # a fresh mask every time (RoBERTa)
    # same pairs underneath: unmasking the labelled positions gives back the clean ids
    clean = torch.where(first["labels"] != -100, first["labels"], first["input_ids"])
    assert torch.equal(clean, dynamic.input_ids[idx, :clean.shape[1]])
    # never special tokens or padding as targets (bug #5 in book/bugs.md)
    chosen = static.labels != -100
    assert not torch.isin(static.labels[chosen], torch.tensor(tokenizer.all_special_ids)).any()
    assert not (chosen & (static.attention_mask == 0)).any()


def test_batch_stream_is_seeded_and_restorable(tokenizer, documents):
    data = prepare_dataset(documents, tokenizer, small_config(masking="dynamic"))
    a, b = BatchStream(data, 6, seed=1), BatchStream(data, 6, seed=1)
    for _ in range(len(data) // 6 + 3):  # past an epoch boundary
        x, y = next(a), next(b)
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert a.epoch == 1
    state = a.state_dict()
    expected = [next(a) for _ in range(4)]
    c = BatchStream(data, 6, seed=1)
    c.load_state_dict(state)
    for want, got in zip(expected, (next(c) for _ in range(4))):
        assert all(torch.equal(want[k], got[k]) for k in want)
    with pytest.raises(ValueError, match="seed"):
        BatchStream(data, 6, seed=2).load_state_dict(state)


# ----------------------------------------------------------------------------- the step and its losses
def test_overfit_one_batch(tokenizer, documents):
    cfg = small_config(lr=3e-3, warmup_steps=0, total_steps=60)
    batch, _ = one_batch(tokenizer, documents, cfg)
    torch.manual_seed(0)
    model = BertForPreTraining(model_config(), generator=torch.Generator().manual_seed(0))
    opt = build_optimizer(model, cfg)
    losses = [train_step(model, opt, None, [batch], cfg)["loss"] for _ in range(60)]
    assert losses[0] > 4.0  # about ln(99) + ln(2) at the start
    assert losses[-1] < 0.1 * losses[0]  # memorised: the model and the loop can learn


def test_masked_only_loss_equals_full_computation(tokenizer, documents):
    batch, _ = one_batch(tokenizer, documents)
    torch.manual_seed(0)
    base = BertForPreTraining(model_config(), generator=torch.Generator().manual_seed(1))
    results = {}
    for masked_only in (True, False):
        cfg = small_config(masked_only=masked_only)
        model = copy.deepcopy(base)
        metrics = train_step(model, build_optimizer(model, cfg), None, [batch], cfg)
        results[masked_only] = (metrics, model)
    (fast, m_fast), (full, m_full) = results[True], results[False]
    assert fast["mlm_loss"] == pytest.approx(full["mlm_loss"], abs=1e-6)
    assert fast["mlm_accuracy"] == full["mlm_accuracy"] and fast["grad_norm"] == pytest.approx(full["grad_norm"], abs=1e-5)
    for p, q in zip(m_fast.parameters(), m_full.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_mlm_loss_averages_over_masked_positions_only(tokenizer, documents):
    """bug #1 in book/bugs.md: positions with label -100 (unchosen, padding) must not count."""
    batch, _ = one_batch(tokenizer, documents)
    model = BertForPreTraining(model_config(), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]).prediction_logits
    chosen = batch["labels"] != -100
    per_position = F.cross_entropy(logits.transpose(1, 2), batch["labels"].clamp(min=0), reduction="none")  # (B, T)
    right = per_position[chosen].mean()
    wrong = per_position.mean()  # the bug: every position counts
    cfg = small_config()
    metrics = train_step(model, build_optimizer(model, cfg), None, [batch], cfg)
    assert metrics["mlm_loss"] == pytest.approx(float(right), abs=1e-5)
    assert abs(metrics["mlm_loss"] - float(wrong)) > 1e-3
    assert metrics["masked_tokens"] == int(chosen.sum()) < chosen.numel() / 4


def test_nsp_loss_learns_from_notnext_examples(tokenizer, documents):
    """bug #2 in book/bugs.md: an `ignore_index=0`-style bug would drop a class; a batch of only NotNext (label 1)
    and one of only IsNext (label 0) must both give a loss and move the classifier."""
    batch, _ = one_batch(tokenizer, documents)
    for label in (1, 0):
        b = dict(batch, next_sentence_label=torch.full((6,), label), labels=torch.full_like(batch["labels"], -100))
        model = BertForPreTraining(model_config(), generator=torch.Generator().manual_seed(3))
        before = model.cls.seq_relationship.weight.detach().clone()
        cfg = small_config()
        metrics = train_step(model, build_optimizer(model, cfg), None, [b], cfg)
        assert metrics["nsp_loss"] > 0.1 and metrics["mlm_loss"] == 0.0  # no MLM targets at all
        assert not torch.equal(model.cls.seq_relationship.weight, before)


def test_nsp_gradient_reaches_only_the_cls_position(tokenizer, documents):
    """bug #10 in book/bugs.md: NSP classifies the pooled [CLS] vector, never every token."""
    batch, _ = one_batch(tokenizer, documents)
    batch = dict(batch, labels=torch.full_like(batch["labels"], -100))  # NSP loss only
    model = BertForPreTraining(model_config(), generator=torch.Generator().manual_seed(4))
    grads = []

    def keep_gradient(module, args, out):  # a forward hook that returns None leaves the output alone
        out.last_hidden_state.register_hook(grads.append)

    model.bert.register_forward_hook(keep_gradient)
    cfg = small_config()
    train_step(model, build_optimizer(model, cfg), None, [batch], cfg)
    (grad,) = grads  # (B, T, H)
    assert grad[:, 0].abs().sum() > 0
    assert grad[:, 1:].abs().max() == 0


def test_gradient_accumulation_equals_one_big_batch(tokenizer, documents):
    """Two micro-batches of 3 give the update of one batch of 6: each mean is weighted by its share of the
    masked tokens, so a micro-batch with more masks counts for more (as in the big batch)."""
    batch, _ = one_batch(tokenizer, documents)
    halves = [{k: v[:3] for k, v in batch.items()}, {k: v[3:] for k, v in batch.items()}]
    assert (halves[0]["labels"] != -100).sum() != (halves[1]["labels"] != -100).sum()  # unequal on purpose
    base = BertForPreTraining(model_config(), generator=torch.Generator().manual_seed(5))
    one, two = copy.deepcopy(base), copy.deepcopy(base)
    m1 = train_step(one, build_optimizer(one, small_config()), None, [batch], small_config())
    m2 = train_step(two, build_optimizer(two, small_config(grad_accum_steps=2)), None, halves,
                    small_config(grad_accum_steps=2))
    assert m1["loss"] == pytest.approx(m2["loss"], abs=1e-5)
    for p, q in zip(one.parameters(), two.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_evaluate_reports_accuracy_over_masked_positions(tokenizer, documents):
    cfg = small_config()
    data = prepare_dataset(documents[:8], tokenizer, cfg, masking="static", dupe_factor=1, seed=11)
    model = BertForPreTraining(model_config(), generator=torch.Generator().manual_seed(6))
    result = evaluate(model, data.batches(5), cfg)
    assert result["masked_tokens"] == int((data.labels != -100).sum())
    assert 0.0 <= result["mlm_accuracy"] < 0.1  # untrained: about 1/99
    assert result["mlm_loss"] == pytest.approx(torch.log(torch.tensor(99.0)).item(), abs=0.3)
    assert 0.0 <= result["nsp_accuracy"] <= 1.0 and model.training  # mode restored


# ----------------------------------------------------------------------------- checkpoints and resume
class Crash(Exception):
    pass


def _run(tmp_path, name, data, cfg, crash_at=None, resume=False):
    def on_step(step, metrics):
        if step == crash_at:
            raise Crash(step)

    model = build_model(cfg, 99, model_config(dropout=0.1))  # dropout on: its RNG must be restored too
    try:
        train(cfg, data, None, model=model, out_dir=tmp_path / name, resume=resume, progress=False, on_step=on_step)
    except Crash:
        pass
    return model


def _same_records(a, b):
    strip = lambda recs: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in recs]  # noqa: E731
    return strip(a) == strip(b)


def test_killed_run_resumes_bit_for_bit(tmp_path, tokenizer, documents):
    cfg = small_config(masking="dynamic", save_every=3, grad_accum_steps=2, total_steps=9)
    data = prepare_dataset(documents, tokenizer, cfg)
    full = _run(tmp_path, "full", data, cfg)
    _run(tmp_path, "crashed", data, cfg, crash_at=5)  # dies after step 5; the last checkpoint is step 3
    assert json.loads((tmp_path / "crashed/checkpoints/latest.json").read_text())["step"] == 3
    with pytest.raises(ValueError, match="resume=True"):
        _run(tmp_path, "crashed", data, cfg)  # refusing to overwrite a run by accident
    with pytest.raises(ValueError, match="batch_size 6 -> 12"):
        _run(tmp_path, "crashed", data, small_config(masking="dynamic", save_every=3, grad_accum_steps=2,
                                                     total_steps=9, batch_size=12), resume=True)
    resumed = _run(tmp_path, "crashed", data, cfg, resume=True)
    for (name, p), q in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name  # bitwise: weights, AdamW moments, RNG and data position all restored
    assert _same_records(read_metrics(tmp_path / "full/metrics.jsonl"), read_metrics(tmp_path / "crashed/metrics.jsonl"))


def test_time_limit_pauses_with_a_checkpoint(tmp_path, tokenizer, documents):
    """max_minutes (a Colab session, a shared machine): stop cleanly, then --resume finishes the same run."""
    cfg = small_config(total_steps=5, max_minutes=0.0)  # out of time after the first step
    data = prepare_dataset(documents, tokenizer, cfg)
    _run(tmp_path, "paused", data, cfg)
    assert latest_checkpoint(tmp_path / "paused").name == "step-0000001.pt"
    assert [r["step"] for r in read_metrics(tmp_path / "paused/metrics.jsonl")] == [1]
    resumed = _run(tmp_path, "paused", data, small_config(total_steps=5), resume=True)
    full = _run(tmp_path, "full", data, small_config(total_steps=5))
    assert all(torch.equal(p, q) for p, q in zip(full.parameters(), resumed.parameters()))


def test_interrupted_checkpoint_write_keeps_the_previous_one(tmp_path, tokenizer, documents, monkeypatch):
    cfg = small_config(save_every=2, total_steps=6)
    data = prepare_dataset(documents, tokenizer, cfg)
    real = torch.save
    calls = []

    def dying_save(obj, path):  # the second checkpoint: half a file, then the "power cut"
        calls.append(1)
        if len(calls) < 2:
            return real(obj, path)
        __import__("pathlib").Path(path).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dying_save)  # bertedu._io.write_step_file saves with torch.save
    with pytest.raises(OSError, match="disk full"):
        _run(tmp_path, "run", data, cfg)
    ckpt_dir = tmp_path / "run/checkpoints"
    assert latest_checkpoint(tmp_path / "run").name == "step-0000002.pt"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["latest.json", "step-0000002.pt"]  # no debris
    (ckpt_dir / ".step-0000004.pt.tmp-999").write_bytes(b"debris of a killed process")  # as SIGKILL leaves it
    monkeypatch.setattr(torch, "save", real)
    resumed = _run(tmp_path, "run", data, cfg, resume=True)
    full = _run(tmp_path, "full", data, cfg)
    for p, q in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_checkpoint_round_trip_and_safe_loading(tmp_path, tokenizer, documents):
    cfg = small_config()
    data = prepare_dataset(documents, tokenizer, cfg)
    model = build_model(cfg, 99, model_config())
    opt, stream = build_optimizer(model, cfg), BatchStream(data, 6, cfg.seed)
    sched = build_scheduler(opt, 2, 8)
    train_step(model, opt, sched, [next(stream)], cfg)
    path = save_checkpoint(tmp_path, 1, model, opt, sched, stream, cfg)
    torch.load(path, weights_only=True)  # only tensors and plain containers: no unsafe unpickling
    model2 = build_model(small_config(seed=99), 99, model_config())
    opt2 = build_optimizer(model2, cfg)
    sched2, stream2 = build_scheduler(opt2, 2, 8), BatchStream(data, 6, cfg.seed)
    assert load_checkpoint(path, model2, opt2, sched2, stream2) == 1
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), model2.parameters()))
    assert sched2.last_epoch == 1 and stream2.position == 6
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], opt2.state_dict()["state"][0]["exp_avg"])


def test_train_logs_metrics_and_evaluates(tmp_path, tokenizer, documents):
    cfg = small_config(total_steps=6, log_every=3, eval_every=3)
    data = prepare_dataset(documents, tokenizer, cfg)
    held_out = prepare_dataset(documents[:6], tokenizer, cfg, masking="static", dupe_factor=1, seed=5)
    history = train(cfg, data, held_out, model_config=model_config(), out_dir=tmp_path, progress=False)
    assert [(r["split"], r["step"]) for r in history] == [("eval", 0), ("train", 3), ("eval", 3), ("train", 6),
                                                          ("eval", 6)]
    assert _same_records(history, read_metrics(tmp_path / "metrics.jsonl"))
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl", split="eval")] == [0, 3, 6]
    assert {"loss", "mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy", "lr", "grad_norm"} <= set(history[1])


def test_cli_help():
    from bertedu.pretrain import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0


# ----------------------------------------------------------------------------- the committed CPU checkpoint
CPU_TINY = __import__("pathlib").Path(__file__).resolve().parents[1] / "data/pretrained/cpu-tiny"


@pytest.mark.skipif(not (CPU_TINY / "model.safetensors").is_file(), reason="data/pretrained/cpu-tiny not built yet")
def test_cpu_checkpoint_loads_and_beats_the_frequency_baseline():
    """Chapter 8's checkpoint: loads in bertedu and in transformers with the same outputs, and its own
    held-out log shows it beating "predict the most frequent token" (bug #11 in book/bugs.md)."""
    import transformers

    from bertedu.model.checkpoint import from_pretrained

    transformers.utils.logging.disable_progress_bar()
    ours = from_pretrained(CPU_TINY)
    ref = transformers.BertForPreTraining.from_pretrained(CPU_TINY).eval()
    tok = BertTokenizer.from_vocab_file(CPU_TINY / "vocab.txt")
    enc = tok.encode("the king said to his [MASK] that", "she did not [MASK] him .")
    ids = torch.tensor([enc["input_ids"]])
    types = torch.tensor([enc["token_type_ids"]])
    with torch.no_grad():
        a, b = ours(ids, types), ref(input_ids=ids, token_type_ids=types)
    torch.testing.assert_close(a.prediction_logits, b.prediction_logits, atol=1e-4, rtol=1e-4)
    run = json.loads((CPU_TINY / "run.json").read_text())
    base = run["frequency_baseline"]
    final = read_metrics(CPU_TINY / "metrics.jsonl", split="eval")[-1]
    assert final["mlm_accuracy"] > base["most_frequent_accuracy"] + 0.03
    assert final["mlm_loss"] < base["unigram_loss"] - 0.3
    assert sum(p.stat().st_size for p in CPU_TINY.iterdir()) < 15e6


def test_build_model_applies_the_run_dropout_to_a_given_model_config():
    cfg = PretrainConfig(dropout=0.0, total_steps=2, warmup_steps=0)
    model = build_model(cfg, 99, model_config())
    assert model.config.hidden_dropout_prob == 0.0 == model.config.attention_probs_dropout_prob
    assert build_model(PretrainConfig(total_steps=2, warmup_steps=0), 99, model_config()).config.hidden_dropout_prob \
        == model_config().hidden_dropout_prob

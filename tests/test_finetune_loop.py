"""The fine-tuning loop, its batching, the task recipes and ``python -m bertedu.finetune``.

- bucketing: every example once per epoch, batches padded only to their own longest example, less
  padding than a plain shuffle, the same batches for the same (seed, epoch);
- the loop: overfits a tiny batch; warmup + decay; early stopping; a run killed after k steps and resumed
  ends with the very same weights as one never interrupted (dropout on), and refuses other settings;
- every recipe turns 5 real records of its data set (``BERTEDU_DATA``) into inputs of the right shapes
  that its head accepts;
- the CLI: one tiny run per task type, and one-line errors that name the flag.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bertedu import BertConfig, BertTokenizer
from bertedu.finetuning.batching import bucket_batches, eval_batches, padding_fraction
from bertedu.finetuning.cli import main
from bertedu.finetuning.features import TaskData, collate, encode_task
from bertedu.finetuning.grid import PAPER_GRID, grid_configs, grid_search
from bertedu.finetuning.heads import BertForSequenceClassification
from bertedu.finetuning.loop import ConfigError, FinetuneConfig, finetune, schedule_steps
from bertedu.finetuning.recipes import RECIPES, get_recipe, load_records
from bertedu.finetuning.scoring import evaluate_task

ROOT = Path(__file__).resolve().parent.parent


def tiny_config(**overrides) -> BertConfig:
    values = dict(vocab_size=40, hidden_size=16, num_attention_heads=2, num_hidden_layers=1, intermediate_size=24,
                  max_position_embeddings=32)
    values.update(overrides)
    return BertConfig(**values)


def toy_features(n: int, seed: int = 0, vocab: int = 40, max_len: int = 12) -> list[dict]:
    """Random [CLS] x ... [SEP] sentences of lengths 3..max_len with a random binary label each."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        length = int(torch.randint(3, max_len + 1, (1,), generator=g))
        body = torch.randint(5, vocab, (length - 2,), generator=g).tolist()
        out.append({"input_ids": [2, *body, 3], "token_type_ids": [0] * length,
                    "labels": int(torch.randint(0, 2, (1,), generator=g))})
    return out


def new_model(seed: int = 0, **config) -> BertForSequenceClassification:
    return BertForSequenceClassification(tiny_config(**config), 2, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- batching -----------------------------
def test_every_example_once_per_epoch_and_deterministic():
    lengths = [int(x) for x in torch.randint(1, 60, (203,), generator=torch.Generator().manual_seed(1))]
    for epoch in range(3):
        batches = bucket_batches(lengths, 16, seed=7, epoch=epoch, pool_batches=4)
        assert sorted(i for b in batches for i in b) == list(range(203))
        assert len(batches) == math.ceil(203 / 16) and sum(len(b) < 16 for b in batches) == 1
        assert batches == bucket_batches(lengths, 16, seed=7, epoch=epoch, pool_batches=4)
    assert bucket_batches(lengths, 16, seed=7, epoch=0) != bucket_batches(lengths, 16, seed=7, epoch=1)
    assert bucket_batches(lengths, 16, seed=7, epoch=0) != bucket_batches(lengths, 16, seed=8, epoch=0)
    assert sorted(i for b in eval_batches(lengths, 16) for i in b) == list(range(203))
    bucketed = padding_fraction(lengths, bucket_batches(lengths, 16, seed=7))
    shuffled = padding_fraction(lengths, bucket_batches(lengths, 16, seed=7, pool_batches=1))
    assert bucketed < 0.1 < 0.3 < shuffled  # similar lengths share a batch


def test_batches_are_padded_to_their_own_longest_example():
    features = toy_features(30)
    lengths = [len(f["input_ids"]) for f in features]
    for idx in bucket_batches(lengths, 8, seed=0, pool_batches=1):
        batch = collate([features[i] for i in idx], pad_token_id=0)
        longest = max(lengths[i] for i in idx)
        assert batch["input_ids"].shape == (len(idx), longest)
        assert batch["attention_mask"].sum(1).tolist() == [lengths[i] for i in idx]
        assert (batch["input_ids"][batch["attention_mask"] == 0] == 0).all()
        assert batch["labels"].shape == (len(idx),) and batch["labels"].dtype == torch.long
    with pytest.raises(ValueError, match="batch_size"):
        bucket_batches(lengths, 0, seed=0)


# ---------------------------------------------------------------- the loop ------------------------------
def test_loop_overfits_a_tiny_batch():
    features = toy_features(8, seed=3)
    model = new_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    data = TaskData("sst2", [], features)
    config = FinetuneConfig(lr=1e-2, batch_size=8, epochs=60, warmup_fraction=0.0, eval_every=60)
    result = finetune(model, features, config, evaluate=lambda m: evaluate_task(m, data), main_metric="accuracy",
                      progress=False)
    train = [r for r in result.history if r["split"] == "train"]
    assert result.steps == 60 and train[-1]["loss"] < 0.05 < 0.5 < train[0]["loss"]
    assert result.best_metrics["accuracy"] == 1.0


def test_schedule_warms_up_then_decays_to_zero():
    features = toy_features(40)
    config = FinetuneConfig(lr=1e-3, batch_size=4, epochs=2, warmup_fraction=0.1, log_every=1)
    assert schedule_steps(40, config) == (10, 20, 2)
    result = finetune(new_model(), features, config, progress=False)
    lrs = [r["lr"] for r in result.history if r["split"] == "train"]
    assert lrs[:3] == [0.0, 5e-4, 1e-3] and lrs[-1] == pytest.approx(1e-3 / 18) and len(lrs) == 20


def test_early_stopping_keeps_the_best_weights():
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    snapshots = []

    def evaluate(model):
        snapshots.append(model.classifier.weight.detach().clone())
        return {"accuracy": next(scores)}

    model = new_model()
    config = FinetuneConfig(lr=1e-3, batch_size=4, epochs=3, eval_every=2, patience=2)
    result = finetune(model, toy_features(24), config, evaluate=evaluate, main_metric="accuracy", progress=False)
    assert result.stopped_early and result.steps == 8 and result.best_step == 4
    assert torch.equal(model.classifier.weight, snapshots[1])


class Killed(Exception):
    pass


def test_resume_after_a_kill_gives_the_same_weights(tmp_path):
    features = toy_features(22, seed=5)
    data = TaskData("sst2", [], toy_features(6, seed=9))
    config = FinetuneConfig(lr=2e-3, batch_size=4, epochs=2, eval_every=3, save_every=2, log_every=1)
    kwargs = dict(evaluate=lambda m: evaluate_task(m, data), main_metric="accuracy", progress=False)
    whole = new_model()  # dropout 0.1: the global generator must be restored too
    finetune(whole, features, config, out_dir=tmp_path / "a", **kwargs)

    def kill(step, _):
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        finetune(new_model(), features, config, out_dir=tmp_path / "b", on_step=kill, **kwargs)
    assert json.loads((tmp_path / "b/checkpoints/latest.json").read_text())["step"] == 4
    resumed = new_model()
    finetune(resumed, features, config, out_dir=tmp_path / "b", resume=True, **kwargs)
    mine, theirs = resumed.state_dict(), whole.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    log = lambda d: [json.loads(x) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert log("a") == log("b")  # the redone step 5 is logged once
    with pytest.raises(ValueError, match="cannot resume.*lr"):
        finetune(new_model(), features, FinetuneConfig(**{**config.to_dict(), "lr": 1e-3}), out_dir=tmp_path / "b",
                 resume=True, **kwargs)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        finetune(new_model(), features, config, out_dir=tmp_path / "b", **kwargs)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="lr") as err:
        FinetuneConfig(lr=0)
    assert err.value.field == "lr"
    with pytest.raises(ConfigError, match="batch_size"):
        FinetuneConfig(batch_size=0)


def test_paper_grid_and_best_on_dev():
    configs = grid_configs(FinetuneConfig(seed=3), PAPER_GRID)
    assert len(configs) == 18 and {c.lr for c in configs} == {5e-5, 3e-5, 2e-5}
    assert {c.batch_size for c in configs} == {16, 32} and {c.epochs for c in configs} == {2, 3, 4}
    assert all(c.seed == 3 for c in configs)
    found = grid_search(configs, run=lambda c: c, score=lambda c: -abs(c.lr - 3e-5) - c.epochs / 100 + c.batch_size)
    assert (found.best_config.lr, found.best_config.epochs, found.best_config.batch_size) == (3e-5, 2, 32)


def test_run_grid_keeps_only_the_best_model(tmp_path, data_dir, minilm_path):
    from bertedu.finetuning.run import run_grid
    base = FinetuneConfig(max_train_examples=8, max_eval_examples=8, max_seq_length=64)
    summary = run_grid("rte", "random:tiny", base, {"lr": (1e-5, 1e-3), "epochs": (1,)}, out_dir=tmp_path,
                       progress=False)
    assert [row["lr"] for row in summary["table"]] == [1e-5, 1e-3]
    best = max(summary["table"], key=lambda row: row["score"])
    assert summary["best"]["config"]["lr"] == best["lr"]
    assert [p.parent for p in tmp_path.glob("grid/*/model")] == [Path(summary["best_model"]).parent]
    assert json.loads((tmp_path / "results.json").read_text())["table"] == summary["table"]


# ---------------------------------------------------------------- recipes on real data ------------------
@pytest.fixture(scope="module")
def uncased(uncased_vocab_path) -> BertTokenizer:
    return BertTokenizer.from_vocab_file(uncased_vocab_path)


@pytest.mark.parametrize("task", sorted(RECIPES))
def test_recipe_builds_inputs_from_five_real_examples(task, uncased, data_dir):
    recipe = get_recipe(task)
    records, total = load_records(task, "train", 5)
    assert len(records) == 5 and total > 5
    data = encode_task(task, records, uncased, max_seq_length=128)
    batch = collate(data.features, uncased.pad_token_id)
    ids = batch["input_ids"]
    n = len(data.features)
    assert n == 5 or (recipe.kind == "qa" and n >= 5)
    if recipe.kind == "multiple_choice":
        assert ids.shape[:2] == (5, 2)
    assert ids.shape[-1] <= 128 and batch["attention_mask"].shape == ids.shape == batch["token_type_ids"].shape
    assert (ids[..., 0] == uncased.cls_token_id).all()
    labels = {k: v for k, v in batch.items() if k not in ("input_ids", "token_type_ids", "attention_mask")}
    expected = {"qa": {"start_positions": (n,), "end_positions": (n,)},
                "joint": {"intent_labels": (n,), "slot_labels": tuple(ids.shape)},
                "tagging": {"labels": tuple(ids.shape)}}.get(recipe.kind, {"labels": (n,)})
    assert {k: tuple(v.shape) for k, v in labels.items()} == expected
    if recipe.kind == "regression":
        assert batch["labels"].dtype == torch.float32
    head = recipe.head_class()(tiny_config(vocab_size=len(uncased.vocab), max_position_embeddings=128),
                               generator=torch.Generator().manual_seed(0), **recipe.head_kwargs())
    out = head(**batch)  # the head accepts the labels: their ranges and shapes are right
    assert torch.isfinite(out.loss)


# ---------------------------------------------------------------- the CLI -------------------------------
def cli(tmp_path: Path, task: str, *extra: str) -> dict:
    return main(["--task", task, "--model", "random:tiny", "--max-train-examples", "8", "--max-eval-examples", "8",
                 "--epochs", "1", "--max-seq-length", "96", "--out", str(tmp_path / task), "--no-progress", *extra])


@pytest.mark.parametrize("task", ["sst2", "mrpc", "stsb", "conll2003", "squad-v2.0", "piqa", "snips"])
def test_cli_runs_each_task_type(task, tmp_path, data_dir, minilm_path, capsys):
    results = cli(tmp_path, task)
    narration = capsys.readouterr().out
    for stage in ("data:", "examples:", "model:", "dev:", "saved:"):
        assert stage in narration
    recipe = get_recipe(task)
    assert results["task"] == task and results["train_records"] == 8 and results["steps"] == 1
    assert math.isfinite(results["metrics"][recipe.main_metric])
    saved = json.loads((tmp_path / task / "results.json").read_text())
    assert saved["metrics"] == results["metrics"]
    config = json.loads((tmp_path / task / "model/config.json").read_text())
    assert config["architectures"] == [recipe.head] and config["finetuning_task"] == task
    assert (tmp_path / task / "metrics.jsonl").is_file() and not (tmp_path / task / "checkpoints").exists()


BAD_FLAGS = {
    "--lr": ["--lr", "-1"],
    "--batch-size": ["--batch-size", "0"],
    "--epochs": ["--epochs", "two"],
    "--model": ["--model", "/no/such/checkpoint"],
    "--max-seq-length": ["--task", "squad-v1.1", "--max-seq-length", "40"],
    "--task": ["--task", "cola"],
    "--resume": ["--resume"],
    "--warmup-fraction": ["--warmup-fraction", "1.5"],
}


@pytest.mark.parametrize("flag", sorted(BAD_FLAGS))
def test_cli_errors_are_one_line_naming_the_flag(flag, capsys):
    argv = BAD_FLAGS[flag]
    with pytest.raises(SystemExit) as exit_info:
        main((["--task", "sst2"] if "--task" not in argv else []) + argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err and "Traceback" not in err


def test_entry_point_help_shows_every_default():
    out = subprocess.run([sys.executable, "-m", "bertedu.finetune", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert "--lr LR" in out and "(default: 3e-05)" in out and "(default: minilm)" in out


# ---------------------------------------------------------------- SQuAD v2.0 scoring at tau = 0 ----------
def test_squad_v2_plain_scores_abstain_at_tau_zero(uncased, data_dir):
    """v2.0's plain exact/F1 use tau = 0: a question is answered "" when s_null beats its best span.

    Logits that put all mass on [CLS] must give "" everywhere (F1 = the NoAns share); logits that put [CLS]
    far below every span must answer everywhere (the same answers v1.1 decoding gives)."""
    from bertedu.finetuning.metrics import squad_scores
    from bertedu.finetuning.scoring import score, squad_json
    from bertedu.finetuning.squad import decode_predictions, final_answers

    records, _ = load_records("squad-v2.0", "eval", 40)
    data = encode_task("squad-v2.0", records, uncased, max_seq_length=128)
    gold = squad_json(data.records, "v2.0")
    no_ans = sum(not qa["answers"] for a in gold["data"] for p in a["paragraphs"] for qa in p["qas"])
    assert 0 < no_ans < len(records)
    g = torch.Generator().manual_seed(0)
    shaped = [torch.randn(len(f["input_ids"]), generator=g) for f in data.features]
    null_wins = [{"start_logits": s.clone().index_fill_(0, torch.tensor([0]), 50.0),
                  "end_logits": s.clone().index_fill_(0, torch.tensor([0]), 50.0)} for s in shaped]
    metrics = score("squad-v2.0", data, null_wins)
    assert metrics["f1"] == metrics["exact"] == pytest.approx(100.0 * no_ans / len(records))
    assert metrics["HasAns_f1"] == 0.0 and metrics["NoAns_f1"] == 100.0
    span_wins = [{"start_logits": s.clone().index_fill_(0, torch.tensor([0]), -50.0),
                  "end_logits": s.clone().index_fill_(0, torch.tensor([0]), -50.0)} for s in shaped]
    metrics = score("squad-v2.0", data, span_wins)
    decoded = decode_predictions(data.meta, [o["start_logits"] for o in span_wins],
                                 [o["end_logits"] for o in span_wins])
    always = squad_scores(final_answers(decoded), gold)
    assert metrics["f1"] == pytest.approx(always["f1"]) and metrics["exact"] == pytest.approx(always["exact"])
    assert metrics["NoAns_f1"] < 50.0  # spans chosen, not "" (a span of punctuation normalises to "")

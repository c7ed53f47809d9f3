"""tools/finetune_results.py: the settings each record is made with, and the command it says made it."""

import json
from pathlib import Path

from tool_loader import load_tool

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    return load_tool("finetune_results")


def test_sst2_full_is_sst2_on_every_training_sentence():
    tool = _tool()
    sub, full = tool.config_for("sst2", "own", 42, False, 1), tool.config_for("sst2-full", "own", 42, False, 1)
    assert sub.max_train_examples == 4000 and full.max_train_examples is None
    assert {k: v for k, v in vars(sub).items() if k != "max_train_examples"} == \
        {k: v for k, v in vars(full).items() if k != "max_train_examples"}
    command = tool.cli_command("sst2-full", "data/pretrained/cpu-tiny", full)
    assert command.startswith("python -m bertedu.finetune --task sst2 --model data/pretrained/cpu-tiny")
    assert "--max-train-examples" not in command  # the default: all of them
    # MiniLM's full SST-2: one epoch, evaluated every 500 steps (the settings of data/finetune/minilm-sst2-full)
    mini = tool.config_for("sst2-full", "minilm", 42, False, 1)
    assert (mini.epochs, mini.eval_every, mini.lr) == (1, 500, 5e-5)
    saved = json.loads((ROOT / "data" / "finetune" / "minilm-sst2-full" / "results.json").read_text())["config"]
    assert {k: saved[k] for k in ("epochs", "eval_every", "lr", "batch_size", "max_train_examples")} == \
        {"epochs": 1, "eval_every": 500, "lr": 5e-5, "batch_size": 32, "max_train_examples": None}


def test_every_committed_record_has_its_settings_and_seeds():
    tool = _tool()
    records = json.loads((ROOT / "data" / "finetune" / "results.json").read_text())
    keys = {(r["task"], r["backbone"], r["metric"]) for r in records}
    for task in tool.TASKS:
        for backbone in tool.BACKBONES:
            for metric in tool.METRICS[task]:
                assert (task, backbone, metric) in keys, (task, backbone, metric)
    for r in records:
        assert len(r["values"]) == len(r["seeds"]) and r["command"].startswith("python tools/finetune_results.py")
        assert r["settings"]["max_train_examples"] == tool.SETTINGS[r["task"]]["max_train_examples"]

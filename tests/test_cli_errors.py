"""Every command line of the project reports a bad flag in one line that names it (no usage block)."""

import importlib
import re
from pathlib import Path

import pytest
from tool_loader import load_tool

from bertedu._io import OneLineParser

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["bertedu.finetuning.cli", "bertedu.pretraining.cli", "bertedu.pretraining.report",
           "bertedu.experiments.cli", "bertedu.experiments.table7", "bertedu.experiments.curves",
           "bertedu.teach.__main__", "bertedu.study.__main__"]
TOOLS = ["recipe_study", "finetune_results", "target_kinds", "finetune_examples", "sync_colab", "vendor_js",
         "beyond_results", "analyse_pretraining", "token_similarity", "finetune_curve", "check_pages"]
# standalone on purpose: it checks, on a bare device machine, whether the project can run at all
STANDALONE = {"tools/gpu/session.py"}


def test_one_line_parser_names_the_flag(capsys):
    p = OneLineParser(prog="prog")
    p.add_argument("--steps", type=int)
    with pytest.raises(SystemExit) as exit_:
        p.parse_args(["--steps", "many"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and err.startswith("prog: error: argument --steps") and "usage" not in err


@pytest.mark.parametrize("name", MODULES + [f"tools/{t}" for t in TOOLS])
def test_an_unknown_flag_is_one_line(name, capsys):
    module = load_tool(name[len("tools/"):]) if name.startswith("tools/") else importlib.import_module(name)
    with pytest.raises(SystemExit) as exit_:
        module.main(["--no-such-flag-xyz"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    # one line; it names the unknown flag, or first the argument that is required and missing
    assert err.count("\n") == 1 and ": error: " in err and "usage:" not in err, err
    assert "--no-such-flag-xyz" in err or "arguments are required" in err, err


def test_no_command_line_builds_a_plain_argparse_parser():
    plain = [str(p.relative_to(ROOT)) for folder in ("bertedu", "tools", "bench") for p in (ROOT / folder).rglob("*.py")
             if re.search(r"argparse\.ArgumentParser\(", p.read_text(encoding="utf-8"))]
    assert sorted(set(plain) - STANDALONE - {"bertedu/_io.py"}) == []

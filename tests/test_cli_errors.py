"""Every command line of the project reports a bad flag in one line that names it (no usage block)."""

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest
from tool_loader import load_script

from bertedu._io import OneLineParser

ROOT = Path(__file__).resolve().parents[1]
# standalone on purpose: it checks, on a bare device machine, whether the project can run at all
STANDALONE = {"tools/gpu/session.py"}


def command_lines() -> list[str]:
    """Every file of bertedu/, tools/ and bench/ that builds a OneLineParser: the project's command lines."""
    return sorted(str(p.relative_to(ROOT)) for folder in ("bertedu", "tools", "bench")
                  for p in (ROOT / folder).rglob("*.py")
                  if p.name != "_io.py" and "OneLineParser(" in p.read_text(encoding="utf-8"))


def load(path: str) -> ModuleType:
    """A command line's module: imported by name inside the package, loaded from its file elsewhere."""
    if path.startswith("bertedu/"):
        return importlib.import_module(path[:-len(".py")].replace("/", "."))
    return load_script(ROOT / path)


def test_the_command_lines_are_found():
    # the discovery below must see the known command lines, or the parametrized test checks nothing
    found = command_lines()
    assert {"bertedu/experiments/cli.py", "bertedu/pretraining/cli.py", "tools/target_kinds.py",
            "tools/gpu/finalize.py", "bench/pretrain_speed.py"} <= set(found) and len(found) >= 20, found


def test_one_line_parser_names_the_flag(capsys):
    p = OneLineParser(prog="prog")
    p.add_argument("--steps", type=int)
    with pytest.raises(SystemExit) as exit_:
        p.parse_args(["--steps", "many"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and err.startswith("prog: error: argument --steps") and "usage" not in err


@pytest.mark.parametrize("path", command_lines())
def test_an_unknown_flag_is_one_line(path, capsys):
    module = load(path)
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

"""tools/recipe_study.py: each variant is the baseline with exactly its one change; the report reads its JSON."""

import json
from pathlib import Path

import pytest
from tool_loader import load_tool


def _tool():
    return load_tool("recipe_study")


def _parsed(args):
    from bertedu.pretraining.cli import build_parser

    return vars(build_parser().parse_args(["--out", "RUN", *args]))


def test_every_variant_changes_exactly_one_setting():
    tool = _tool()
    base = _parsed(tool.variant_args("baseline"))
    assert tool.ORDER[0] == "baseline" and set(tool.ORDER) == set(tool.VARIANTS)
    expected = {"no-nsp": {"no_nsp": True}, "bible": {"drop_books": []}, "dupe1": {"dupe_factor": 1},
                "static": {"masking": "static"}, "dropout": {"dropout": 0.1}, "lr1e-4": {"lr": 1e-4}}
    assert set(expected) == set(tool.VARIANTS) - {"baseline"}
    for name, change in expected.items():
        got = _parsed(tool.variant_args(name))
        diff = {k: got[k] for k in got if got[k] != base[k]}
        assert diff == change, name
    # the schedule every variant shares: 8,000 steps, exports at the steps --at accepts
    assert base["steps"] == 8000 and base["export_steps"] == [1000, 2000, 4000, 6000, 8000]
    assert base["drop_books"] == ["bible-kjv"] and base["dupe_factor"] == 5 and base["lr"] == 0.002


def test_a_finished_run_is_reused_only_with_identical_settings(tmp_path: Path):
    tool = _tool()
    reuse = tmp_path / "table5"
    same, other = reuse / "a", reuse / "b"
    for d, name in ((same, "dupe1"), (other, "dropout")):
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({"argv": ["--out", str(d), *tool.variant_args(name)]}))
    assert tool.find_run("dupe1", tmp_path / "runs", reuse) == same
    assert tool.find_run("bible", tmp_path / "runs", reuse) == tmp_path / "runs" / "bible"


def test_report_table_reads_the_numbers(tmp_path: Path):
    tool = _tool()
    row = dict(step=4000, minutes=21.7, mask_loss=5.5, top_answer_share=0.2, command="python -m bertedu.pretrain")
    study = {"heldout_mask_targets": 13197, "commit": "abc1234", "rows": [
        {**row, "variant": "baseline", "change": "the recipe", "mask_accuracy": 0.10, "ratio": 1.9},
        {**row, "variant": "dupe1", "change": "pairs once", "mask_accuracy": 0.125, "ratio": 2.4}]}
    text = tool.markdown(study)
    assert "13,197" in text and "`abc1234`" in text
    assert "| dupe1 | pairs once | 4,000 | 22 | 12.5% | 2.40x | +2.5 |" in text
    assert "| baseline | the recipe | 4,000 | 22 | 10.0% | 1.90x |  |" in text


def test_at_must_be_an_export_step(capsys):
    tool = _tool()
    with pytest.raises(SystemExit):
        tool.main(["--at", "3000", "--plan"])
    assert "--at" in capsys.readouterr().err

"""The experiment runner (``python -m bertedu.experiments``): declared tables, resume, records, CLI errors.

End to end at the rehearsal budget (4 pre-training steps on 6 documents, 16 fine-tuning examples) on a
small table declared here, so the real pre-training loop and ``run_task`` run in seconds.  Resume is
asserted by counting what runs (calls and the runner's events), never by timing.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
import types
from pathlib import Path

import pytest

from bertedu.experiments import TABLES, load_table
from bertedu.experiments.cli import main
from bertedu.experiments.paper_values import TABLE5, TABLE6, TABLE8, paper_value
from bertedu.experiments.runs import run_dir
from bertedu.experiments.spec import BUDGETS, Variant, pretrain_key, relative_step_cost

ROOT = Path(__file__).resolve().parents[1]
PAPER_VALUES = ROOT.parent / "shared" / "PAPER_VALUES.md"
REAL_TABLES = ("table5", "table6", "table8", "figure5")


class Killed(Exception):
    """Stands in for a kill -9 in the middle of a run."""


# ----------------------------------------------------------------------------- the declared tables
def _markdown_table(text: str, heading: str) -> list[list[str]]:
    block = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()
            if line.startswith("|")]
    return [r for r in rows[2:]]  # no header, no ---


@pytest.mark.skipif(not PAPER_VALUES.is_file(), reason="the shared PAPER_VALUES.md is not beside the checkout")
def test_paper_values_match_the_shared_transcription():
    text = PAPER_VALUES.read_text(encoding="utf-8")
    names5 = {"BERT-Base (MLM + NSP)": "BERT-Base", "No NSP": "No NSP", "LTR & No NSP": "LTR & No NSP",
              "+ BiLSTM": "+ BiLSTM"}
    for row in _markdown_table(text, "## Table 5"):
        assert [TABLE5[names5[row[0]]][c] for c in ("MNLI-m", "QNLI", "MRPC", "SST-2", "SQuAD")] == \
            [float(x) for x in row[1:]]
    for row in _markdown_table(text, "## Table 6"):
        assert list(TABLE6[row[0].replace(" ", "")].values()) == [float(x) for x in row[1:]]
    for row in _markdown_table(text, "## Table 8"):
        assert list(TABLE8[row[0].replace("%", "").replace(" ", "")].values()) == [float(x) for x in row[1:]]


def test_declared_tables_look_up_the_paper_in_our_units():
    t5, t6, t8, f5 = (load_table(t) for t in REAL_TABLES)
    assert t5.paper(t5.VARIANTS["ltr"], "sst2", "accuracy") == 92.1
    assert t5.paper(t5.VARIANTS["no-pretraining"], "sst2", "accuracy") is None
    assert t6.paper(t6.VARIANTS["L8-H192-A3"], "pretrain", "mlm_perplexity") == 3.23
    assert t8.paper(t8.VARIANTS["mix-100-0-0"], "conll2003-feature", "entity_f1") == 94.0
    assert f5.paper(f5.VARIANTS["mlm@8000"], "stsb", "spearman") is None
    from bertedu.experiments.results import to_unit
    assert to_unit(92.1, "sst2", "accuracy") == 0.921 and to_unit(88.5, "squad-v1.1", "f1") == 88.5
    assert to_unit(3.23, "heldout-wikitext", "mlm_perplexity") == 3.23
    with pytest.raises(ValueError, match="unknown table"):
        paper_value("table9", "x", "y")


def test_every_variant_is_runnable_under_every_budget():
    from bertedu.experiments.runner import table_variants

    for name in REAL_TABLES:
        module = load_table(name)
        for budget in BUDGETS.values():
            for variant in table_variants(module, budget).values():
                assert variant.tasks and set(variant.tasks) <= set(module.TASKS)
                assert all(task in budget.finetune for task in variant.tasks), (name, variant.name)
                if variant.step is not None:
                    assert variant.step in budget.export_steps
    assert list(load_table("figure5").variants_for(BUDGETS["rehearsal"])) == [
        "mlm@0", "mlm@2", "mlm@4", "ltr@0", "ltr@2", "ltr@4", "mlm-nonsp@2", "mlm-nonsp@4"]


def test_variants_of_different_tables_share_one_pretraining():
    t5, t6, t8, f5 = (load_table(t) for t in REAL_TABLES)
    budget, work = BUDGETS["cpu"], Path("/w")
    same = {run_dir(work, budget, v) for v in (t5.VARIANTS["mlm-nsp"], t6.VARIANTS["L2-H128-A2"],
                                               t8.VARIANTS["mix-80-10-10"], f5.VARIANTS["mlm@4000"])}
    ltr = {run_dir(work, budget, v) for v in (t5.VARIANTS["ltr"], t5.VARIANTS["ltr-bilstm"], f5.VARIANTS["ltr@1000"])}
    nonsp = {run_dir(work, budget, v) for v in (t5.VARIANTS["no-nsp"], f5.VARIANTS["mlm-nonsp@2000"])}
    assert len(same) == 1 and len(ltr) == 1 and len(nonsp) == 1 and len(same | ltr | nonsp) == 3
    # the step-0 rows are random weights; the No NSP curve shares MLM + NSP's (the same architecture)
    assert not f5.VARIANTS["mlm@0"].pretrained and "mlm-nonsp@0" not in f5.VARIANTS
    others = {run_dir(work, budget, v) for v in [*t6.VARIANTS.values(), *t8.VARIANTS.values()]}
    assert len(others) == 6 + 6 - 1  # the 2/128/2 size and the 80/10/10 mixture are one run
    # runtime flags (threads, device) do not change which run it is
    assert pretrain_key({"--steps": 8, "--threads": 1}) == pretrain_key({"--steps": 8, "--threads": 4})
    assert relative_step_cost({"--objective": "ltr"}) > 2 > relative_step_cost({"--preset": "L1-H128-A2"})


@pytest.mark.parametrize("table", REAL_TABLES)
def test_dry_run_plans_and_trains_nothing(table, tmp_path, capsys):
    assert main([table, "--dry-run", "--work-dir", str(tmp_path / "w"), "--results-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "python -m bertedu.pretrain --out" in out and "minutes left under budget 'cpu'" in out
    assert not (tmp_path / "r").exists() and not (tmp_path / "w" / "cpu" / "pretrain").exists()


# ----------------------------------------------------------------------------- end to end, resume
@pytest.fixture
def fake_table(monkeypatch):
    """A two-row table (MLM+NSP, and No NSP fine-tuned with a BiLSTM) on MRPC, plus a pre-training-only row."""
    module = types.ModuleType("bertedu_test_fake_table")
    module.TASKS = {"mrpc": ("accuracy", "f1")}
    module.VARIANTS = {v.name: v for v in [
        Variant("a", "MLM + NSP", row="BERT-Base", tasks=("mrpc",)),
        Variant("b", "No NSP + BiLSTM", row="No NSP", pretrain={"--no-nsp": True}, tasks=("mrpc",), bilstm=True,
                pool="last"),
        Variant("c", "MASK only", pretrain={"--mask-mix": "100,0,0"})]}
    module.paper = lambda v, task, metric: paper_value("table5", v.row, "MRPC" if metric == "accuracy" else None)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(TABLES, "fake", module.__name__)
    return module


@pytest.fixture
def counters(monkeypatch):
    """Counts every pre-training and fine-tuning run (by calling through to the real ones)."""
    from bertedu.finetuning import run as run_module
    from bertedu.pretraining import cli as pretrain_cli

    calls = {"pretrain": [], "finetune": []}
    real_pretrain, real_finetune = pretrain_cli.main, run_module.run_task

    def pretrain(argv):
        calls["pretrain"].append(argv)
        return real_pretrain(argv)

    def finetune(task, model, config, **kw):
        calls["finetune"].append((str(kw["out_dir"]), config.seed))
        if calls.get("kill_when") and calls["kill_when"] in str(kw["out_dir"]):
            raise Killed(str(kw["out_dir"]))
        return real_finetune(task, model, config, **kw)

    monkeypatch.setattr(pretrain_cli, "main", pretrain)
    monkeypatch.setattr(run_module, "run_task", finetune)
    return calls


def _events(work: Path) -> list[dict]:
    return [json.loads(line) for line in (work / "rehearsal" / "events.jsonl").read_text().splitlines()]


def test_runner_end_to_end_resumes_without_recomputing(tmp_path, data_dir, fake_table, counters):
    work, results = tmp_path / "work", tmp_path / "results"
    argv = ["fake", "--variants", "a", "b", "--budget", "rehearsal", "--seeds", "1", "2",
            "--work-dir", str(work), "--results-dir", str(results)]
    counters["kill_when"] = "nonsp"  # variant b's fine-tuning dies: a is finished, b half way
    with pytest.raises(Killed):
        main(argv)
    records = json.loads((results / "fake.json").read_text())
    assert {(r["variant"], r["kind"], r["metric"]) for r in records} == {
        ("a", "pretrain", "mlm_perplexity"), ("a", "pretrain", "mlm_accuracy"), ("a", "finetune", "accuracy"),
        ("a", "finetune", "f1"), ("b", "pretrain", "mlm_perplexity"), ("b", "pretrain", "mlm_accuracy")}
    assert len(counters["pretrain"]) == 2 and len(counters["finetune"]) == 3  # a x 2 seeds, then b dies

    counters.update(pretrain=[], finetune=[], kill_when=None)
    assert main(argv) == 0
    assert counters["pretrain"] == []  # both pre-trainings finished before: reused
    assert [s for _, s in counters["finetune"]] == [1, 2] and all("nonsp" in f for f, _ in counters["finetune"])
    skipped = {(e["variant"], e["task"]) for e in _events(work) if e["event"] == "cell" and e["status"] == "skipped"}
    assert ("a", "mrpc") in skipped and ("a", "heldout-wikitext") in skipped
    after = json.loads((results / "fake.json").read_text())
    a_rows = [r for r in after if r["variant"] == "a"]
    assert a_rows == [r for r in records if r["variant"] == "a"]  # never recomputed, never rewritten

    b = next(r for r in after if r["variant"] == "b" and r["metric"] == "accuracy")
    folder = Path(work / "rehearsal/finetune") / Path(b["model"]).parent.name
    assert json.loads((folder.with_name(folder.name + "-bilstm-last") / "mrpc/seed-1/results.json").read_text())[
        "encoder_top"] == {"bilstm": True, "pool": "last"}

    counters.update(pretrain=[], finetune=[])  # one more seed: only seed 3 runs, the others are kept
    assert main(argv[:7] + ["1", "2", "3"] + argv[9:]) == 0
    assert sorted(s for _, s in counters["finetune"]) == [3, 3] and counters["pretrain"] == []
    grown = {(r["variant"], r["metric"]): r for r in json.loads((results / "fake.json").read_text())}
    assert grown[("a", "accuracy")]["values"][:2] == next(r for r in records if r["variant"] == "a" and
                                                          r["metric"] == "accuracy")["values"]
    assert grown[("a", "accuracy")]["seeds"] == [1, 2, 3]
    _check_records(list(grown.values()))


def _check_records(records: list[dict]) -> None:
    """The committed record format (issue 16, item 4)."""
    for r in records:
        for key in ("variant", "task", "metric", "values", "mean", "std", "paper", "command", "commit", "minutes",
                    "kind", "unit", "budget"):
            assert key in r, key
        assert math.isclose(r["mean"], statistics.fmean(r["values"])) and r["std"] >= 0
        assert math.isclose(r["std"], statistics.pstdev(r["values"]))
        assert r["kind"] in ("pretrain", "finetune") and r["minutes"] >= 0
        assert re.fullmatch(r"[0-9a-f]{40}|unknown", r["commit"])
        assert r["command"].startswith(f"python -m bertedu.experiments fake --variants {r['variant']} ")
        if r["kind"] == "finetune":
            assert len(r["values"]) == len(r["seeds"])
            assert r["model"].endswith("/final") and r["settings"]["max_train_examples"] == 16
        else:
            assert r["seeds"] is None and len(r["values"]) == 1 and r["pretrain_command"].startswith(
                "python -m bertedu.pretrain --out ")
    paper = {(r["variant"], r["metric"]): r["paper"] for r in records}
    assert paper[("a", "accuracy")] == 0.867 and paper[("b", "accuracy")] == 0.865 and paper[("a", "f1")] is None


def test_records_cite_the_threads_a_run_really_used(tmp_path):
    # --threads of the runner overrides the budget's: the pre-training command a record cites must say so
    from bertedu.experiments.runs import pretrain_command, ran_with

    flags = {"--preset": "tiny", "--threads": 1}
    assert ran_with(flags, tmp_path) == flags  # no run.json yet: the flags as they are
    (tmp_path / "run.json").write_text(json.dumps({"config": {"num_threads": 2}}))
    assert ran_with(flags, tmp_path) == {"--preset": "tiny", "--threads": 2}
    assert "--threads 2" in pretrain_command(ran_with(flags, tmp_path), tmp_path)
    assert ran_with({"--device": "cuda"}, tmp_path) == {"--device": "cuda"}  # a budget without --threads
    (tmp_path / "run.json").write_text("{broken")
    assert ran_with(flags, tmp_path) == flags


def test_a_killed_pretraining_resumes_bit_for_bit(tmp_path, data_dir, fake_table, monkeypatch):
    from safetensors.torch import load_file

    from bertedu.pretraining import cli as pretrain_cli

    real_train = pretrain_cli.train

    def dying_train(*args, on_step=None, **kw):
        def step(n, metrics):
            if on_step is not None:
                on_step(n, metrics)
            if n == 2:  # after the step-2 checkpoint (save-every 2)
                raise Killed("step 2")
        return real_train(*args, on_step=step, **kw)

    common = ["fake", "--variants", "c", "--budget", "rehearsal", "--results-dir", str(tmp_path / "r")]
    monkeypatch.setattr(pretrain_cli, "train", dying_train)
    with pytest.raises(Killed):
        main(common + ["--work-dir", str(tmp_path / "killed")])
    monkeypatch.setattr(pretrain_cli, "train", real_train)
    main(common + ["--work-dir", str(tmp_path / "killed")])
    resumed = [e for e in _events(tmp_path / "killed") if e["event"] == "pretrain"]
    assert [(e["status"], e.get("from_step")) for e in resumed] == [
        ("started", 0), ("resumed", 2), ("finished", None)]
    main(["fake", "--variants", "c", "--budget", "rehearsal", "--results-dir", str(tmp_path / "r2"),
          "--work-dir", str(tmp_path / "straight")])
    variant = fake_table.VARIANTS["c"]
    a = load_file(str(run_dir(tmp_path / "killed", BUDGETS["rehearsal"], variant) / "final/model.safetensors"))
    b = load_file(str(run_dir(tmp_path / "straight", BUDGETS["rehearsal"], variant) / "final/model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    rows = {r["metric"]: r["values"] for r in json.loads((tmp_path / "r" / "fake.json").read_text())}
    assert rows == {r["metric"]: r["values"] for r in json.loads((tmp_path / "r2" / "fake.json").read_text())}


def test_out_of_time_stops_before_starting_work(tmp_path, fake_table, capsys):
    code = main(["fake", "--variants", "a", "--budget", "rehearsal", "--max-minutes", "1e-9",
                 "--work-dir", str(tmp_path), "--results-dir", str(tmp_path / "r")])
    assert code == 3 and "out of time" in capsys.readouterr().err
    assert not (tmp_path / "r" / "fake.json").exists()


def test_an_external_table_gets_only_the_arguments_it_takes(tmp_path, monkeypatch, capsys):
    """The registry hook (chapter 11's table7 has its own runner): VARIANTS and run(...)."""
    module = types.ModuleType("bertedu_test_external_table")
    module.VARIANTS = {"x": None, "y": None}
    seen = {}

    def run(variants, seeds, *, out, plan=False):
        seen.update(variants=variants, seeds=seeds, out=out, plan=plan)
    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(TABLES, "ext", module.__name__)
    assert main(["ext", "--variants", "y", "--seeds", "5", "--results-dir", str(tmp_path), "--dry-run"]) == 0
    assert seen == {"variants": ["y"], "seeds": [5], "out": tmp_path / "ext.json", "plan": True}
    assert hasattr(load_table("table7"), "run") and load_table("table7").VARIANTS


# ----------------------------------------------------------------------------- CLI errors
BAD = {
    "TABLE": ["table9"],
    "--variants": ["table5", "--variants", "bert-huge"],
    "--seeds": ["table5", "--seeds", "one"],
    "--budget": ["table5", "--budget", "tpu"],
    "--jobs": ["table5", "--jobs", "0"],
    "--max-minutes": ["table5", "--max-minutes", "0"],
    "--threads": ["table5", "--threads", "0"],
}


@pytest.mark.parametrize("flag", sorted(BAD))
def test_cli_errors_are_one_line_naming_the_flag(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(BAD[flag])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err and "Traceback" not in err


def test_rehearsal_numbers_never_reach_the_committed_results(capsys):
    from bertedu.experiments.runner import _done

    with pytest.raises(SystemExit):
        main(["table5", "--budget", "rehearsal"])
    err = capsys.readouterr().err
    assert "--budget" in err and "--results-dir" in err and len(err.strip().splitlines()) == 1
    record = {"variant": "a", "kind": "finetune", "task": "sst2", "metric": "accuracy", "seeds": [42]}
    for made, asked, done in (("rehearsal", "cpu", False), ("gpu", "cpu", True), ("cpu", "gpu", True),
                              ("cpu", "rehearsal", False)):
        assert _done([{**record, "budget": made}], "a", "finetune", "sst2", ["accuracy"], [42],
                     BUDGETS[asked]) is done


def test_several_tables_need_table_colon_variant(capsys):
    with pytest.raises(SystemExit):
        main(["table5", "table8", "--variants", "ltr", "--dry-run"])
    assert "table:variant" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["table5", "--variants", "table8:mix-100-0-0", "--dry-run"])
    assert "not being run" in capsys.readouterr().err


def test_pretrain_curves_keep_every_evaluation_and_thin_the_training_log(tmp_path, capsys):
    from bertedu.experiments import curves, runs

    run = tmp_path / "work" / "cpu" / "pretrain" / "tiny-x"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"config": {"objective": "ltr", "nsp": False, "total_steps": 20,
                                                         "mask_mix": [0.8, 0.1, 0.1], "preset": "tiny"},
                                              "argv": ["--steps", "20"]}))
    lines = [{"split": "eval", "step": 0, "mlm_loss": 9.0, "mlm_accuracy": 0.0}]
    lines += [{"split": "train", "step": s, "mlm_loss": 9.0 - s / 10, "elapsed_s": s} for s in range(5, 25, 5)]
    lines += [{"split": "eval", "step": 20, "mlm_loss": 7.0, "mlm_accuracy": 0.1}]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{\"cut short")
    (tmp_path / "work" / "cpu" / "pretrain" / "no-eval-yet").mkdir()
    out = tmp_path / "curves.json"
    assert curves.main(["--work-dir", str(tmp_path / "work"), "--out", str(out), "--train-every", "10"]) == 0
    (record,) = json.loads(out.read_text())["runs"]
    assert record["objective"] == "ltr" and record["finished"] is False and record["total_steps"] == 20
    assert record["eval"] == [{"step": 0, "loss": 9.0, "accuracy": 0.0}, {"step": 20, "loss": 7.0, "accuracy": 0.1}]
    assert [t["step"] for t in record["train"]] == [10, 20]
    # a run of python -m bertedu.pretrain itself (no runner marker) is finished once its final weights are
    # saved at the last step: the final weights alone do not do it, nor the last step alone
    (run / "final").mkdir()
    (run / "final" / "model.safetensors").write_bytes(b"")
    assert curves.run_curves(run)["finished"] is True
    assert runs.trained_to_the_end(run) and not runs.is_finished(run)  # the runner would not reuse it
    lines[-1]["step"] = 15  # stopped early (--max-minutes): final/ holds the weights of step 15
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines if x["step"] <= 15) + "\n")
    assert curves.run_curves(run)["finished"] is False
    with pytest.raises(SystemExit):
        curves.main(["--work-dir", str(tmp_path / "nowhere"), "--out", str(out)])
    assert "--work-dir" in capsys.readouterr().err


def test_pretrain_curves_keep_runs_whose_folders_are_gone(tmp_path, capsys):
    # a fresh clone has no runs/: refreshing the curves must not drop the runs recorded before
    from bertedu.experiments import curves

    run = tmp_path / "work" / "cpu" / "pretrain" / "new-run"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"config": {"nsp": True, "total_steps": 10}}))
    (run / "metrics.jsonl").write_text(json.dumps({"split": "eval", "step": 10, "mlm_loss": 6.0,
                                                   "mlm_accuracy": 0.2}) + "\n")
    out = tmp_path / "curves.json"
    old = {"run": "old-run", "finished": True, "eval": [{"step": 8000, "loss": 5.0, "accuracy": 0.3}]}
    stale = {"run": "new-run", "finished": False, "eval": []}
    out.write_text(json.dumps({"command": "x", "commit": "abc", "budget": "cpu", "runs": [stale, old]}))
    args = ["--work-dir", str(tmp_path / "work"), "--out", str(out)]
    assert curves.main(args) == 0
    assert "1 kept" in capsys.readouterr().out
    written = json.loads(out.read_text())
    by_run = {r["run"]: r for r in written["runs"]}
    assert sorted(by_run) == ["new-run", "old-run"]
    assert by_run["old-run"] == {**old, "commit": "abc"}  # unchanged, stamped with the old file's commit
    assert by_run["new-run"]["eval"] == [{"step": 10, "loss": 6.0, "accuracy": 0.2}]
    assert by_run["new-run"]["commit"] == written["commit"]
    assert curves.main(args + ["--drop-missing"]) == 0
    assert [r["run"] for r in json.loads(out.read_text())["runs"]] == ["new-run"]
    out.write_text(json.dumps({"budget": "gpu", "runs": [old]}))
    with pytest.raises(SystemExit):
        curves.main(args)
    err = capsys.readouterr().err
    assert "--out" in err and "'gpu'" in err and len(err.strip().splitlines()) == 1
    out.write_text("{not json")
    with pytest.raises(SystemExit):
        curves.main(args)
    assert "--drop-missing" in capsys.readouterr().err


def test_merge_in_previous_order_keeps_rows_in_place_and_appends_new_ones():
    from bertedu.experiments.curves import merge

    previous = [{"run": "c", "x": 1}, {"run": "a", "x": 2, "commit": "old-a"}, {"run": "b", "x": 3}]
    found = [{"run": "d", "x": 4}, {"run": "a", "x": 5}]
    runs, kept = merge(found, previous, "new", "file", order="previous")
    assert [r["run"] for r in runs] == ["c", "a", "b", "d"] and kept == ["b", "c"]
    assert [r["x"] for r in runs] == [1, 5, 3, 4]
    assert [r["commit"] for r in runs] == ["file", "new", "file", "new"]
    assert [r["run"] for r in merge(found, previous, "new")[0]] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="order must be"):
        merge(found, previous, "new", order="newest")


def test_merge_document_refuses_rows_made_with_other_settings(tmp_path):
    from bertedu.experiments.curves import merge_document

    out = tmp_path / "kinds.json"
    first = {"what": "w", "max_pairs": 40, "command": "tool r1", "commit": "c1", "runs": [{"run": "r1"}]}
    doc, kept = merge_document(out, first)  # no file yet: the document, each row stamped with its commit
    assert doc == {**first, "runs": [{"run": "r1", "commit": "c1"}]} and kept == []
    out.write_text(json.dumps(doc))
    second = {"what": "w", "max_pairs": 40, "command": "tool r2", "commit": "c2", "runs": [{"run": "r2"}]}
    doc, kept = merge_document(out, second, same=("what", "max_pairs"))
    assert kept == ["r1"] and doc["earlier_commands"] == ["tool r1"] and doc["command"] == "tool r2"
    assert doc["runs"] == [{"run": "r1", "commit": "c1"}, {"run": "r2", "commit": "c2"}]
    with pytest.raises(ValueError, match="max_pairs = 40"):
        merge_document(out, {**second, "max_pairs": None}, same=("what", "max_pairs"))
    doc, kept = merge_document(out, {**second, "max_pairs": None}, replace=True, same=("max_pairs",))
    assert kept == [] and [r["run"] for r in doc["runs"]] == ["r2"]
    out.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a results file"):
        merge_document(out, second)


def test_effect_is_the_difference_against_twice_the_quadrature_spread():
    from bertedu.experiments.results import effect

    a = {"variant": "x", "task": "t", "values": [0.5, 0.7], "mean": 0.6, "std": 0.1}
    b = {"variant": "y", "task": "t", "values": [0.9, 0.9], "mean": 0.9, "std": 0.0}
    diff, bar = effect(a, b)
    assert diff == pytest.approx(0.3) and bar == pytest.approx(0.2)
    assert effect(b, a)[0] == pytest.approx(-0.3)
    with pytest.raises(ValueError, match="a: .*1 value"):
        effect({**a, "values": [0.6]}, b)

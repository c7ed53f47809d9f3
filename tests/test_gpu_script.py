"""tools/gpu (issue 14, chapter 9): the device session's plan, its return limits, its step schedule, and the
CPU rehearsal of ``tools/gpu/run_device.sh`` end to end.

The rehearsal runs five Python processes (about 40 s of CPU time, under a minute on an idle 2-core machine;
longer when other jobs share the cores). Skip it with ``BERTEDU_SKIP_GPU_REHEARSAL=1`` when CI time is short.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "tools" / "gpu"
SCRIPT = GPU / "run_device.sh"
EXPECTED = {"log.txt", "device.json", "bench.json", "gpu-mini/model.safetensors", "gpu-mini/config.json",
            "gpu-mini/vocab.txt", "gpu-mini/metrics.jsonl", "gpu-mini/run.json"}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"tools_gpu_{name}", GPU / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


session, outputs = _load("session"), _load("outputs")


# ----------------------------------------------------------------------------- the plan, chosen by device
@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H200", 989.0), ("NVIDIA H200 NVL", 835.0), ("NVIDIA H100 80GB HBM3", 989.0),
    ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.0), ("NVIDIA A100-SXM4-80GB", 312.0),
    ("NVIDIA L40S", 362.0), ("NVIDIA L4", 121.0), ("Tesla T4", None)])
def test_peak_by_device_name(name, peak):
    got, source = session.peak_for(name)
    assert got == peak
    assert ("datasheet" in source) if peak else ("measured" in source)


@pytest.mark.parametrize("cap", [(8, 0), (8, 6), (8, 9), (9, 0)])
def test_bf16_on_gpus_that_have_it(cap):
    assert session.choose_dtype("cuda", "gpu", cap) == "bfloat16"


@pytest.mark.parametrize("name, cap", [("Tesla T4", (7, 5)), ("Tesla V100-SXM2-16GB", (7, 0)), ("odd", None)])
def test_refuses_gpus_without_bf16(name, cap):
    with pytest.raises(session.Refusal) as err:
        session.make_plan("cuda", name, cap, rehearsal=False)
    assert err.value.code == 3
    assert name in str(err.value) and "float16" in str(err.value) and "GradScaler" in str(err.value)


def test_cpu_needs_rehearsal():
    with pytest.raises(session.Refusal) as err:
        session.make_plan("cpu", "some CPU", None, rehearsal=False)
    assert err.value.code == 2 and "REHEARSAL=1" in str(err.value)
    assert session.make_plan("cpu", "some CPU", None, rehearsal=True)["DTYPE"] == "float32"


def test_h200_plan_and_overrides():
    plan = session.make_plan("cuda", "NVIDIA H200", (9, 0), False, {"TRAIN_MINUTES": "3", "UNRELATED": "x"})
    assert plan["DTYPE"] == "bfloat16" and plan["PEAK_TFLOPS"] == 989.0 and plan["DEVICE"] == "cuda"
    assert (plan["BENCH_PRESET"], plan["BENCH_BATCH"], plan["BENCH_SEQ"]) == ("base", 128, 128)
    assert (plan["TRAIN_PRESET"], plan["TRAIN_BATCH"], plan["TRAIN_SEQ"]) == ("mini", 256, 128)
    assert plan["BUDGET_S"] <= 540 and plan["TRAIN_MINUTES"] == "3" and "UNRELATED" not in plan
    assert plan["VOCAB_FILE"] == "data/pretrained/cpu-tiny/vocab.txt" and (ROOT / plan["VOCAB_FILE"]).is_file()


def test_shell_lines_survive_eval():
    plan = {"A": "it's (odd) $HOME", "B": 3, "C": ""}
    script = session.shell_lines(plan) + 'printf "%s|%s|%s" "$A" "$B" "$C"'
    assert subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout == "it's (odd) $HOME|3|"


# ----------------------------------------------------------------------------- what comes back from the device
def _write(path: Path, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)  # sparse: a 17 MiB file costs no disk


def test_return_limits_accept_the_planned_layout(tmp_path):
    for rel in EXPECTED:
        _write(tmp_path / rel)
    assert outputs.check_return_limits(tmp_path) == []


@pytest.mark.parametrize("extra, words", [
    ({"a/b/c/deep.txt": 1}, "folders down"), ({"big.bin": 17 * 2**20}, "more than 16 MiB"),
    ({"bad name.txt": 1}, "name"), ({"x1": 1, "x2": 1, "x3": 1, "x4": 1, "x5": 1, "x6": 1, "x7": 1, "x8": 1,
                                     "x9": 1}, "more than 8")])
def test_return_limits_catch_each_break(tmp_path, extra, words):
    for rel, size in extra.items():
        _write(tmp_path / rel, size)
    problems = outputs.check_return_limits(tmp_path)
    assert any(words in p for p in problems), problems


def test_return_limits_catch_total_and_links(tmp_path):
    for i in range(5):
        _write(tmp_path / f"part{i}.bin", 15 * 2**20)
    (tmp_path / "link").symlink_to(tmp_path / "part0.bin")
    problems = outputs.check_return_limits(tmp_path)
    assert any("in all" in p for p in problems) and any("not a plain file" in p for p in problems)


def test_update_record_merges(tmp_path):
    path = tmp_path / "r.json"
    outputs.update_record(path, a=1)
    assert outputs.update_record(path, b=[2]) == {"a": 1, "b": [2]} == json.loads(path.read_text())


# ----------------------------------------------------------------------------- the step schedule
def test_schedule_fills_the_time_and_pays_for_evaluations():
    calibrate = _load("calibrate")
    m = {"step_s": 0.02, "eval_s": 1.5, "save_s": 0.5}
    s = calibrate.schedule(m, 330.0)
    spent = s["TRAIN_STEPS"] * m["step_s"] + 14 * m["eval_s"] + 9 * m["save_s"]
    assert 0.85 * 330 < spent <= 330 and s["MAX_MINUTES"] == 5.5
    assert s["EVAL_EVERY"] == s["TRAIN_STEPS"] // 12 and s["TRAIN_WARMUP"] == s["TRAIN_STEPS"] // 50
    slow = calibrate.schedule({"step_s": 0.3, "eval_s": 5.0, "save_s": 0.1}, 12.0)  # evaluation dearer than 20%
    assert slow["EVAL_EVERY"] == 0 and slow["TRAIN_STEPS"] >= 10


# ----------------------------------------------------------------------------- the CPU rehearsal, end to end
needs_rehearsal = pytest.mark.skipif(os.environ.get("BERTEDU_SKIP_GPU_REHEARSAL") == "1",
                                     reason="BERTEDU_SKIP_GPU_REHEARSAL=1")


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PY": sys.executable, **extra}
    for key in ("BUDGET_S", "TRAIN_MINUTES", "REHEARSAL"):  # the test's own settings only
        env.pop(key, None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    if not os.environ.get("BERTEDU_DATA") and not (ROOT / ".gpu" / "data").is_dir():
        pytest.skip("set BERTEDU_DATA to the shared data folder")
    out = tmp_path_factory.mktemp("gpu") / "out"
    res = subprocess.run(["bash", str(SCRIPT), str(out)], env=_env(REHEARSAL="1"), capture_output=True, text=True,
                         timeout=400)
    return out, res


@needs_rehearsal
@pytest.mark.slow
def test_rehearsal_writes_the_returned_file_set(rehearsal):
    out, res = rehearsal
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == EXPECTED
    assert outputs.check_return_limits(out) == []
    assert "all phases ok" in res.stdout and "run_device: summary" in res.stdout


@needs_rehearsal
@pytest.mark.slow
def test_rehearsal_checkpoint_is_float16_and_loads(rehearsal):
    import torch
    from safetensors import safe_open

    from bertedu import from_pretrained

    out, res = rehearsal
    assert res.returncode == 0, res.stdout[-3000:]
    ckpt = out / "gpu-mini"
    with safe_open(str(ckpt / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    model = from_pretrained(ckpt)
    assert model.config.vocab_size == 8000 == len((ckpt / "vocab.txt").read_text().split())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # loaded into a float32 model
    run = json.loads((ckpt / "run.json").read_text())
    assert run["config"]["masked_only"] and run["config"]["masking"] == "dynamic"
    assert run["config"]["max_minutes"] > 0 and run["vocab_size"] == 8000
    records = [json.loads(line) for line in (ckpt / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} == {"train", "eval"}


@needs_rehearsal
@pytest.mark.slow
def test_rehearsal_record_has_device_versions_bench_and_checks(rehearsal):
    out, res = rehearsal
    assert res.returncode == 0, res.stdout[-3000:]
    record = json.loads((out / "device.json").read_text())
    assert record["device"]["kind"] == "cpu" and record["versions"]["torch"] and record["plan"]["DTYPE"] == "float32"
    assert record["checks"]["fp16_vs_fp32_top1_agreement"] > 0.99
    assert record["checks"]["reference_load"]["missing_keys"] == [] == record["checks"]["reference_load"]["unexpected_keys"]
    assert record["training"]["steps"] >= 10 and record["training"]["last_eval"]["mlm_loss"] > 0
    assert "`[MASK]`" in record["heldout"]["split"]
    assert {p["phase"] for p in record["phases"]} >= {"session", "bench", "calibrate", "train"}
    bench = json.loads((out / "bench.json").read_text())
    assert bench["speedup"]["median"] > 0 and record["bench_summary"]["bertedu"]["tokens_per_s"] > 0


@needs_rehearsal
@pytest.mark.slow
def test_script_refuses_a_cpu_without_rehearsal(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=_env(), capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and "REFUSED" in res.stdout + res.stderr
    assert "REHEARSAL=1" in res.stdout + res.stderr

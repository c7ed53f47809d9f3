"""Step 1 of ``tools/gpu/run_device.sh``: look at the machine, choose the session's settings, check it can run.

Prints the chosen settings as shell assignments (``KEY='value'`` lines, for ``eval``) on stdout and writes
``OUT/device.json`` (device, versions, the plan and why, a measured dense matrix-product rate). Messages go to
stderr. Exit codes: 0 ready; 2 no GPU visible (and no rehearsal asked for); 3 a GPU without native bf16
(see :func:`choose_dtype`); 4 a preflight check failed (data, vocabulary, packages).

    python tools/gpu/session.py --out OUT              # on the device
    python tools/gpu/session.py --out OUT --rehearsal  # CPU rehearsal: the same steps at a tiny size

Every setting can be overridden from the environment under its own name (``TRAIN_MINUTES=3``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VOCAB = "data/pretrained/cpu-tiny/vocab.txt"  # 8,000 pieces: train_wordpiece on the same training documents

# Dense (no structured sparsity) bf16 tensor-core peaks, TFLOP/s, from NVIDIA's datasheets. The datasheets print
# the figure "with sparsity"; the dense rate is half of it. First match wins (so "H100 PCIe" before "H100").
PEAKS: tuple[tuple[str, float, str], ...] = (
    ("H200 NVL", 835.0, "NVIDIA H200 NVL datasheet: BF16 Tensor Core 1,671 TFLOPS with sparsity, halved"),
    ("H200", 989.0, "NVIDIA H200 Tensor Core GPU datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS with sparsity, halved"),
    ("H100 NVL", 835.0, "NVIDIA H100 datasheet (NVL): BF16 Tensor Core 1,671 TFLOPS with sparsity, halved"),
    ("H100 PCIe", 756.0, "NVIDIA H100 datasheet (PCIe): BF16 Tensor Core 1,513 TFLOPS with sparsity, halved"),
    ("H100", 989.0, "NVIDIA H100 datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS with sparsity, halved"),
    ("A100", 312.0, "NVIDIA A100 datasheet: BF16 Tensor Core 312 TFLOPS dense (624 with sparsity)"),
    ("L40S", 362.0, "NVIDIA L40S datasheet: BF16 Tensor Core 733 TFLOPS with sparsity, halved"),
    ("L40", 181.0, "NVIDIA L40 datasheet: BF16 Tensor Core 362 TFLOPS with sparsity, halved"),
    ("L4", 121.0, "NVIDIA L4 datasheet: BF16 Tensor Core 242 TFLOPS with sparsity, halved"),
    ("A10", 125.0, "NVIDIA A10 datasheet: BF16 Tensor Core 125 TFLOPS dense (250 with sparsity)"),
)

FP16_NEEDED = ("{name} (compute capability {cap}) has no native bf16, and bertedu's PretrainConfig.dtype supports "
               "only float32 and bfloat16 autocast: this GPU needs float16 autocast with loss scaling "
               "(torch.amp.GradScaler), which the library does not have yet (bench/README.md, 'GPU session plan', "
               "says what it needs). Refusing rather than running a slow float32 session.")


class Refusal(Exception):
    """The machine cannot run the planned session; ``code`` is the script's exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def peak_for(name: str) -> tuple[float | None, str]:
    """Dense bf16 peak (TFLOP/s) and its source for a GPU called ``name``; (None, why) if not in the table."""
    for key, tflops, source in PEAKS:
        if key.lower() in name.lower():
            return tflops, source
    return None, f"{name!r} is not in tools/gpu/session.py PEAKS: utilisation is against the matmul measured here"


def choose_dtype(kind: str, name: str, capability: tuple[int, int] | None) -> str:
    """bfloat16 autocast on a GPU with native bf16 (compute capability >= 8.0: A100, H100, H200, L4, ...);
    float32 for the CPU rehearsal; a Refusal (exit 3) for an older GPU (T4 7.5, V100 7.0), which needs fp16."""
    if kind == "cpu":
        return "float32"  # bf16 autocast on a CPU is slower than float32: the rehearsal tests the steps, not speed
    if capability is None or capability < (8, 0):
        cap = "unknown" if capability is None else f"{capability[0]}.{capability[1]}"
        raise Refusal(FP16_NEEDED.format(name=name, cap=cap), 3)
    return "bfloat16"


def base_plan(rehearsal: bool) -> dict[str, Any]:
    """Default settings: the real session on a GPU, or the tiny CPU rehearsal of the very same steps."""
    if rehearsal:
        # BUDGET_S is a guard, not the target: idle, the rehearsal takes well under a minute; on a loaded
        # machine importing torch and transformers alone can take 30 s a process
        return dict(BUDGET_S=240, THREADS=1, FINAL_THREADS=1,
                    BENCH_PRESET="tiny", BENCH_VOCAB=1000, BENCH_BATCH=8, BENCH_SEQ=32, BENCH_ROUNDS=3,
                    BENCH_STEPS=2, BENCH_WARMUP=1, BENCH_TIMEOUT=60,
                    CALIB_SECONDS=2, PREP_RESERVE=40, FINAL_RESERVE=60,
                    TRAIN_PRESET="tiny", TRAIN_BATCH=16, TRAIN_SEQ=64, TRAIN_LR=1e-3, TRAIN_MINUTES=0.2,
                    # every 30th WikiText article held out (4 articles, not 24: a CPU evaluates them in ~1 s);
                    # the CPU checkpoint's own 1,269 held-out pairs are not re-scored (same code as the new one's)
                    MIN_TRAIN_S=5, MAX_DOCUMENTS=60, HOLDOUT=30, VOCAB_FILE=DEFAULT_VOCAB, CKPT_NAME="gpu-mini",
                    CPU_CHECKPOINT="", HELDOUT_EXAMPLES=250)
    # base at 128 x 128 for ~1 minute: 10 rounds x 40 steps of each model at ~20-60 ms a step, plus ~15 s of
    # start-up (bench/README.md, "GPU session plan"); the limit keeps a slower GPU from eating the training time
    return dict(BUDGET_S=540, THREADS=4, FINAL_THREADS=8,
                BENCH_PRESET="base", BENCH_VOCAB=30522, BENCH_BATCH=128, BENCH_SEQ=128, BENCH_ROUNDS=10,
                BENCH_STEPS=40, BENCH_WARMUP=10, BENCH_TIMEOUT=150,
                # PREP_RESERVE: the CLI's start before training (~25-30 s: corpus, pairs, held-out set, baseline)
                CALIB_SECONDS=8, PREP_RESERVE=60, FINAL_RESERVE=45,
                TRAIN_PRESET="mini", TRAIN_BATCH=256, TRAIN_SEQ=128, TRAIN_LR=1e-3, TRAIN_MINUTES=6.0,
                MIN_TRAIN_S=120, MAX_DOCUMENTS="", HOLDOUT=5, VOCAB_FILE=DEFAULT_VOCAB, CKPT_NAME="gpu-mini",
                CPU_CHECKPOINT="data/pretrained/cpu-tiny", HELDOUT_EXAMPLES=1269)


def make_plan(kind: str, name: str, capability: tuple[int, int] | None, rehearsal: bool,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the script needs, as plain values: device, dtype, peak, bench and training settings.

    ``env`` overrides any key of :func:`base_plan` (the value is kept as given, a string)."""
    if kind == "cpu" and not rehearsal:
        raise Refusal("no CUDA GPU is visible: for the CPU rehearsal run REHEARSAL=1 bash tools/gpu/run_device.sh OUT", 2)
    plan: dict[str, Any] = base_plan(rehearsal)
    plan.update({k: v for k, v in (env or {}).items() if k in plan})
    plan["DEVICE"] = "cuda" if kind == "cuda" else "cpu"
    plan["DTYPE"] = choose_dtype(kind, name, capability)
    peak, source = peak_for(name) if kind == "cuda" else (None, "CPU: the dense matmul measured in the bench run")
    plan["PEAK_TFLOPS"] = "" if peak is None else peak
    plan["PEAK_SOURCE"] = source
    plan["REHEARSAL"] = int(rehearsal)
    return plan


def shell_lines(plan: dict[str, Any]) -> str:
    """``KEY='value'`` lines for the shell's ``eval``."""
    return "\n".join(f"{k}={shlex.quote(str(v))}" for k, v in plan.items()) + "\n"


def detect() -> dict[str, Any]:
    """The accelerator torch sees: kind, name, compute capability, memory."""
    import torch

    if not torch.cuda.is_available():
        from bertedu.pretraining.report import cpu_name

        return {"kind": "cpu", "name": cpu_name(), "capability": None, "cpus": os.cpu_count()}
    props = torch.cuda.get_device_properties(0)
    return {"kind": "cuda", "name": torch.cuda.get_device_name(0), "capability": list(torch.cuda.get_device_capability(0)),
            "memory_gib": round(props.total_memory / 2**30, 1), "multiprocessors": props.multi_processor_count,
            "gpus_visible": torch.cuda.device_count(), "cpus": os.cpu_count()}


def versions() -> dict[str, Any]:
    """Python, torch (CUDA, cuDNN) and the packages the session uses; versions read from the installed
    metadata (importing transformers alone takes seconds)."""
    from importlib import metadata

    import torch

    import bertedu

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"python": sys.version.split()[0], "python_executable": sys.executable, "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
            **{name: version(name) for name in ("transformers", "safetensors", "numpy", "tqdm", "triton")},
            "bertedu": bertedu.__version__, "platform": platform.platform()}


def nvidia_smi() -> str | None:
    """One CSV line per GPU (name, driver, memory, clocks, temperature), or None without nvidia-smi."""
    query = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu"
    try:
        res = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def measure_matmul(kind: str, size: int, repeats: int = 10) -> dict[str, Any]:
    """Dense matrix-product rate on random data (never zeros), median of ``repeats`` after 3 warm-ups:
    bf16 ``size``-square on a GPU, float32 on a CPU. The practical ceiling the utilisation is also read against."""
    import statistics

    import torch

    device = torch.device("cuda" if kind == "cuda" else "cpu")
    dtype = torch.bfloat16 if kind == "cuda" else torch.float32
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=g).to(device, dtype) for _ in range(2))
    times = []
    for i in range(3 + repeats):
        if kind == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        torch.mm(a, b)
        if kind == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t)
    flops = 2 * size ** 3 / statistics.median(times)
    return {"size": size, "dtype": str(dtype).removeprefix("torch."), "repeats": repeats,
            "tflops_median": flops / 1e12, "tflops_best": 2 * size ** 3 / min(times) / 1e12}


def preflight(plan: dict[str, Any]) -> list[str]:
    """Problems that would stop the session later, found now: corpus, vocabulary, packages."""
    problems = []
    from bertedu.datasets.download import dataset_path

    for name in ("wikitext-2-raw", "gutenberg", "speeches"):
        try:
            dataset_path(name, download=False)
        except Exception as err:  # FileNotFoundError with the how-to, or an unknown name
            problems.append(f"data set {name}: {str(err).splitlines()[0]} (BERTEDU_DATA={os.environ.get('BERTEDU_DATA')})")
    vocab = plan["VOCAB_FILE"]
    if vocab and not (ROOT / vocab).is_file() and not Path(vocab).is_file():
        problems.append(f"VOCAB_FILE {vocab} is missing (set VOCAB_FILE= to train an 8,000-piece vocabulary instead)")
    import importlib.util

    for module in ("transformers", "safetensors", "tqdm", "numpy"):
        if importlib.util.find_spec(module) is None:
            problems.append(f"python package {module} is missing here: carry it as a wheel "
                            f"(/work/.library/device/README.md, Notes)")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="the session's output folder (device.json goes here)")
    p.add_argument("--rehearsal", action="store_true", help="plan the tiny CPU rehearsal")
    args = p.parse_args(argv)
    started = time.perf_counter()
    device = detect()
    cap = tuple(device["capability"]) if device["capability"] else None
    try:
        plan = make_plan(device["kind"], device["name"], cap, args.rehearsal, dict(os.environ))
    except Refusal as err:
        print(f"run_device: REFUSED: {err}", file=sys.stderr)
        return err.code
    problems = preflight(plan)
    if problems:
        print("run_device: preflight failed:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 4
    import torch

    torch.set_num_threads(int(plan["THREADS"]))
    matmul = measure_matmul(device["kind"], 8192 if device["kind"] == "cuda" else 512)
    if device["kind"] == "cpu":  # the bench's own 2048^3 float32 measurement takes a single CPU thread ~10 s
        plan["PEAK_TFLOPS"] = f"{matmul['tflops_median']:.6f}"
        plan["PEAK_SOURCE"] = "float32 512^3 matmul measured by tools/gpu/session.py in this session"
    record = {"device": device, "nvidia_smi": nvidia_smi(), "versions": versions(),
              "commit": _commit(), "plan": plan, "matmul": matmul,
              "torch_compile": "not used: bertedu has no option for it (no PretrainConfig field, no CLI flag); "
                               "bench/README.md 'GPU session plan' says what it would need",
              "started_unix": time.time()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"run_device: {device['name']} ({device['kind']}, capability {device['capability']}), torch "
          f"{record['versions']['torch']} CUDA {record['versions']['cuda']} cuDNN {record['versions']['cudnn']}, "
          f"transformers {record['versions']['transformers']}, python {record['versions']['python']}",
          file=sys.stderr)
    print(f"run_device: dtype {plan['DTYPE']}; peak {plan['PEAK_TFLOPS'] or 'measured'} TFLOP/s "
          f"({plan['PEAK_SOURCE']}); matmul here {record['matmul']['tflops_median'] * 1e3:.1f} GFLOP/s "
          f"({record['matmul']['dtype']} {record['matmul']['size']}^3); {time.perf_counter() - started:.1f}s",
          file=sys.stderr)
    sys.stdout.write(shell_lines(plan))
    return 0


def _commit() -> dict[str, Any]:
    """The commit of the tree: git if it is a checkout, else what tools/gpu/prepare_carry.py wrote in .gpu/."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                                    timeout=10).stdout.splitlines()  # modified and untracked files travel too
            return {"head": head.stdout.strip(), "status": [line for line in status if line.strip()], "source": "git"}
    except (OSError, subprocess.TimeoutExpired):
        pass
    saved = ROOT / ".gpu" / "commit.json"
    if saved.is_file():
        return {**json.loads(saved.read_text()), "source": ".gpu/commit.json"}
    return {"head": None, "source": "unknown (no git, no .gpu/commit.json)"}


if __name__ == "__main__":
    sys.exit(main())

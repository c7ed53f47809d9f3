"""Step 5 of ``tools/gpu/run_device.sh``: the run's model as a float16 checkpoint that fits the return limits.

``python -m bertedu.pretrain`` leaves ``RUN/final`` (float32: mini with 8,000 pieces is ~22 MB, over the 16 MiB a
returned file may have) and resumable ``RUN/checkpoints`` (weights + AdamW moments, larger still). This writes
``CKPT/{model.safetensors (float16), config.json, vocab.txt, metrics.jsonl, run.json}``, the folder layout of
``data/pretrained/cpu-tiny`` that ``bertedu.from_pretrained`` and ``python -m bertedu.pretraining.report`` read,
then checks it: every tensor float16 and finite, bertedu and ``transformers.BertForPreTraining`` load it with no
missing or unexpected key, its predictions against the float32 model's, and the held-out ``[MASK]``-only accuracy
beside the CPU checkpoint's. If the run was cut before it saved ``final`` (the time guard), the latest
resumable checkpoint is used instead, and the record says so. Everything is merged into ``OUT/device.json``.

    python tools/gpu/finalize.py --run RUN --ckpt OUT/gpu-mini --record OUT/device.json [--bench OUT/bench.json]
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bertedu.model.checkpoint import from_pretrained, save_pretrained
from bertedu.model.heads import BertForPreTraining
from bertedu.pretraining.loop import build_model
from bertedu.pretraining.recipe import PretrainConfig
from bertedu.pretraining.state import latest_checkpoint, read_metrics
from bertedu.text.tokenizer import BertTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from outputs import update_record  # noqa: E402  (a sibling script, not a package)
from bertedu._io import OneLineParser  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def source_model(run: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained model: ``RUN/final`` if the run finished, else its latest resumable checkpoint."""
    final = run / "final"
    if (final / "model.safetensors").is_file():
        return from_pretrained(final, BertForPreTraining), {"source": "RUN/final (the run ended normally)"}
    ckpt = latest_checkpoint(run) if run.is_dir() else None
    if ckpt is None:
        raise SystemExit(f"run_device: no {final} and no checkpoint in {run}/checkpoints: nothing to return")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    config = PretrainConfig.from_dict(json.loads(state["config_json"]))
    model = build_model(config, state["model"]["bert.embeddings.word_embeddings.weight"].shape[0])
    model.load_state_dict(state["model"])
    return model.eval(), {"source": f"RUN/checkpoints/{ckpt.name}: the run was cut before it saved final/",
                          "checkpoint_step": int(state["step"])}


def write_fp16(model: torch.nn.Module, tokenizer: BertTokenizer, ckpt: Path) -> dict[str, Any]:
    """``save_pretrained`` of a float16 copy; refuses a tensor that float16 cannot hold (inf/NaN)."""
    half = copy.deepcopy(model).half()
    bad = [k for k, v in half.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise SystemExit(f"run_device: float16 overflows in {bad[:5]}: keep float32 and a smaller model")
    save_pretrained(half, ckpt, tokenizer)
    from safetensors import safe_open

    with safe_open(str(ckpt / "model.safetensors"), "pt") as f:
        dtypes = sorted({f.get_slice(k).get_dtype() for k in f.keys()})
        tensors = len(list(f.keys()))
    if dtypes != ["F16"]:
        raise SystemExit(f"run_device: {ckpt}/model.safetensors holds {dtypes}, expected F16 only")
    return {"tensors": tensors, "dtypes": dtypes, "parameters": sum(p.numel() for p in model.parameters()),
            "bytes": (ckpt / "model.safetensors").stat().st_size}


def probe_batch(vocab_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (4, 48), generator=g)
    return {"input_ids": ids, "token_type_ids": (torch.arange(48) >= 24).long().expand(4, 48),
            "attention_mask": torch.ones_like(ids)}


@torch.no_grad()
def compare(model: torch.nn.Module, ckpt: Path) -> dict[str, Any]:
    """The float16 file against the float32 model, and the reference's reading of the same file."""
    batch = probe_batch(model.config.vocab_size)
    full = model.eval()(**batch, masked_only=False).prediction_logits.float()
    mine = from_pretrained(ckpt, BertForPreTraining)(**batch, masked_only=False).prediction_logits
    out = {"fp16_vs_fp32_max_abs_logit": float((mine - full).abs().max()),
           "fp16_vs_fp32_top1_agreement": float((mine.argmax(-1) == full.argmax(-1)).float().mean())}
    try:
        import transformers

        kwargs = {"output_loading_info": True}
        try:
            ref, info = transformers.BertForPreTraining.from_pretrained(str(ckpt), dtype=torch.float32, **kwargs)
        except TypeError:  # transformers < 4.56 calls it torch_dtype
            ref, info = transformers.BertForPreTraining.from_pretrained(str(ckpt), torch_dtype=torch.float32, **kwargs)
        theirs = ref.eval()(**batch).prediction_logits
        out["reference_load"] = {k: list(v) for k, v in info.items() if isinstance(v, (list, set))}
        out["reference_vs_bertedu_max_abs_logit"] = float((theirs - mine).abs().max())
    except Exception as err:  # recorded, not fatal: the checkpoint itself is fine
        out["reference_load_error"] = f"{type(err).__name__}: {err}"
    return out


def heldout(folder: Path) -> dict[str, Any]:
    """Held-out MLM targets split by what the model read there (``bertedu.pretraining.report``), compact."""
    try:
        from bertedu.pretraining.report import heldout_numbers

        n = heldout_numbers(folder)
    except Exception as err:  # the report module is optional for the session: record why it is missing
        return {"error": f"{type(err).__name__}: {err}"}
    keep = ("split", "targets", "lead", "kept_share", "copies_random", "mask_guesses", "always_is_next")
    return {k: n[k] for k in keep} | {"last_eval": n["evals"][-1] if n["evals"] else None,
                                      "frequency_baseline": n["run"].get("frequency_baseline")}


def training(run_json: dict[str, Any], metrics: Path) -> dict[str, Any]:
    evals, train = read_metrics(metrics, split="eval"), read_metrics(metrics, split="train")
    cfg = run_json["config"]
    last = train[-1] if train else {}
    return {"planned_steps": cfg["total_steps"], "steps": last.get("step"), "train_seconds": last.get("elapsed_s"),
            "stopped_by_time": bool(last) and last.get("step") != cfg["total_steps"],
            "sequences_per_s": (last["step"] * cfg["batch_size"] / last["elapsed_s"]) if last.get("elapsed_s") else None,
            "epochs": (last["step"] * cfg["batch_size"] / run_json["train_examples"]) if last else None,
            "first_eval": evals[0] if evals else None, "last_eval": evals[-1] if evals else None, "last_train": last}


def bench_summary(bench: Path, matmul_tflops: float | None) -> dict[str, Any] | None:
    if not bench.is_file():
        return None
    b = json.loads(bench.read_text())
    tokens = b["settings"]["batch"] * b["settings"]["seq"]
    out = {"speedup_median": b["speedup"]["median"], "speedup_min": b["speedup"]["min"], "speedup_max": b["speedup"]["max"]}
    for name in ("reference", "bertedu"):
        sps = b[f"{name}_steps_per_s"]["median"]
        out[name] = {"steps_per_s": sps, "tokens_per_s": sps * tokens, "utilisation_vs_peak": b["utilisation"][name],
                     "utilisation_vs_measured_matmul": (b["model_flops_per_step"] * sps / (matmul_tflops * 1e12)
                                                        if matmul_tflops else None)}
    out["peak_tflops"] = b["peak_flops_per_s"] / 1e12
    out["peak_source"] = b["peak_source"]
    return out


def phases(path: Path) -> list[dict[str, Any]]:
    rows = [line.split("\t") for line in path.read_text().splitlines()] if path.is_file() else []
    return [{"phase": r[0], "rc": int(r[1]), "seconds": int(r[2])} for r in rows if len(r) == 3]


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="the run folder of python -m bertedu.pretrain")
    p.add_argument("--ckpt", type=Path, required=True, help="the returned checkpoint folder (inside OUT)")
    p.add_argument("--record", type=Path, required=True, help="OUT/device.json")
    p.add_argument("--bench", type=Path, default=None, help="OUT/bench.json (summarised into the record)")
    p.add_argument("--calibration", type=Path, default=None, help="calibrate.py's JSON")
    p.add_argument("--phases", type=Path, default=None, help="the script's phase log (name, rc, seconds)")
    p.add_argument("--vocab", default=None, help="the run's vocab.txt, if the run folder has none")
    p.add_argument("--cpu-checkpoint", default="data/pretrained/cpu-tiny",
                   help="reported beside the new checkpoint on the same held-out articles ('' = skip)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, source = source_model(args.run)
    vocab = next(v for v in (args.run / "final" / "vocab.txt", args.run / "vocab.txt",
                             Path(args.vocab) if args.vocab else None) if v is not None and v.is_file())
    tokenizer = BertTokenizer.from_vocab_file(vocab)
    args.ckpt.mkdir(parents=True, exist_ok=True)
    written = write_fp16(model, tokenizer, args.ckpt)
    for name in ("metrics.jsonl", "run.json"):
        shutil.copyfile(args.run / name, args.ckpt / name)
    run_json = json.loads((args.run / "run.json").read_text())
    checks = compare(model, args.ckpt)
    held = heldout(args.ckpt)
    cpu_dir = ROOT / args.cpu_checkpoint if args.cpu_checkpoint else None
    cpu = ({"skipped": "--cpu-checkpoint ''"} if cpu_dir is None else
           heldout(cpu_dir) if (cpu_dir / "run.json").is_file() else {"error": f"{cpu_dir}/run.json not found"})
    record = json.loads(args.record.read_text()) if args.record.is_file() else {}
    matmul = (record.get("matmul") or {}).get("tflops_median")
    items = {"checkpoint": {**source, **written, "folder": args.ckpt.name}, "checks": checks,
             "training": training(run_json, args.run / "metrics.jsonl"), "heldout": held,
             "cpu_checkpoint_heldout": cpu | {"folder": args.cpu_checkpoint},
             "bench_summary": bench_summary(args.bench, matmul) if args.bench else None,
             "calibration": json.loads(args.calibration.read_text()) if args.calibration and args.calibration.is_file() else None,
             "phases": phases(args.phases) if args.phases else None,
             "finalize_seconds": round(time.perf_counter() - started, 1)}
    update_record(args.record, **items)
    print_summary(record | items)
    return 0


def _mask_acc(h: dict[str, Any]) -> str:
    split = h.get("split") or {}
    m = next((v for k, v in split.items() if "MASK" in k), None)
    return "n/a" if m is None else f"{m['acc']:.2%} (always-most-frequent {m['top']:.2%}, {m['n']:,} targets)"


def _rate(tflops: float) -> str:
    return f"{tflops:.0f} TFLOP/s" if tflops >= 1 else f"{tflops * 1e3:.1f} GFLOP/s"


def print_summary(r: dict[str, Any]) -> None:
    """The short table the device tool's reply ends with."""
    dev, t, b = r.get("device", {}), r["training"], r.get("bench_summary")
    lines = [f"device      {dev.get('name')} | {r.get('plan', {}).get('DTYPE')} | torch {r.get('versions', {}).get('torch')}"]
    if b:
        lines.append(f"bench       bertedu {b['bertedu']['tokens_per_s']:,.0f} tok/s vs reference "
                     f"{b['reference']['tokens_per_s']:,.0f} tok/s = {b['speedup_median']:.2f}x "
                     f"(rounds {b['speedup_min']:.2f}-{b['speedup_max']:.2f}); MFU bertedu "
                     f"{b['bertedu']['utilisation_vs_peak']:.1%} / reference {b['reference']['utilisation_vs_peak']:.1%} "
                     f"of {_rate(b['peak_tflops'])}")
    else:
        lines.append("bench       no bench.json (the bench phase failed or was skipped: see log.txt)")
    last = t["last_eval"] or {}
    lines.append(f"training    {t['steps']}/{t['planned_steps']} steps in {t['train_seconds']}s "
                 f"({t['sequences_per_s'] or 0:,.0f} seq/s, {t['epochs'] or 0:.1f} epochs), "
                 f"stopped by time: {t['stopped_by_time']}; {r['checkpoint']['source']}")
    lines.append(f"held-out    MLM loss {last.get('mlm_loss', float('nan')):.3f}, accuracy "
                 f"{last.get('mlm_accuracy', float('nan')):.2%}, NSP {last.get('nsp_accuracy', float('nan')):.2%}")
    lines.append(f"[MASK] only this run {_mask_acc(r['heldout'])}; CPU checkpoint {_mask_acc(r['cpu_checkpoint_heldout'])}")
    c = r["checks"]
    lines.append(f"fp16 file   {r['checkpoint']['bytes'] / 2**20:.2f} MiB, max |logit diff| vs fp32 "
                 f"{c['fp16_vs_fp32_max_abs_logit']:.3g}, top-1 agreement {c['fp16_vs_fp32_top1_agreement']:.2%}; "
                 f"transformers load: {c.get('reference_load', c.get('reference_load_error'))}")
    print("\n".join(["run_device: summary"] + ["  " + line for line in lines]), flush=True)


if __name__ == "__main__":
    sys.exit(main())

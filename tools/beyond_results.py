"""Committed results of chapter 13 (book/13_beyond_bert.ipynb) that take too long to compute live.

Two parts, each written to ``data/beyond/<part>.json`` with its provenance (command, commit, minutes,
CPU, torch, threads), and ``data/beyond/PROVENANCE.md`` rewritten from all parts:

* ``sentence``: all-MiniLM-L6-v2 as a bi-encoder on the STS-B dev set (1,500 pairs): Spearman of the
  cosine for [CLS], mean pooling and the pooler; a cross-encoder (MiniLM fine-tuned on a subset of the
  STS-B *train* pairs with ``run_task``) on the same pairs; and retrieval: every dev pair with a gold
  score >= 4 is a query (sentence 1) whose answer is its sentence 2 among all dev sentence 2s, searched
  by the bi-encoder, then its top ``--rerank`` reranked by the cross-encoder.
* ``distill``: a fine-tuned MiniLM SST-2 teacher (``--teacher DIR``) distilled into 2-layer students
  initialised from the teacher's layers ``--layers`` (DistilBERT's recipe): hard labels only vs
  soft targets + hard labels, the same data, steps and seed; SST-2 dev accuracy, sizes, and speed
  (examples/s over the dev set, ``--repeats`` timings).

* ``albert``: BERT and four ALBERTs (``bertedu.beyond.albert.DEMO_VARIANTS``: E = 64 / 32 / 16, layers
  shared or not) pre-trained with masked LM on chapter 8's tiny language, ``--demo-steps`` steps, the
  [MASK] accuracy per kind of blank every ``--eval-every`` steps, for each of ``--seeds``.

    python tools/beyond_results.py sentence
    python tools/beyond_results.py albert
    python tools/beyond_results.py distill --teacher runs/finetune-results/sst2-minilm-seed42/model
    python tools/beyond_results.py distill --teacher DIR --smoke --out /tmp/beyond   # a rehearsal
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import bertedu  # noqa: E402
from bertedu._io import OneLineParser, atomic_write_text  # noqa: E402
from bertedu.beyond.distill import (DistillationStudent, student_from_teacher, teacher_logits,  # noqa: E402
                                    with_example_index)
from bertedu.beyond.pooling import POOLINGS, cosine_matrix, cross_encoder_scores, embed_sentences  # noqa: E402
from bertedu.finetuning.backbones import load_tokenizer, minilm_path  # noqa: E402
from bertedu.finetuning.loop import FinetuneConfig, finetune  # noqa: E402
from bertedu.finetuning.run import prepare_data, run_task  # noqa: E402
from bertedu.finetuning.scoring import evaluate_task  # noqa: E402
from bertedu.pretraining.report import cpu_name  # noqa: E402
from bertedu.pretraining.report import git_commit  # noqa: E402,F401


def uncommitted() -> list[str]:
    """Files of bertedu/ and this tool that differ from the commit when the run starts (several people edit
    this working tree at once, so the commit alone may not name the exact code that ran)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "bertedu",
                              "tools/beyond_results.py"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ["(git status failed)"]
    return sorted(line[3:] for line in out.splitlines() if line.strip())


def envelope(part: str, argv: list[str], began: float, began_cpu: float, commit: str,
             dirty: list[str]) -> dict[str, Any]:
    return {"part": part, "command": "python tools/beyond_results.py " + " ".join(argv), "commit": commit,
            "uncommitted_files": dirty,
            "minutes": round((time.perf_counter() - began) / 60, 2),
            "cpu_minutes": round((time.process_time() - began_cpu) / 60, 2), "cpu": cpu_name(),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


# ---------------------------------------------------------------- sentence embeddings and retrieval

def sentence_part(args: argparse.Namespace) -> dict[str, Any]:
    from bertedu import spearman
    rows = bertedu.read_glue("STS-B", "dev")[: args.pairs]
    gold = [r["label"] for r in rows]
    tokenizer = load_tokenizer(minilm_path())
    encoder = bertedu.from_pretrained(minilm_path(), bertedu.BertModel)
    texts = sorted({r[k] for r in rows for k in ("sentence1", "sentence2")})
    at = {t: i for i, t in enumerate(texts)}
    start = time.perf_counter()
    vectors = embed_sentences(encoder, tokenizer, texts, poolings=POOLINGS)
    embed_seconds = time.perf_counter() - start
    bi = {}
    for how in POOLINGS:
        v = vectors[how]
        cos = (torch.nn.functional.normalize(v[[at[r["sentence1"]] for r in rows]], dim=-1)
               * torch.nn.functional.normalize(v[[at[r["sentence2"]] for r in rows]], dim=-1)).sum(-1)
        bi[how] = round(spearman(gold, cos.tolist()), 4)
    print("bi-encoder spearman", bi, flush=True)

    # run_task's own dev evaluations only log progress (on a subset); the last epoch's model is kept
    config = FinetuneConfig(lr=args.cross_lr, epochs=args.cross_epochs, batch_size=32, threads=1,
                            max_train_examples=args.cross_train, max_eval_examples=args.cross_eval,
                            restore_best=False, seed=42)
    cross_dir = Path(args.work) / "stsb-cross"
    trained = run_task("stsb", "minilm", config, out_dir=cross_dir, resume=True, progress=False, say=print)
    cross = bertedu.from_pretrained(cross_dir / "model", bertedu.BertForSequenceClassification, num_labels=1)
    start = time.perf_counter()
    cross_all = cross_encoder_scores(cross, tokenizer, [(r["sentence1"], r["sentence2"]) for r in rows])
    cross_seconds = time.perf_counter() - start
    cross_spearman = round(spearman(gold, cross_all.tolist()), 4)
    print("cross-encoder spearman", cross_spearman, flush=True)

    retrieval = retrieval_part(rows, vectors["mean"], at, cross, tokenizer, args.rerank)
    return {"pairs": len(rows), "sentences": len(texts), "bi_encoder_spearman": bi,
            "bi_encoder_sentences_per_second": round(len(texts) / embed_seconds, 1),
            "cross_encoder": {"spearman": cross_spearman, "pairs_per_second": round(len(rows) / cross_seconds, 1),
                              "train_records": trained["train_records"], "epochs": args.cross_epochs,
                              "lr": args.cross_lr, "train_minutes": trained["minutes"],
                              "dev_spearman_run_task": trained["metrics"].get("spearman"),
                              "evals": [{k: round(v, 4) if isinstance(v, float) else v for k, v in e.items()}
                                        for e in trained["evals"]]},  # on run_task's dev subset
            "retrieval": retrieval}


def retrieval_part(rows: list[dict], mean_vectors: torch.Tensor, at: dict[str, int], cross: Any, tokenizer: Any,
                   rerank: int) -> dict[str, Any]:
    """Queries: each distinct sentence 1 with a pair scored >= 4; corpus: every distinct sentence 2; a hit:
    a sentence 2 paired with the query at >= 4.  A corpus sentence equal to the query is never a candidate
    (STS-B repeats sentences across pairs: finding the query itself would be no search at all)."""
    corpus = sorted({r["sentence2"] for r in rows})
    where = {t: i for i, t in enumerate(corpus)}
    relevant: dict[str, set[int]] = {}
    for r in rows:
        if r["label"] >= 4.0:
            relevant.setdefault(r["sentence1"], set()).add(where[r["sentence2"]])
    queries = sorted(relevant)
    q = mean_vectors[[at[t] for t in queries]]
    c = mean_vectors[[at[t] for t in corpus]]
    sims = cosine_matrix(q, c)  # (Q, M)
    for k, text in enumerate(queries):
        same = [where[t] for t in corpus if t.lower().strip() == text.lower().strip()]
        sims[k, same] = float("-inf")
    top = sims.topk(rerank, dim=-1).indices  # (Q, k)
    pairs = [(text, corpus[int(j)]) for text, row in zip(queries, top) for j in row]
    start = time.perf_counter()
    scores = cross_encoder_scores(cross, tokenizer, pairs).view(len(queries), rerank)
    rerank_seconds = time.perf_counter() - start
    reranked = top.gather(1, scores.argsort(dim=-1, descending=True, stable=True))

    def ranks(order: torch.Tensor) -> list[int | None]:
        found = []
        for text, row in zip(queries, order.tolist()):
            hits = [i + 1 for i, j in enumerate(row) if j in relevant[text]]
            found.append(hits[0] if hits else None)
        return found

    def summary(rank: list[int | None]) -> dict[str, float]:
        return {"recall_at_1": round(sum(r == 1 for r in rank) / len(rank), 4),
                "recall_at_3": round(sum(r is not None and r <= 3 for r in rank) / len(rank), 4),
                f"recall_at_{rerank}": round(sum(r is not None for r in rank) / len(rank), 4),
                f"mrr_at_{rerank}": round(sum(1 / r for r in rank if r is not None) / len(rank), 4)}

    bi_rank, cross_rank = ranks(top), ranks(reranked)
    examples = []
    for k in range(len(queries)):
        if len(examples) < 4 and bi_rank[k] is not None and bi_rank[k] > 1 and cross_rank[k] == 1:
            examples.append({"query": queries[k], "answers": [corpus[j] for j in sorted(relevant[queries[k]])],
                             "bi_top3": [corpus[int(j)] for j in top[k, :3]],
                             "bi_rank": bi_rank[k], "cross_top3": [corpus[int(j)] for j in reranked[k, :3]]})
    return {"queries": len(queries), "corpus": len(corpus), "rerank_top": rerank,
            "bi_encoder": summary(bi_rank), "reranked": summary(cross_rank),
            "moved_up": sum(1 for b, c in zip(bi_rank, cross_rank) if b and c and c < b),
            "moved_down": sum(1 for b, c in zip(bi_rank, cross_rank) if b and c and c > b),
            "rerank_pairs_per_second": round(len(pairs) / rerank_seconds, 1), "examples": examples}


# ---------------------------------------------------------------- distillation

def sizes(model: torch.nn.Module) -> dict[str, Any]:
    total = model.num_parameters()
    embeddings = sum(p.numel() for p in model.bert.embeddings.parameters())
    return {"parameters": total, "embedding_parameters": embeddings, "non_embedding_parameters": total - embeddings,
            "megabytes_fp32": round(total * 4 / 2**20, 1), "layers": model.config.num_hidden_layers}


@torch.no_grad()
def speed(model: torch.nn.Module, data: Any, repeats: int) -> dict[str, Any]:
    """Examples/s of ``model`` over every dev feature (batches of 32, length-sorted), ``repeats`` times."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluate_task(model, data, batch_size=32)
        rates.append(len(data.features) / (time.perf_counter() - start))
    return {"median": round(statistics.median(rates), 1), "min": round(min(rates), 1), "max": round(max(rates), 1),
            "runs": [round(r, 1) for r in rates]}


def distill_part(args: argparse.Namespace) -> dict[str, Any]:
    teacher = bertedu.from_pretrained(args.teacher, bertedu.BertForSequenceClassification, num_labels=2).eval()
    tokenizer = load_tokenizer(args.teacher)
    base = FinetuneConfig(lr=args.lr, epochs=args.epochs, batch_size=32, threads=1, seed=42,
                          max_train_examples=args.train, max_eval_examples=args.eval, restore_best=False,
                          data_seed=args.data_seed)
    train, dev = prepare_data("sst2", tokenizer, base)
    print(f"{len(train.features)} train / {len(dev.features)} dev features", flush=True)
    teacher_scores = evaluate_task(teacher, dev)
    dev_logits = teacher_logits(teacher, dev)  # (872, 2): a few go to the chapter's soft-target figure
    margin = (dev_logits[:, 1] - dev_logits[:, 0]).abs()
    picked = margin.argsort()[:2].tolist() + margin.argsort(descending=True)[:2].tolist()
    examples = [{"sentence": dev.records[i]["sentence"], "label": dev.records[i]["label"],
                 "teacher_logits": [round(float(x), 4) for x in dev_logits[i]]} for i in picked]
    start = time.perf_counter()
    logits = teacher_logits(teacher, train)
    logit_seconds = time.perf_counter() - start
    untrained = {str(layers): round(evaluate_task(student_from_teacher(teacher, layers), dev)["accuracy"], 4)
                 for layers in ([0, 1], [0, 3], [2, 5], [4, 5])}
    print("teacher", teacher_scores, "students before training", untrained, flush=True)

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        return evaluate_task(m, dev)

    students = {}
    for name, alpha in (("hard labels only", 0.0), ("distilled", args.alpha)):
        student = student_from_teacher(teacher, args.layers)
        wrapped = DistillationStudent(student, logits, temperature=args.temperature, alpha=alpha)
        result = finetune(wrapped, with_example_index(train.features), base, evaluate=evaluate,
                          main_metric="accuracy", progress=False, desc=name)
        final = result.evals[-1]
        students[name] = {"alpha": alpha, "accuracy": round(final["accuracy"], 4),
                          "accuracy_per_epoch": [round(e["accuracy"], 4) for e in result.evals],
                          "train_seconds": round(result.train_seconds, 1), "steps": result.steps}
        print(name, students[name], flush=True)
    student = student_from_teacher(teacher, args.layers)
    made = Path(args.teacher).parent / "results.json"  # run_task's record of how the teacher was trained
    how = json.loads(made.read_text(encoding="utf-8")) if made.is_file() else {}
    trained_on = {k: how.get(k) for k in ("train_records", "train_records_total", "minutes")}
    trained_on.update({k: how.get("config", {}).get(k) for k in ("epochs", "lr", "batch_size", "seed")})
    where = Path(args.teacher).resolve()
    where = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
    return {"teacher": {"path": str(where), "trained": trained_on, **sizes(teacher),
                        "accuracy": round(teacher_scores["accuracy"], 4),
                        "examples_per_second": speed(teacher, dev, args.repeats)},
            "student": {"layers_from_teacher": args.layers, **sizes(student),
                        "examples_per_second": speed(student, dev, args.repeats)},
            "students": students, "untrained_students_accuracy": untrained, "teacher_examples": examples,
            "settings": {"temperature": args.temperature, "alpha": args.alpha, "lr": args.lr, "epochs": args.epochs,
                         "batch_size": 32, "train_records": len(train.records), "data_seed": args.data_seed,
                         "dev_records": len(dev.records), "teacher_logit_seconds": round(logit_seconds, 1)}}


# ---------------------------------------------------------------- ALBERT: a small run on the demo language

def albert_part(args: argparse.Namespace) -> dict[str, Any]:
    from bertedu.beyond.albert import DEMO_VARIANTS, demo_run

    runs = []
    for variant in DEMO_VARIANTS:
        for seed in args.seeds:
            began = time.process_time()
            run = demo_run(variant, steps=args.demo_steps, eval_every=args.eval_every, seed=seed)
            runs.append({**run, "cpu_seconds": round(time.process_time() - began, 1)})
            last = run["curve"][-1]
            print(f"{variant.name:<26} seed {seed}: {run['parameters']:,} parameters, step {last['step']}: "
                  f"needs right {last['needs right context']:.3f}, left suffices {last['left suffices']:.3f}",
                  flush=True)
    return {"settings": {"steps": args.demo_steps, "eval_every": args.eval_every, "seeds": args.seeds,
                         "batch_size": 256, "lr": 5e-3, "n_test": 1200}, "runs": runs}


# ---------------------------------------------------------------- provenance and CLI

def provenance(out: Path) -> str:
    lines = ["# Provenance of `data/beyond/`", "",
             "Results of chapter 13 too slow to compute while the chapter runs, made by `tools/beyond_results.py` "
             "(its docstring says what each part measures). Every file records its command, the commit it ran "
             "at, its minutes, the CPU, torch and the number of threads.", ""]
    for path in sorted(out.glob("*.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        dirty = r.get("uncommitted_files")
        note = (f" (with uncommitted changes in {', '.join(dirty)})" if isinstance(dirty, list) and dirty
                else f" ({dirty})" if isinstance(dirty, str) else "")
        lines += [f"## `{path.name}`", "", f"- Command: `{r['command']}`",
                  f"- Code: bertedu at commit `{r['commit']}`{note}",
                  f"- Time: {r['minutes']} minutes wall clock, {r['cpu_minutes']} CPU minutes, on {r['threads']} "
                  f"torch thread of {r['cpu']} (torch {r['torch']}), a 2-core machine shared with two other "
                  f"jobs (speeds in the file are measured under that load)"]
        lines += [f"- Note: {r['provenance_note']}"] if r.get("provenance_note") else []
        lines += [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = OneLineParser(description=__doc__.split("\n")[0])
    p.add_argument("part", choices=["sentence", "distill", "albert", "provenance"])
    p.add_argument("--out", default=str(ROOT / "data" / "beyond"), help="folder of the JSON files")
    p.add_argument("--work", default="/tmp/beyond", help="scratch folder (the cross-encoder's run)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a rehearsal (never commit it)")
    p.add_argument("--pairs", type=int, default=None, help="STS-B dev pairs (default: all 1,500)")
    p.add_argument("--cross-train", type=int, default=3000, help="STS-B train pairs for the cross-encoder")
    p.add_argument("--cross-epochs", type=int, default=2)
    p.add_argument("--cross-lr", type=float, default=5e-5)
    p.add_argument("--cross-eval", type=int, default=200, help="dev pairs run_task logs (all are scored after)")
    p.add_argument("--rerank", type=int, default=10, help="bi-encoder candidates the cross-encoder reranks")
    p.add_argument("--teacher", default=str(ROOT / "runs/finetune-results/sst2-minilm-seed42/model"))
    p.add_argument("--layers", type=int, nargs="+", default=[2, 5], help="teacher layers the student keeps")
    p.add_argument("--train", type=int, default=8000, help="SST-2 train records for the students")
    p.add_argument("--eval", type=int, default=None, help="SST-2 dev records (default: all 872)")
    p.add_argument("--data-seed", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=5, help="speed timings per model")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="albert: seeds of each variant")
    p.add_argument("--demo-steps", type=int, default=600, help="albert: pre-training steps of each run")
    p.add_argument("--eval-every", type=int, default=50, help="albert: steps between two accuracy points")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    if args.smoke:
        args.pairs, args.cross_train, args.cross_epochs, args.rerank, args.cross_eval = 60, 64, 1, 5, 16
        args.train, args.eval, args.epochs, args.repeats = 256, 64, 1, 2
        args.seeds, args.demo_steps, args.eval_every = [0], 20, 10
        args.work = str(Path(args.work) / "smoke")
    if args.part != "provenance":
        began, began_cpu = time.perf_counter(), time.process_time()
        commit, dirty = git_commit(), uncommitted()  # the code as it is when the run starts
        part = {"sentence": sentence_part, "distill": distill_part, "albert": albert_part}[args.part]
        result = part(args)
        record = {**envelope(args.part, argv, began, began_cpu, commit, dirty), **result}
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / f"{args.part}.json",
                          json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out / "PROVENANCE.md", provenance(out) + "\n")


if __name__ == "__main__":
    main()

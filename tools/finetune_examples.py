"""Small committed artefacts for chapter 10 from the fine-tuned MiniLM models (data/finetune/examples.json).

The chapter runs its heads live on the book's 2-layer checkpoint; a few of its questions need a real
pretrained encoder, whose fine-tuned models are too big to commit and too slow to train while the book
builds. ``tools/finetune_results.py --save-models ...`` keeps the first seed's model of MiniLM
(all-MiniLM-L6-v2) in ``RUNS/<task>-minilm-seed42/model``; this tool reads those models and writes what
the chapter plots, each section with its provenance (model folder, the run's settings and dev metrics):

* ``squad_spans``: per-token start/end probabilities and the predicted span of ~12 questions of SQuAD
  v1.1's scored split (the last quarter of the dev articles, never trained on; recipes.py);
* ``squad_v2_spans``: the v2.0 model on answerable and unanswerable questions: s_null, best span, decision;
* ``v1_on_unanswerable``: the v1.1 model on v2.0's scored questions (contexts it trained on left out):
  how often it answers, how sure it is, on answerable and on unanswerable questions;
* ``null_threshold``: the v2.0 model over v2.0's scored split: HasAns / NoAns / overall F1 as tau moves,
  and each question's s_null - best;
* ``lr_sweep``: MiniLM fine-tuned on 2,000 SST-2 sentences (batch 16, 2 epochs: 250 steps) at learning rates
  inside and far outside the paper's grid (A.3): the loss of every step and dev accuracy;
* ``sst2_sentences`` / ``ner_sentences``: the SST-2 and CoNLL-2003 models on the chapter's example sentences.

A section whose model is missing is left as it is in the existing file (or marked missing), so the tool can
run again as models appear. Run it at one thread (the numbers do not depend on it; the minutes do):

    OMP_NUM_THREADS=1 python tools/finetune_examples.py                      # everything there is
    OMP_NUM_THREADS=1 python tools/finetune_examples.py --sections lr_sweep  # one section
    python tools/finetune_examples.py --runs /tmp/runs --out /tmp/examples.json --lr-model data/pretrained/cpu-tiny \\
        --lr-train 64 --max-questions 40                                     # a rehearsal on tiny models
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bertedu._io import OneLineParser, atomic_write_text  # noqa: E402
from bertedu.finetuning.backbones import load_tokenizer  # noqa: E402
from bertedu.finetuning.features import encode_task  # noqa: E402
from bertedu.finetuning.loading import task_from_pretrained  # noqa: E402
from bertedu.finetuning.loop import FinetuneConfig  # noqa: E402
from bertedu.finetuning.metrics import squad_question_scores, squad_scores  # noqa: E402
from bertedu.finetuning.recipes import get_recipe, load_records  # noqa: E402
from bertedu.finetuning.run import run_task  # noqa: E402
from bertedu.finetuning.scoring import predict, squad_json  # noqa: E402
from bertedu.finetuning.squad import (best_spans, decode_predictions, final_answers,  # noqa: E402
                                     tune_null_threshold)
from bertedu.pretraining.report import git_commit  # noqa: E402

SECTIONS = ("squad_spans", "squad_v2_spans", "v1_on_unanswerable", "null_threshold", "lr_sweep",
            "sst2_sentences", "ner_sentences")
LRS = (1e-6, 2e-5, 5e-5, 1e-3, 1e-2)  # two far below/above the paper's 2e-5 .. 5e-5 (A.3)
# the sentences chapter 10's sentiment widget starts from (the chapter reads them from here)
SST2_SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the plot is nothing but boilerplate clichés from start to finish .",
    "it 's not a bad film , just a forgettable one .",
    "an utterly charming and hilarious film that reminded me why i love movies .",
    "i wanted to like it , but the acting is wooden and the jokes fall flat .",
    "not the best movie of the year , but far from the worst .",
]
# the sentences of the NER widget: one real CoNLL-2003 dev sentence is added by the tool (the first)
NER_SENTENCES = [
    "Angela Merkel met Emmanuel Macron in Paris on Monday .",
    "Apple opened a new office in Berlin , said Tim Cook .",
    "The United Nations sent aid to Kenya and Somalia .",
]
R = 4  # decimals kept for probabilities


def rounded(values: Any, digits: int = R) -> list[float]:
    return [round(float(v), digits) for v in values]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


# ------------------------------------------------------------------ models --------------------------------
def run_folder(runs: Path, task: str) -> Path:
    return runs / f"{task}-minilm-seed42"


def model_info(folder: Path) -> dict[str, Any]:
    """Provenance of a saved fine-tuned model: its folder, settings and dev metrics (the run's results.json)."""
    res = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    keep = ("lr", "batch_size", "epochs", "seed", "data_seed", "max_train_examples", "max_eval_examples")
    return {"model": str(folder / "model"), "task": res["task"], "backbone": res["model"],
            "settings": {k: res["config"].get(k) for k in keep}, "max_seq_length": res["max_seq_length"],
            "train_records": res["train_records"], "eval_records": res["eval_records"],
            "dev_metrics": {k: round(v, 4) for k, v in res["metrics"].items()}, "train_minutes": res["minutes"]}


def load_model(folder: Path, task: str) -> tuple[Any, Any, int]:
    """(fine-tuned head in eval mode, its tokenizer, the max_seq_length it was trained with)."""
    recipe = get_recipe(task)
    model, report = task_from_pretrained(folder / "model", recipe.head_class())
    if report.fresh:
        raise ValueError(f"{folder / 'model'}: keys {report.fresh} were not in the checkpoint; is it fine-tuned?")
    length = json.loads((folder / "results.json").read_text(encoding="utf-8"))["max_seq_length"]
    return model, load_tokenizer(folder / "model"), int(length)


def qa_outputs(model: Any, tokenizer: Any, task: str, records: list, length: int) -> tuple[Any, dict]:
    """(encoded TaskData, decoded QuestionPrediction per question id) of SQuAD records."""
    data = encode_task(task, records, tokenizer, length)
    outputs, _ = predict(model, data, batch_size=32, pad_token_id=tokenizer.pad_token_id, kind="qa")
    decoded = decode_predictions(data.meta, [o["start_logits"] for o in outputs],
                                 [o["end_logits"] for o in outputs])
    return (data, outputs), decoded


def scored_questions(task: str) -> list:
    return load_records(task, "eval")[0]  # the last quarter of the articles (recipes.py)


# ------------------------------------------------------------------ SQuAD sections ------------------------
def span_view(feature: Any, out: dict, pred: Any) -> dict[str, Any]:
    """One window: tokens, start/end probabilities (softmax over the window's positions, as the loss),
    the best span and s_null."""
    s, e = np.asarray(out["start_logits"], float), np.asarray(out["end_logits"], float)
    best = pred.nbest[0] if pred.nbest else None
    return {"tokens": feature.tokens, "token_type_ids": feature.token_type_ids,
            "start_probs": rounded(softmax(s)), "end_probs": rounded(softmax(e)),
            "pred_start": best.start if best else None, "pred_end": best.end if best else None,
            "pred_text": pred.text, "span_score": round(pred.score, 4), "null_score": round(float(s[0] + e[0]), 4),
            "gold_start": feature.start_position, "gold_end": feature.end_position}


def one_window(records: list, tokenizer: Any, length: int, max_pieces: int) -> list:
    """Questions whose passage fits one window and has at most ``max_pieces`` word pieces (readable)."""
    out = []
    for r in records:
        q = len(tokenizer.tokenize(r.question))
        p = len(tokenizer.tokenize(r.context))
        if p <= max_pieces and q + p + 3 <= length:
            out.append(r)
    return out


def section_squad_spans(runs: Path, n: int, version: str = "v1.1", unanswerable: int = 0) -> dict[str, Any]:
    task = f"squad-{version}"
    folder = run_folder(runs, task)
    model, tok, length = load_model(folder, task)
    pool = one_window(scored_questions(task), tok, length, max_pieces=min(130, length - 40))
    rng = random.Random(0)
    if unanswerable:
        has = [r for r in pool if not r.is_impossible]
        no = [r for r in pool if r.is_impossible]
        chosen = rng.sample(has, min(n - unanswerable, len(has))) + rng.sample(no, min(unanswerable, len(no)))
    else:
        chosen = rng.sample(pool, min(n, len(pool)))
    chosen.sort(key=lambda r: r.id)
    (data, outputs), decoded = qa_outputs(model, tok, task, chosen, length)
    gold = squad_json(chosen, version)
    per_q = squad_question_scores({q: p.text for q, p in decoded.items()}, gold)
    items = []
    for feature, out, rec in zip(data.meta, outputs, chosen):
        pred = decoded[rec.id]
        item = {"id": rec.id, "title": rec.title, "question": rec.question, "context": rec.context,
                "answers": sorted({a["text"] for a in rec.answers}), "is_impossible": bool(rec.is_impossible),
                **span_view(feature, out, pred), "exact": per_q[rec.id][0], "f1": round(per_q[rec.id][1], 2),
                "null_diff": round(pred.null_diff, 4)}
        items.append(item)
    return {"provenance": model_info(folder), "pool": len(pool),
            "how": f"{len(chosen)} questions drawn with random.Random(0) from the {len(pool)} scored questions "
                   f"whose passage fits one window", "questions": items}


def section_v1_on_unanswerable(runs: Path, limit: int | None) -> dict[str, Any]:
    """The v1.1 model on SQuAD v2.0's scored split, leaving out passages the v1.1 model trained on."""
    folder = run_folder(runs, "squad-v1.1")
    model, tok, length = load_model(folder, "squad-v1.1")
    seen = {r.context for r in load_records("squad-v1.1", "train")[0]}
    records = [r for r in scored_questions("squad-v2.0") if r.context not in seen]
    dropped = len(scored_questions("squad-v2.0")) - len(records)
    if limit is not None and limit < len(records):
        records = sorted(random.Random(0).sample(records, limit), key=lambda r: r.id)
    (data, outputs), decoded = qa_outputs(model, tok, "squad-v2.0", records, length)
    # the model's confidence in its answer: p_start * p_end of the best span, in the window it came from
    conf: dict[str, float] = {}
    for feature, out in zip(data.meta, outputs):
        pred = decoded[feature.qid]
        spans = best_spans(out["start_logits"], out["end_logits"], feature, n_best=1)
        if spans and abs(spans[0].score - pred.score) < 1e-6:
            s = softmax(np.asarray(out["start_logits"], float))
            e = softmax(np.asarray(out["end_logits"], float))
            conf[feature.qid] = float(s[spans[0].start] * e[spans[0].end])
    answers = final_answers(decoded)  # v1.1 decoding: the best span, never ""
    impossible = {r.id: bool(r.is_impossible) for r in records}
    no_ids = [q for q in answers if impossible[q]]
    has_ids = [q for q in answers if not impossible[q]]
    scores = squad_scores(answers, squad_json(records, "v2.0"))
    by_id = {r.id: r for r in records}
    confident = sorted(no_ids, key=lambda q: -conf.get(q, 0.0))[:6]
    examples = [{"id": q, "title": by_id[q].title, "question": by_id[q].question, "answer": answers[q],
                 "confidence": round(conf.get(q, 0.0), 4), "context": by_id[q].context} for q in confident]
    return {"provenance": model_info(folder),
            "how": f"v2.0 scored split ({len(records)} questions; {dropped} whose passage is in the v1.1 model's "
                   "training articles left out), decoded as v1.1 (best span, no null option)",
            "questions": len(records), "unanswerable": len(no_ids), "answerable": len(has_ids),
            "answered_unanswerable": sum(bool(answers[q]) for q in no_ids),
            "answered_answerable": sum(bool(answers[q]) for q in has_ids),
            "confidence_unanswerable": rounded([conf[q] for q in no_ids if q in conf], 5),
            "confidence_answerable": rounded([conf[q] for q in has_ids if q in conf], 5),
            "null_diff_unanswerable": rounded([decoded[q].null_diff for q in no_ids], 3),
            "null_diff_answerable": rounded([decoded[q].null_diff for q in has_ids], 3),
            "scores": {k: round(v, 2) for k, v in scores.items()}, "examples": examples}


def thin_curve(curve: list[dict], keep: int = 160) -> list[dict]:
    """At most ``keep`` points of the tau curve, evenly spaced in rank, always with the first, last and best."""
    if len(curve) <= keep:
        picked = list(range(len(curve)))
    else:
        picked = sorted({round(i * (len(curve) - 1) / (keep - 1)) for i in range(keep)}
                        | {max(range(len(curve)), key=lambda i: curve[i]["f1"])})
    return [{k: round(v, 3) for k, v in curve[i].items()} for i in picked]


def section_null_threshold(runs: Path, limit: int | None) -> dict[str, Any]:
    folder = run_folder(runs, "squad-v2.0")
    model, tok, length = load_model(folder, "squad-v2.0")
    records = scored_questions("squad-v2.0")
    if limit is not None and limit < len(records):
        records = sorted(random.Random(0).sample(records, limit), key=lambda r: r.id)
    _, decoded = qa_outputs(model, tok, "squad-v2.0", records, length)
    gold = squad_json(records, "v2.0")
    search = tune_null_threshold(decoded, gold)
    at_zero = squad_scores(final_answers(decoded, 0.0), gold)
    impossible = {r.id: bool(r.is_impossible) for r in records}
    return {"provenance": model_info(folder),
            "how": f"all {len(records)} questions of the v2.0 scored split; tau as in the released run_squad.py: "
                   "predict '' when s_null - best > tau",
            "questions": len(records), "unanswerable": sum(impossible.values()),
            "best_threshold": round(search.threshold, 4), "best_f1": round(search.f1, 2),
            "best_exact": round(search.exact, 2), "at_zero": {k: round(v, 2) for k, v in at_zero.items()},
            "curve": thin_curve(search.curve),
            "null_diff_answerable": rounded([p.null_diff for q, p in decoded.items() if not impossible[q]], 3),
            "null_diff_unanswerable": rounded([p.null_diff for q, p in decoded.items() if impossible[q]], 3)}


# ------------------------------------------------------------------ learning rates ------------------------
def section_lr_sweep(model: str, n_train: int, lrs: tuple[float, ...], epochs: int, batch_size: int,
                     threads: int, max_eval: int | None) -> dict[str, Any]:
    runs = []
    for lr in lrs:
        losses: list[float] = []
        config = FinetuneConfig(lr=lr, batch_size=batch_size, epochs=epochs, max_train_examples=n_train,
                                max_eval_examples=max_eval, threads=threads, seed=42)
        began = time.perf_counter()
        res = run_task("sst2", model, config, progress=False, save_model=False,
                       on_step=lambda step, m: losses.append(m["loss"]))
        runs.append({"lr": lr, "dev_accuracy": round(res["metrics"]["accuracy"], 4),
                     "dev_loss": round(res["metrics"]["loss"], 4), "step_loss": rounded(losses),
                     "steps": res["total_steps"], "minutes": round((time.perf_counter() - began) / 60, 2)})
        print(f"   lr {lr:g}: dev accuracy {runs[-1]['dev_accuracy']:.4f}", flush=True)
    return {"provenance": {"model": model, "task": "sst2", "train_records": n_train, "epochs": epochs,
                           "batch_size": batch_size, "seed": 42, "data_seed": 0, "eval_records": max_eval or "all dev",
                           "command": f"run_task('sst2', {model!r}, FinetuneConfig(lr=LR, "
                                      f"batch_size={batch_size}, epochs={epochs}, max_train_examples={n_train}, seed=42))"},
            "runs": runs}


# ------------------------------------------------------------------ example sentences ---------------------
@torch.no_grad()
def section_sst2_sentences(runs: Path) -> dict[str, Any]:
    folder = run_folder(runs, "sst2")
    model, tok, _ = load_model(folder, "sst2")
    labels = get_recipe("sst2").labels()
    items = []
    for text in SST2_SENTENCES:
        enc = tok.encode(text)
        logits = model(torch.tensor([enc["input_ids"]]), torch.tensor([enc["token_type_ids"]])).logits[0]
        items.append({"sentence": text, "probs": rounded(logits.softmax(-1).tolist())})
    return {"provenance": model_info(folder), "labels": labels, "sentences": items}


@torch.no_grad()
def section_ner_sentences(runs: Path) -> dict[str, Any]:
    from bertedu.datasets.tasks import read_conll2003
    from bertedu.finetuning.tagging import encode_words, word_predictions
    folder = run_folder(runs, "conll2003")
    model, tok, length = load_model(folder, "conll2003")
    labels = get_recipe("conll2003").labels()
    real = next(s for s in read_conll2003("dev") if 8 <= len(s.tokens) <= 16 and
                len({t[2:] for t in s.tags if t != "O"}) >= 2)
    items = []
    for words, gold in [(real.tokens, real.tags)] + [(s.split(), None) for s in NER_SENTENCES]:
        enc = encode_words(tok, words, length)
        logits = model(torch.tensor([enc.input_ids])).logits[0]
        pred = word_predictions(logits.argmax(-1).tolist(), enc.word_ids, enc.num_words, fill=0)
        items.append({"words": list(words), "pred": [labels[i] for i in pred], "gold": gold,
                      "pieces": enc.tokens})
    return {"provenance": model_info(folder), "labels": labels, "sentences": items}


# ------------------------------------------------------------------ main ----------------------------------
def main(argv: list[str] | None = None) -> None:
    p = OneLineParser(description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", default="runs/finetune-results", help="folders <task>-minilm-seed42/ with model/")
    p.add_argument("--out", default="data/finetune/examples.json")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    p.add_argument("--n-spans", type=int, default=12, help="questions in squad_spans")
    p.add_argument("--max-questions", type=int, default=None,
                   help="at most this many questions in the v2.0 sections (default: the whole scored split)")
    p.add_argument("--lr-model", default="minilm", help="backbone of the learning-rate sweep")
    p.add_argument("--lr-train", type=int, default=2000, help="SST-2 training sentences of the sweep")
    p.add_argument("--lr-epochs", type=int, default=2)
    p.add_argument("--lr-batch", type=int, default=16)
    p.add_argument("--lr-eval", type=int, default=None, help="SST-2 dev sentences (default: all 872)")
    p.add_argument("--lrs", type=float, nargs="+", default=list(LRS))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs, out = Path(args.runs), Path(args.out)
    doc = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    needs = {"squad_spans": ["squad-v1.1"], "squad_v2_spans": ["squad-v2.0"],
             "v1_on_unanswerable": ["squad-v1.1"], "null_threshold": ["squad-v2.0"], "lr_sweep": [],
             "sst2_sentences": ["sst2"], "ner_sentences": ["conll2003"]}
    build: dict[str, Callable[[], dict[str, Any]]] = {
        "squad_spans": lambda: section_squad_spans(runs, args.n_spans),
        "squad_v2_spans": lambda: section_squad_spans(runs, 8, "v2.0", unanswerable=4),
        "v1_on_unanswerable": lambda: section_v1_on_unanswerable(runs, args.max_questions),
        "null_threshold": lambda: section_null_threshold(runs, args.max_questions),
        "lr_sweep": lambda: section_lr_sweep(args.lr_model, args.lr_train, tuple(args.lrs), args.lr_epochs,
                                             args.lr_batch, args.threads, args.lr_eval),
        "sst2_sentences": lambda: section_sst2_sentences(runs),
        "ner_sentences": lambda: section_ner_sentences(runs)}
    sections = doc.get("sections", {})

    def write() -> None:
        doc = {"about": "chapter 10's artefacts from fine-tuned MiniLM models; made by tools/finetune_examples.py "
                        "(see its docstring); each section has its provenance",
               "sst2_widget_sentences": SST2_SENTENCES, "ner_widget_sentences": NER_SENTENCES,
               "sections": {k: sections[k] for k in SECTIONS if k in sections}}
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")

    for name in args.sections:
        missing = [t for t in needs[name] if not (run_folder(runs, t) / "model" / "config.json").is_file()]
        if missing:
            why = f"no fine-tuned model in {', '.join(str(run_folder(runs, t) / 'model') for t in missing)} yet"
            kept = "provenance" in sections.get(name, {})
            print(f"-- {name}: {why}; " + ("kept the existing section" if kept else "marked missing"), flush=True)
            if not kept:
                sections[name] = {"missing": why}
            write()
            continue
        print(f"== {name}", flush=True)
        began = time.perf_counter()
        section = build[name]()
        section["provenance"].update(minutes=round((time.perf_counter() - began) / 60, 2), commit=git_commit(),
                                     command="python tools/finetune_examples.py " + " ".join(
                                         argv if argv is not None else sys.argv[1:]), threads=args.threads,
                                     torch=torch.__version__)
        sections[name] = section
        write()
        print(f"   done in {section['provenance']['minutes']} min; {out} is {out.stat().st_size / 1e3:.0f} kB",
              flush=True)

if __name__ == "__main__":
    main()

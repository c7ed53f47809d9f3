"""Diagnose a `python -m bertedu.pretrain` run directory: curves at [MASK] targets, baselines, NSP by genre.

    python tools/analyse_pretraining.py RUN_DIR [--out FILE.json] [--every K] [--max-pairs N]

For every kept checkpoint (``RUN_DIR/checkpoints/step-*.pt``) and the untrained model it rebuilds the
run's own held-out set (same documents, vocabulary, seed and masks as the run's evaluations) and reports,
with bertedu.pretraining.diagnostics: accuracy and loss at [MASK] / kept / random targets, the in-domain
unigram (fitted on the *training* Wikipedia articles only) and its constant best guess, a one-neighbour
guess, the share of the most frequent answer, NSP accuracy on IsNext pairs, on NotNext pairs whose B is
another Wikipedia article, and on the same pairs with B from a book or a speech; and fill-mask answers for
a few fixed held-out sentences. Writes one JSON file (default RUN_DIR/diagnostics.json).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch

import bertedu
from bertedu.pretraining.diagnostics import (Neighbour, Unigram, mlm_predictions, mlm_report, nsp_accuracy,
                                             swap_partners, target_kinds)

PROBES = ["the river flows into the [MASK] near the town .",
          "he was born in 1950 and [MASK] in 2010 .",
          "the film was released in the united [MASK] in may .",
          "she played the [MASK] in the band ."]


def _documents(run: dict, drop_books: list[str] | None) -> tuple[list, list, list, list]:
    """Training, held-out, training-Wikipedia and other-genre documents of the run (``run.json``'s
    ``cli`` record when present; runs made before it was recorded used the defaults)."""
    cli = run.get("cli") or {}
    sources = cli.get("corpus", ["wikitext-valid", "wikitext-test", "gutenberg", "speeches"])
    holdout = cli.get("holdout", 5)
    drop = cli.get("drop_books", []) if drop_books is None else drop_books
    pd = bertedu.pretraining_documents
    train = pd(sources, holdout=holdout, part="train", drop_books=drop)
    held = pd(sources, holdout=holdout, part="heldout")
    wiki_train = pd([s for s in sources if s.startswith("wikitext")], holdout=holdout, part="train")
    other = pd([s for s in sources if not s.startswith("wikitext")], part="train", drop_books=drop) \
        if any(not s.startswith("wikitext") for s in sources) else []
    return train, held, wiki_train, other


def _ids(docs: list, tok: bertedu.BertTokenizer) -> list[list[int]]:
    return [tok.convert_tokens_to_ids([t for s in doc for t in tok.tokenize(s)]) for doc in docs]


def _fill_mask(model: torch.nn.Module, tok: bertedu.BertTokenizer) -> list[dict]:
    model.eval()
    rows = []
    with torch.no_grad():
        for text in PROBES:
            enc = tok.batch_encode([text], return_tensors="pt")
            logits = model(**enc).prediction_logits[0]
            pos = int((enc["input_ids"][0] == tok.mask_token_id).nonzero()[0])
            top = logits[pos].topk(3).indices.tolist()
            rows.append({"text": text, "top3": tok.convert_ids_to_tokens(top)})
    return rows


def analyse(run_dir: Path, every: int = 1, max_pairs: int | None = None,
            drop_books: list[str] | None = None, steps: list[int] | None = None) -> dict:
    from bertedu import PretrainConfig, prepare_dataset

    run = json.loads((run_dir / "run.json").read_text())
    config = PretrainConfig.from_dict(run["config"])
    vocab = run_dir / "vocab.txt"
    tok = bertedu.BertTokenizer.from_vocab_file(vocab if vocab.is_file() else run_dir / "final" / "vocab.txt")
    train_docs, held_docs, wiki_train, other = _documents(run, drop_books)
    eval_set = prepare_dataset(held_docs, tok, config, seed=config.seed + 7, masking="static", dupe_factor=1)
    n = len(eval_set) if max_pairs is None else min(max_pairs, len(eval_set))
    batches = [eval_set.batch(torch.arange(s, min(s + 64, n))) for s in range(0, n, 64)]
    labels = torch.cat([b["labels"][b["labels"] != -100] for b in batches])
    kinds = torch.cat([target_kinds(b["input_ids"], b["labels"], tok.mask_token_id) for b in batches])
    wiki_ids = _ids(wiki_train, tok)
    unigram = Unigram.fit(wiki_ids, len(tok.vocab), exclude=tok.all_special_ids)
    neighbour = Neighbour.fit(wiki_ids, unigram.best_guess)
    base = _neighbour_scores(batches, neighbour, labels, kinds)
    nsp_sets = _nsp_sets(held_docs, other, tok, config, n)
    ckpts = sorted((run_dir / "checkpoints").glob("step-*.pt"))[::-1][::every][::-1]
    todo = [None, *ckpts]
    if steps is not None:
        todo = [p for p in todo if (0 if p is None else int(p.stem.split("-")[1])) in steps]
    rows = []
    for path in todo:
        model = _load(run_dir, path, tok, config)
        preds, losses = mlm_predictions(model, batches)
        row = {"step": 0 if path is None else int(path.stem.split("-")[1]),
               "mlm": mlm_report(preds, losses, labels, kinds, unigram),
               "nsp": {k: nsp_accuracy(model, v) for k, v in nsp_sets.items()},
               "fill_mask": _fill_mask(model, tok)}
        row["mlm"]["mask"]["top_answer"] = tok.convert_ids_to_tokens([row["mlm"]["mask"]["top_answer_id"]])[0]
        rows.append(row)
        print(f"step {row['step']:>6}: [MASK] acc {row['mlm']['mask']['accuracy']:.4f} "
              f"({row['mlm']['mask']['ratio']:.2f}x), top answer share {row['mlm']['mask']['top_answer_share']:.2f}, "
              f"NSP {row['nsp']}", flush=True)
    return {"run_dir": str(run_dir), "heldout_pairs": n, "mask_targets": int((kinds == 0).sum()),
            "best_context_free_guess": tok.convert_ids_to_tokens([unigram.best_guess])[0],
            "baselines": base, "checkpoints": rows}


def _neighbour_scores(batches: list, neighbour: Neighbour, labels: torch.Tensor, kinds: torch.Tensor) -> dict:
    out = {}
    for side in ("left", "right"):
        guesses = []
        for b in batches:
            clean = b["input_ids"].clone()
            chosen = b["labels"] != -100
            clean[chosen] = b["labels"][chosen]
            guesses.append(neighbour.guess(clean, chosen.nonzero(), side))
        g = torch.cat(guesses)
        out[f"{side}_neighbour_accuracy_at_mask"] = float((g[kinds == 0] == labels[kinds == 0]).double().mean())
    return out


def _nsp_sets(held_docs: list, other: list, tok: bertedu.BertTokenizer, config, n: int) -> dict:
    rng = random.Random(config.seed + 11)
    inst = bertedu.create_pretraining_examples(held_docs, tok, max_seq_length=config.max_seq_length, rng=rng)[:n]
    sets = {"is_next": [i for i in inst if not i.is_random_next],
            "not_next_same_genre": [i for i in inst if i.is_random_next]}
    if other:
        pieces = [[tok.tokenize(s) for s in doc] for doc in other[::max(1, len(other) // 200)]]
        sets["not_next_other_genre"] = swap_partners(inst, pieces, rng)
    return {k: bertedu.collate_instances(v, tok, config.max_seq_length) for k, v in sets.items() if v}


def _load(run_dir: Path, path: Path | None, tok, config) -> torch.nn.Module:
    from bertedu import build_model

    model = build_model(config, len(tok.vocab))
    if path is not None:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    return model


def export(run_dir: Path, step: int, dest: Path) -> Path:
    """Write the checkpoint of ``step`` as a loadable folder (config.json, model.safetensors, vocab.txt) with
    the run's ``run.json`` and its ``metrics.jsonl`` up to that step."""
    from bertedu import PretrainConfig, read_metrics, save_pretrained

    path = run_dir / "checkpoints" / f"step-{step:07d}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pick a kept step of {run_dir}/checkpoints")
    run = json.loads((run_dir / "run.json").read_text())
    tok = bertedu.BertTokenizer.from_vocab_file(run_dir / "vocab.txt")
    model = _load(run_dir, path, tok, PretrainConfig.from_dict(run["config"]))
    save_pretrained(model, dest, tok)
    kept = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["step"] <= step]
    (dest / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    (dest / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    return dest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path, help="a python -m bertedu.pretrain --out directory")
    p.add_argument("--out", type=Path, default=None, help="JSON file to write (default RUN_DIR/diagnostics.json)")
    p.add_argument("--every", type=int, default=1, help="analyse every k-th kept checkpoint (the last always)")
    p.add_argument("--max-pairs", type=int, default=None, help="use only the first N held-out pairs")
    p.add_argument("--drop-books", nargs="*", default=None,
                   help="the run's --drop-books, if run.json does not record its command line")
    p.add_argument("--steps", type=int, nargs="*", default=None, help="analyse only these steps (0 = untrained)")
    p.add_argument("--export", nargs=2, metavar=("STEP", "DEST"), default=None,
                   help="also write checkpoint STEP as a loadable folder DEST (with run.json, metrics.jsonl)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    if not (args.run_dir / "run.json").is_file():
        sys.exit(f"error: run_dir {args.run_dir} has no run.json: pass a python -m bertedu.pretrain --out directory")
    torch.set_num_threads(args.threads)
    if args.export:
        dest = export(args.run_dir, int(args.export[0]), Path(args.export[1]))
        print(f"exported step {args.export[0]} to {dest}")
    result = analyse(args.run_dir, args.every, args.max_pairs, args.drop_books, args.steps)
    out = args.out or args.run_dir / "diagnostics.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

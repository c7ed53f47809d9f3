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

import json
import random
import sys
from pathlib import Path

import torch

import bertedu
from bertedu.pretraining.diagnostics import (Neighbour, Unigram, mlm_predictions, mlm_report, nsp_accuracy,
                                             swap_partners, target_kinds)
from bertedu._io import OneLineParser

PROBES = ["the river flows into the [MASK] near the town .",
          "he was born in 1950 and [MASK] in 2010 .",
          "the film was released in the united [MASK] in may .",
          "she played the [MASK] in the band ."]


def _documents(run: dict, drop_books: list[str] | None) -> tuple[list, list, list, list]:
    """Training, held-out, training-Wikipedia and other-genre documents of the run (the ``corpus``,
    ``holdout`` and ``drop_books`` that ``run.json`` records; runs made before they were recorded used the
    defaults)."""
    cli = run.get("cli") or run
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
    from bertedu import PretrainConfig
    from bertedu.pretraining.report import rebuild_heldout

    run = json.loads((run_dir / "run.json").read_text())
    config = PretrainConfig.from_dict(run["config"])
    vocab = run_dir / "vocab.txt"
    tok = bertedu.BertTokenizer.from_vocab_file(vocab if vocab.is_file() else run_dir / "final" / "vocab.txt")
    train_docs, held_docs, wiki_train, other = _documents(run, drop_books)
    # the CLI's held-out set (always 80/10/10, whatever mixture the run trained with), checked against its count
    eval_set = rebuild_heldout(run_dir, run, tok, run.get("holdout", 5))
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


def provenance(diag: dict, run: dict, *, command: str, commit: str, minutes: float, note: str = "") -> str:
    """PROVENANCE.md for an exported checkpoint, every number read from ``diag`` (this tool's JSON)."""
    rows = diag["checkpoints"]
    last = rows[-1]
    m = last["mlm"]["mask"]
    cfg = run["config"]
    lines = [
        f"# Provenance of `cpu-tiny` (step {last['step']:,})", "",
        "A 2-layer, H=128, A=2 BERT (the \"tiny\" preset) pre-trained with masked LM + next sentence prediction "
        "on a CPU by the project's own code (`python -m bertedu.pretrain`).", "",
        "## How it was made",
        f"- Command: `{command}`",
        f"- Code: bertedu at commit `{commit}` (the commit the run started from).",
        f"- Training time: {minutes:.0f} minutes on 1 torch thread of a 2-core machine shared with other jobs. {note}",
        f"- Recipe: {cfg['batch_size']} x {cfg['max_seq_length']}-token pairs a step, AdamW lr {cfg['lr']} "
        f"(warmup {cfg['warmup_steps']} steps, linear decay to 0 at step {cfg['total_steps']:,}), weight decay "
        f"{cfg['weight_decay']}, clipping {cfg['max_grad_norm']}, dropout {cfg.get('dropout')}, "
        f"{cfg['masking']} masking (15%, 80/10/10), NSP pairs drawn {cfg['dupe_factor']} ways (fresh cut points "
        f"and NotNext partners), masked-only MLM logits, seed {cfg['seed']}.",
        f"- Corpus: WikiText-2 raw valid + test (every 5th article held out, by whole article), 14 Project "
        f"Gutenberg books (the King James Bible left out: its 1,189 chapters would be half of all documents and of "
        f"all NotNext partners) and 126 US presidential speeches: {run['train_documents']:,} training documents, "
        f"{run['train_examples']:,} pairs. No SQuAD context is in it. Vocabulary: 8,000 WordPiece tokens "
        f"trained on the training documents (`vocab.txt`).", "",
        "## Does it use the context? Held-out Wikipedia, `[MASK]` targets only",
        f"{diag['mask_targets']:,} `[MASK]` targets in {diag['heldout_pairs']:,} held-out pairs (masks fixed "
        "once). The best context-free guess is the in-domain unigram's, fitted on the *training* Wikipedia "
        f"articles: always answer `{diag['best_context_free_guess']}`.", "",
        "| step | accuracy at [MASK] | x best context-free guess | loss | share of its top answer | distinct answers |",
        "|---|---|---|---|---|---|"]
    for r in rows:
        k = r["mlm"]["mask"]
        lines.append(f"| {r['step']:,} | {k['accuracy']:.1%} | {k['ratio']:.2f}x | {k['loss']:.3f} | "
                     f"{k['top_answer_share']:.0%} (`{k['top_answer']}`) | {k['distinct_answers']:,} |")
    b = diag["baselines"]
    lines += ["", f"- Always `{diag['best_context_free_guess']}`: {m['unigram_accuracy']:.1%}, unigram loss "
              f"{m['unigram_loss']:.3f}. **Final: {m['accuracy']:.1%} = {m['ratio']:.2f}x.**",
              f"- A one-neighbour (bigram) guess from the training Wikipedia, reading the *uncorrupted* neighbour "
              f"(which flatters it): left {b['left_neighbour_accuracy_at_mask']:.1%}, right "
              f"{b['right_neighbour_accuracy_at_mask']:.1%}.",
              f"- All targets: accuracy {last['mlm']['all']['accuracy']:.1%}; kept targets (the answer is in the "
              f"input): {last['mlm']['kept']['accuracy']:.1%}; random-word targets: "
              f"{last['mlm']['random']['accuracy']:.1%}.", "",
              "## NSP, split by where B came from", "", "| step | IsNext | NotNext, B from Wikipedia | "
              "NotNext, B from a book or speech |", "|---|---|---|---|"]
    for r in rows:
        n = r["nsp"]
        lines.append(f"| {r['step']:,} | {n['is_next']:.1%} | {n['not_next_same_genre']:.1%} | "
                     f"{n.get('not_next_other_genre', float('nan')):.1%} |")
    lines += ["", "NotNext is spotted when B changes genre, and mostly missed when B is another Wikipedia "
              "article: the NSP head reads genre more than coherence (RoBERTa, Liu et al. 2019; ALBERT, Lan et "
              "al. 2019).", "", "## Fill-mask at a few steps", ""]
    for r in [rows[i] for i in sorted({0, len(rows) // 3, 2 * len(rows) // 3, len(rows) - 1})]:
        lines.append(f"- step {r['step']:,}: " + "; ".join(f"{f['text']} -> {', '.join(f['top3'])}"
                                                      for f in r["fill_mask"][:3]))
    lines += ["", "## Files", "- `model.safetensors`, `config.json`, `vocab.txt`: `BertForPreTraining` in the "
              "reference key format (`bertedu.from_pretrained` and `transformers` load it).",
              "- `metrics.jsonl` (the run's log up to this step), `run.json` (settings, data counts), "
              "`diagnostics.json` (everything above, per checkpoint; made by `tools/analyse_pretraining.py`)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = OneLineParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path, help="a python -m bertedu.pretrain --out directory")
    p.add_argument("--out", type=Path, default=None, help="JSON file to write (default RUN_DIR/diagnostics.json)")
    p.add_argument("--every", type=int, default=1, help="analyse every k-th kept checkpoint (the last always)")
    p.add_argument("--max-pairs", type=int, default=None, help="use only the first N held-out pairs")
    p.add_argument("--drop-books", nargs="*", default=None,
                   help="the run's --drop-books, if run.json does not record its command line")
    p.add_argument("--steps", type=int, nargs="*", default=None, help="analyse only these steps (0 = untrained)")
    p.add_argument("--export", nargs=2, metavar=("STEP", "DEST"), default=None,
                   help="also write checkpoint STEP as a loadable folder DEST (with run.json, metrics.jsonl)")
    p.add_argument("--provenance", action="store_true",
                   help="also write PROVENANCE.md into the --export folder (needs --command, --commit, --minutes)")
    p.add_argument("--command", default="", help="the command that trained the run (recorded as given)")
    p.add_argument("--commit", default="", help="the commit the run started from")
    p.add_argument("--minutes", type=float, default=0.0, help="training minutes")
    p.add_argument("--note", default="", help="a sentence added to the provenance (e.g. why the run stopped)")
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
    if args.provenance:
        if not (args.export and args.command and args.commit):
            p.error("--provenance needs --export, --command and --commit")
        run = json.loads((args.run_dir / "run.json").read_text())
        text = provenance(result, run, command=args.command, commit=args.commit, minutes=args.minutes,
                          note=args.note)
        (Path(args.export[1]) / "PROVENANCE.md").write_text(text)
        print(f"wrote {Path(args.export[1]) / 'PROVENANCE.md'}")


if __name__ == "__main__":
    main()

"""``python -m bertedu.pretrain``: corpus -> WordPiece vocabulary -> data sets -> :func:`bertedu.train`.

The flags map one to one onto :class:`bertedu.PretrainConfig`; ``--resume`` continues a run from its last
checkpoint (with the same flags).  Under ``torchrun`` every process runs this and rank 0 writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from bertedu.datasets.corpora import pretraining_documents
from bertedu.model.checkpoint import save_pretrained
from bertedu.pretraining.data import prepare_dataset
from bertedu.pretraining.distributed import init_distributed
from bertedu.pretraining.loop import build_model, train
from bertedu.pretraining.recipe import PretrainConfig, frequency_baseline
from bertedu.text.tokenizer import BertTokenizer
from bertedu.text.wordpiece import train_wordpiece


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``python -m bertedu.pretrain`` (a resumed run must be given the same ones)."""
    p = argparse.ArgumentParser(prog="python -m bertedu.pretrain",
                                description="Pre-train a small BERT with MLM + NSP (paper Sec. 3.1, A.2). "
                                            "Works under torchrun (DDP) too.")
    d = PretrainConfig()
    p.add_argument("--out", required=True, help="run directory (metrics.jsonl, checkpoints/, final/)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/latest.json")
    p.add_argument("--corpus", nargs="+", default=["wikitext-valid", "wikitext-test", "gutenberg", "speeches"],
                   choices=["wikitext-valid", "wikitext-test", "gutenberg", "speeches"])
    p.add_argument("--holdout", type=int, default=5, help="hold out every k-th WikiText article for evaluation")
    p.add_argument("--max-documents", type=int, default=None, help="use an evenly spaced subset (quick runs)")
    p.add_argument("--vocab", default=None, help="vocab.txt to use; default: train one (bertedu.train_wordpiece)")
    p.add_argument("--vocab-size", type=int, default=8000, help="size of the vocabulary to train")
    p.add_argument("--preset", default=d.preset, choices=["tiny", "mini", "small", "medium", "base", "large"])
    p.add_argument("--steps", type=int, default=d.total_steps)
    p.add_argument("--warmup", type=int, default=None, help="warmup steps (default: 1%% of --steps, as the paper)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--grad-accum", type=int, default=d.grad_accum_steps)
    p.add_argument("--seq-len", type=int, default=d.max_seq_length)
    p.add_argument("--max-predictions", type=int, default=d.max_predictions_per_seq)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--masking", choices=["static", "dynamic"], default=d.masking)
    p.add_argument("--dupe-factor", type=int, default=d.dupe_factor)
    p.add_argument("--whole-word", action="store_true")
    p.add_argument("--no-nsp", action="store_true", help="MLM loss only (the Table 5 'No NSP' ablation)")
    p.add_argument("--full-logits", action="store_true", help="vocabulary logits at every position (slower)")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=d.dtype)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this many minutes of training (a checkpoint is saved; --resume continues)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dropout", type=float, default=None, help="hidden and attention dropout (default: 0.1, A.2)")
    p.add_argument("--drop-books", nargs="*", default=[], help="Gutenberg books to leave out, e.g. bible-kjv")
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints, help="resumable checkpoints kept")
    return p


def _tokenizer(args: argparse.Namespace, train_docs: list[list[str]], out: Path, is_main: bool) -> Any:
    saved = out / "vocab.txt"
    if args.vocab:
        return BertTokenizer.from_vocab_file(args.vocab)
    if args.resume and saved.is_file():  # the resumed run must use the very same vocabulary
        return BertTokenizer.from_vocab_file(saved)
    tokens = train_wordpiece((s for doc in train_docs for s in doc), args.vocab_size)
    tokenizer = BertTokenizer.from_tokens(tokens)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        tokenizer.save_vocabulary(saved)
    return tokenizer


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """``python -m bertedu.pretrain``: corpus -> vocabulary -> data sets -> :func:`train` -> ``OUT/final``."""
    args = build_parser().parse_args(argv)
    config = PretrainConfig(
        preset=args.preset, max_seq_length=args.seq_len, batch_size=args.batch_size, grad_accum_steps=args.grad_accum,
        total_steps=args.steps, warmup_steps=max(1, args.steps // 100) if args.warmup is None else args.warmup,
        lr=args.lr, max_predictions_per_seq=args.max_predictions, nsp=not args.no_nsp, masking=args.masking,
        dupe_factor=args.dupe_factor, whole_word=args.whole_word, masked_only=not args.full_logits,
        eval_every=args.eval_every, save_every=args.save_every, log_every=args.log_every, seed=args.seed,
        device=args.device, dtype=args.dtype, num_threads=args.threads, max_minutes=args.max_minutes,
        dropout=args.dropout, keep_checkpoints=args.keep_checkpoints)
    dist = init_distributed(config.device)
    out = Path(args.out)
    sources = tuple(args.corpus)
    train_docs = pretraining_documents(sources, holdout=args.holdout, part="train", drop_books=args.drop_books)
    held_docs = (pretraining_documents(sources, holdout=args.holdout, part="heldout")
                 if args.holdout and any(s.startswith("wikitext") for s in sources) else [])
    if args.max_documents and len(train_docs) > args.max_documents:
        stride = len(train_docs) / args.max_documents
        train_docs = [train_docs[int(i * stride)] for i in range(args.max_documents)]
    tokenizer = _tokenizer(args, train_docs, out, dist.is_main)
    train_set = prepare_dataset(train_docs, tokenizer, config)
    eval_set = (prepare_dataset(held_docs, tokenizer, config, seed=config.seed + 7, masking="static", dupe_factor=1)
                if len(held_docs) >= 2 else None)
    if dist.is_main:
        summary = {"config": config.to_dict(), "argv": list(argv) if argv is not None else sys.argv[1:],
                   "corpus": list(sources), "holdout": args.holdout, "drop_books": list(args.drop_books),
                   "train_documents": len(train_docs), "train_examples": len(train_set),
                   "heldout_documents": len(held_docs), "heldout_examples": len(eval_set) if eval_set else 0,
                   "vocab_size": len(tokenizer.vocab), "world_size": dist.world_size,
                   "frequency_baseline": frequency_baseline(train_set, eval_set) if eval_set else None}
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    model = build_model(config, len(tokenizer.vocab))
    history = train(config, train_set, eval_set, model=model, out_dir=out, resume=args.resume,
                    progress=not args.no_progress)
    if dist.is_main:
        save_pretrained(model, out / "final", tokenizer)
    return history

"""``python -m bertedu.pretrain``: corpus -> WordPiece vocabulary -> data sets -> :func:`bertedu.train`.

The flags map one to one onto :class:`bertedu.PretrainConfig`; ``--resume`` continues a run from its last
checkpoint (with the same flags).  Under ``torchrun`` every process runs this and rank 0 writes.

The ablations of the paper's Sec. 5 and Appendix C are flags too: ``--no-nsp`` (Table 5 "No NSP": no NSP loss
and no NSP head), ``--objective ltr --no-nsp`` (Table 5 "LTR & No NSP"), ``--mask-mix 80,10,10`` (Table 8's
MASK/SAME/RND), ``--preset L4-H128-A2`` (Table 6's sizes) and ``--steps`` with ``--export-steps`` (Figure 5:
the weights at chosen steps, in ``OUT/exports/step-XXXXXXX``, loadable like ``OUT/final``).  The held-out set
is always masked 80/10/10, so held-out numbers of different mixtures compare on the same inputs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from bertedu._io import OneLineParser
from bertedu.datasets.corpora import pretraining_documents
from bertedu.model.checkpoint import save_pretrained
from bertedu.pretraining.data import prepare_dataset
from bertedu.pretraining.distributed import init_distributed
from bertedu.pretraining.loop import build_model, train
from bertedu.pretraining.recipe import PretrainConfig, frequency_baseline, heldout_config
from bertedu.pretraining.state import latest_checkpoint
from bertedu.text.tokenizer import BertTokenizer
from bertedu.text.wordpiece import train_wordpiece


def parse_mask_mix(text: str) -> tuple[float, float, float]:
    """``"80,10,10"`` (MASK, SAME, RND percentages, Table 8) -> ``(0.8, 0.1, 0.1)``."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) < 0 or abs(sum(parts) - 100) > 1e-6:
        raise argparse.ArgumentTypeError(f"expected MASK,SAME,RND percentages summing to 100 (e.g. 80,10,10), "
                                         f"got {text!r}")
    return parts[0] / 100, parts[1] / 100, parts[2] / 100


def parse_preset(text: str) -> str:
    """A preset name (tiny ... large) or a size ``L<layers>-H<hidden>-A<heads>`` whose H divides by A."""
    from bertedu.config import PRESETS, parse_size

    size = parse_size(text)
    if size is None or size[1] % size[2]:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a preset ({', '.join(PRESETS)}) nor a size "
                                         f"L<layers>-H<hidden>-A<heads> with hidden divisible by heads")
    return text.lower() if text.lower() in PRESETS else text


def export_dir(out: str | Path, step: int) -> Path:
    """Where ``--export-steps`` puts the weights of ``step``: ``OUT/exports/step-XXXXXXX``."""
    return Path(out) / "exports" / f"step-{step:07d}"


def exported(directory: Path) -> bool:
    return all((directory / name).is_file() for name in ("config.json", "model.safetensors", "vocab.txt"))


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``python -m bertedu.pretrain`` (a resumed run must be given the same ones)."""
    p = OneLineParser(prog="python -m bertedu.pretrain", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                      description="Pre-train a small BERT with MLM + NSP (paper Sec. 3.1, A.2). "
                                  "Works under torchrun (DDP) too.")
    d = PretrainConfig()
    p.add_argument("--out", required=True, help="run directory (metrics.jsonl, checkpoints/, final/)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/latest.json")
    p.add_argument("--corpus", nargs="+", default=["wikitext-valid", "wikitext-test", "gutenberg", "speeches"],
                   choices=["wikitext-valid", "wikitext-test", "gutenberg", "speeches"],
                   help="text sources from $BERTEDU_DATA (WikiText-2 articles, Gutenberg books, speeches)")
    p.add_argument("--holdout", type=int, default=5, help="hold out every k-th WikiText article for evaluation")
    p.add_argument("--max-documents", type=int, default=None, help="use an evenly spaced subset (quick runs)")
    p.add_argument("--vocab", default=None, help="vocab.txt to use; default: train one (bertedu.train_wordpiece)")
    p.add_argument("--vocab-size", type=int, default=8000, help="size of the vocabulary to train")
    p.add_argument("--preset", default=d.preset, type=parse_preset,
                   help="tiny, mini, small, medium, base, large, or a size L<layers>-H<hidden>-A<heads> (Table 6)")
    p.add_argument("--steps", type=int, default=d.total_steps, help="optimizer steps in all")
    p.add_argument("--warmup", type=int, default=None, help="warmup steps; None: 1%% of --steps, as the paper")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per step (paper: 256)")
    p.add_argument("--grad-accum", type=int, default=d.grad_accum_steps,
                   help="micro-batches accumulated per step (the batch is split into this many)")
    p.add_argument("--seq-len", type=int, default=d.max_seq_length,
                   help="tokens per sequence, [CLS] A [SEP] B [SEP] (paper: 128, then 512)")
    p.add_argument("--max-predictions", type=int, default=d.max_predictions_per_seq,
                   help="at most this many MLM targets per sequence (about 15%% of --seq-len)")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (Adam, warmup then linear decay)")
    p.add_argument("--masking", choices=["static", "dynamic"], default=d.masking,
                   help="static: masks drawn once per duplicate (the paper); dynamic: fresh masks every epoch")
    p.add_argument("--dupe-factor", type=int, default=d.dupe_factor,
                   help="copies of the corpus, each with its own pairs and static masks")
    p.add_argument("--whole-word", action="store_true", help="mask all pieces of a word together")
    p.add_argument("--no-nsp", action="store_true",
                   help="no NSP loss and no NSP head (the Table 5 'No NSP' ablation)")
    p.add_argument("--objective", choices=["mlm", "ltr"], default=d.objective,
                   help="ltr = left-to-right LM: causal attention, next-token targets (Table 5; needs --no-nsp)")
    p.add_argument("--mask-mix", type=parse_mask_mix, default=d.mask_mix, metavar="MASK,SAME,RND",
                   help="percentages of the MLM targets replaced by [MASK], kept, randomised (Table 8; 80,10,10)")
    p.add_argument("--export-steps", type=int, nargs="+", default=[], metavar="STEP",
                   help="also save the weights at these steps in OUT/exports/step-XXXXXXX (Figure 5)")
    p.add_argument("--full-logits", action="store_true", help="vocabulary logits at every position (slower)")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between held-out evaluations")
    p.add_argument("--eval-max-batches", type=int, default=d.eval_max_batches,
                   help="evaluate on the first N held-out batches only; None: all")
    p.add_argument("--save-every", type=int, default=d.save_every, help="steps between resumable checkpoints")
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps per metrics.jsonl record")
    p.add_argument("--seed", type=int, default=d.seed, help="pairs, masks, initialisation and batch order")
    p.add_argument("--device", default=d.device, help="torch device: cpu, cuda, cuda:1, ...")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=d.dtype,
                   help="bfloat16: autocast the forward pass (GPUs with bf16)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this many minutes of training (a checkpoint is saved; --resume continues)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet", action="store_true", help="no narration (data, vocabulary, data sets, where it went)")
    p.add_argument("--dropout", type=float, default=None, help="hidden and attention dropout; None: 0.1, as A.2")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_flags(parser, args)
    config = _config(parser, args)
    dist = init_distributed(config.device)
    out = Path(args.out)
    sources = tuple(args.corpus)
    say = print if dist.is_main and not args.quiet else (lambda *_, **__: None)
    say(f"data: reading {', '.join(sources)} from the data folder ...", flush=True)
    train_docs = pretraining_documents(sources, holdout=args.holdout, part="train", drop_books=args.drop_books)
    held_docs = (pretraining_documents(sources, holdout=args.holdout, part="heldout")
                 if args.holdout and any(s.startswith("wikitext") for s in sources) else [])
    if args.max_documents and len(train_docs) > args.max_documents:
        stride = len(train_docs) / args.max_documents
        train_docs = [train_docs[int(i * stride)] for i in range(args.max_documents)]
    sentences = sum(len(doc) for doc in train_docs)
    say(f"data: {len(train_docs):,} training documents ({sentences:,} sentences), {len(held_docs):,} held out"
        + (f" (every {args.holdout}th WikiText article)" if held_docs else ""), flush=True)
    if not args.vocab and not (args.resume and (out / "vocab.txt").is_file()):
        say(f"vocabulary: training {args.vocab_size:,} WordPiece entries on the training documents ...", flush=True)
    try:
        tokenizer = _tokenizer(args, train_docs, out, dist.is_main)
    except ValueError as err:  # e.g. a vocabulary smaller than the corpus's alphabet
        parser.error(f"argument --vocab-size/--vocab: {err}")
    say(f"vocabulary: {len(tokenizer.vocab):,} entries ({args.vocab or out / 'vocab.txt'})", flush=True)
    say(f"data sets: building sentence pairs ({'NSP 50/50' if config.nsp else 'no NSP'}) and "
        f"{config.masking} masks, {config.max_seq_length} tokens each ...", flush=True)
    train_set = prepare_dataset(train_docs, tokenizer, config)
    # one held-out set for every mixture: always masked 80/10/10
    eval_set = (prepare_dataset(held_docs, tokenizer, heldout_config(config), seed=config.seed + 7, masking="static",
                                dupe_factor=1) if len(held_docs) >= 2 else None)
    if dist.is_main:
        summary = {"config": config.to_dict(), "argv": list(argv) if argv is not None else sys.argv[1:],
                   "corpus": list(sources), "holdout": args.holdout, "drop_books": list(args.drop_books),
                   "train_documents": len(train_docs), "train_examples": len(train_set),
                   "heldout_documents": len(held_docs), "heldout_examples": len(eval_set) if eval_set else 0,
                   "vocab_size": len(tokenizer.vocab), "world_size": dist.world_size,
                   "frequency_baseline": frequency_baseline(train_set, eval_set) if eval_set else None}
        if args.export_steps:
            summary["export_steps"] = sorted(set(args.export_steps))
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    say(f"data sets: {len(train_set):,} training sequences, {len(eval_set) if eval_set else 0:,} held out; "
        f"{config.total_steps:,} steps of {config.batch_size} sequences = "
        f"{config.total_steps * config.batch_size / max(1, len(train_set)):.3g} passes", flush=True)
    model = build_model(config, len(tokenizer.vocab))
    say(f"model: {config.preset}, {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"{'resuming' if args.resume else 'training'} on {config.device} (log: {out / 'metrics.jsonl'})", flush=True)
    export = _exporter(args, config, model, tokenizer, out, dist.is_main)
    history = train(config, train_set, eval_set, model=model, out_dir=out, resume=args.resume,
                    progress=not args.no_progress, on_step=export)
    if dist.is_main:
        save_pretrained(model, out / "final", tokenizer)
        say(f"saved: the model in {out / 'final'} (config.json, model.safetensors, vocab.txt: load it with "
            f"bertedu.from_pretrained({str(out / 'final')!r})); metrics in {out / 'metrics.jsonl'}")
    return history


def _check_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.objective == "ltr" and not args.no_nsp:
        parser.error("argument --objective: ltr needs --no-nsp (under causal attention [CLS] sees only itself, "
                     "so there is no NSP to learn; the paper's row is 'LTR & No NSP')")
    late = [s for s in args.export_steps if not 1 <= s <= args.steps]
    if late:
        parser.error(f"argument --export-steps: steps must lie in [1, --steps={args.steps}], got {late}")


def _exporter(args: argparse.Namespace, config: PretrainConfig, model: torch.nn.Module, tokenizer: Any, out: Path,
              is_main: bool) -> Callable[[int, dict[str, float]], None] | None:
    """The ``on_step`` that saves the weights at ``--export-steps`` (and, on ``--resume``, the one export a
    kill between a checkpoint and its export can have missed: the checkpoint's own step)."""
    steps = set(args.export_steps)
    if not steps or not is_main:
        return None
    ckpt = latest_checkpoint(out) if args.resume else None
    if ckpt is not None:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if state["step"] in steps and not exported(export_dir(out, state["step"])):
            saved = build_model(config, len(tokenizer.vocab))
            saved.load_state_dict(state["model"])
            save_pretrained(saved, export_dir(out, state["step"]), tokenizer)

    def export(step: int, _metrics: dict[str, float]) -> None:
        if step in steps:
            save_pretrained(model, export_dir(out, step), tokenizer)
    return export


def _config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> PretrainConfig:
    try:
        return PretrainConfig(
            preset=args.preset, max_seq_length=args.seq_len, batch_size=args.batch_size,
            grad_accum_steps=args.grad_accum, total_steps=args.steps,
            warmup_steps=max(1, args.steps // 100) if args.warmup is None else args.warmup, lr=args.lr,
            max_predictions_per_seq=args.max_predictions, nsp=not args.no_nsp, masking=args.masking,
            dupe_factor=args.dupe_factor, whole_word=args.whole_word, masked_only=not args.full_logits,
            eval_every=args.eval_every, eval_max_batches=args.eval_max_batches, save_every=args.save_every,
            log_every=args.log_every, seed=args.seed, device=args.device, dtype=args.dtype,
            num_threads=args.threads, max_minutes=args.max_minutes, dropout=args.dropout,
            keep_checkpoints=args.keep_checkpoints, objective=args.objective, mask_mix=args.mask_mix)
    except ValueError as err:  # PretrainConfig names its field: say the flag instead, in one line
        message = str(err)
        for field, flag in _FIELD_FLAGS.items():
            message = re.sub(rf"\b(PretrainConfig\.)?{field}\b", flag, message)
        parser.error(message)


# PretrainConfig field -> the flag that sets it (for error messages)
_FIELD_FLAGS = {"max_seq_length": "--seq-len", "batch_size": "--batch-size", "grad_accum_steps": "--grad-accum",
                "total_steps": "--steps", "warmup_steps": "--warmup", "max_predictions_per_seq": "--max-predictions",
                "dupe_factor": "--dupe-factor", "eval_every": "--eval-every", "eval_max_batches": "--eval-max-batches",
                "save_every": "--save-every", "log_every": "--log-every", "num_threads": "--threads",
                "max_minutes": "--max-minutes", "keep_checkpoints": "--keep-checkpoints", "mask_mix": "--mask-mix",
                "preset": "--preset", "lr": "--lr", "dropout": "--dropout", "device": "--device", "dtype": "--dtype",
                "masking": "--masking", "objective": "--objective", "seed": "--seed"}

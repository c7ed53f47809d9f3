"""``python -m bertedu.finetune``: fine-tune one encoder on one task of the BERT paper (Sec. 4).

    python -m bertedu.finetune --task sst2 --model minilm --out runs/sst2-minilm
    python -m bertedu.finetune --task conll2003 --model data/pretrained/cpu-tiny --max-train-examples 2000 --out runs/ner
    python -m bertedu.finetune --task rte --model random:data/pretrained/cpu-tiny --grid --out runs/rte-grid

It narrates each stage (data -> examples -> training bar -> dev metric -> where the model went) and
writes ``OUT/metrics.jsonl``, ``OUT/results.json`` and ``OUT/model``. A bad flag value is one line
naming the flag, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

from bertedu._io import OneLineParser
from bertedu.finetuning.grid import GLUE_GRID, PAPER_GRID
from bertedu.finetuning.loop import ConfigError, FinetuneConfig
from bertedu.finetuning.recipes import RECIPES

PROG = "python -m bertedu.finetune"


def _number(kind: type, low: float, *, low_open: bool = False, high: float | None = None,
            none: bool = False) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if none and text.lower() == "none":
            return None
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if value < low or (low_open and value == low) or (high is not None and value > high):
            bound = f"> {low}" if low_open else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}{f' and <= {high}' if high is not None else ''}, "
                                             f"got {text}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    """Every flag of ``python -m bertedu.finetune``, with its default shown by ``--help``."""
    d = FinetuneConfig()
    p = OneLineParser(prog=PROG, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                      description="Fine-tune a BERT encoder on one task (BERT paper Sec. 4): a new output layer, "
                                  "AdamW with warmup and linear decay, length-bucketed batches, dev evaluation.")
    p.add_argument("--task", required=True, choices=list(RECIPES), default=argparse.SUPPRESS,
                   help="the task (see bertedu.finetuning.recipes; required)")
    p.add_argument("--model", default="minilm",
                   help="a bertedu/transformers checkpoint directory, 'minilm' (all-MiniLM-L6-v2), 'random:PRESET' "
                        "(tiny, mini, ...; random weights) or 'random:DIR' (DIR's architecture, random weights)")
    p.add_argument("--vocab", default=None, help="vocab.txt for random:PRESET; None: MiniLM's uncased vocabulary")
    p.add_argument("--out", default=None, help="output directory: metrics.jsonl, results.json, model/; None: write no files")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--lr", type=_number(float, 0.0, low_open=True, high=1.0), default=d.lr, help="peak learning rate")
    p.add_argument("--batch-size", type=_number(int, 1), default=d.batch_size, help="training batch size")
    p.add_argument("--epochs", type=_number(int, 1), default=d.epochs, help="training epochs")
    p.add_argument("--warmup-fraction", type=_number(float, 0.0, high=1.0), default=d.warmup_fraction,
                   help="share of the steps with a linear warmup")
    p.add_argument("--weight-decay", type=_number(float, 0.0), default=d.weight_decay,
                   help="AdamW weight decay (not on biases and LayerNorm)")
    p.add_argument("--max-grad-norm", type=_number(float, 0.0, low_open=True), default=d.max_grad_norm,
                   help="clip the gradient's global norm to this")
    p.add_argument("--max-seq-length", type=_number(int, 8, none=True), default=None,
                   help="tokens per sequence; None: the task's (128; SQuAD 384; SNIPS 64)")
    p.add_argument("--seed", type=_number(int, 0), default=d.seed, help="head init, batch order and dropout")
    p.add_argument("--data-seed", type=_number(int, 0), default=d.data_seed, help="which records a subset keeps")
    p.add_argument("--max-train-examples", type=_number(int, 1, none=True), default=None,
                   help="use a seeded subset of this many training records; None: all")
    p.add_argument("--max-eval-examples", type=_number(int, 1, none=True), default=None,
                   help="use a seeded subset of this many eval records; None: all")
    p.add_argument("--eval-every", type=_number(int, 0), default=d.eval_every,
                   help="evaluate on dev every k steps (0: after each epoch only)")
    p.add_argument("--patience", type=_number(int, 1, none=True), default=None,
                   help="stop after this many evaluations without a better dev score; None: never")
    p.add_argument("--last", action="store_true", help="keep the last weights instead of the best on dev")
    p.add_argument("--eval-batch-size", type=_number(int, 1), default=d.eval_batch_size, help="batch size on dev")
    p.add_argument("--save-every", type=_number(int, 0), default=d.save_every,
                   help="checkpoint every k steps (0: after each epoch)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep OUT/checkpoints after the run finished")
    p.add_argument("--log-every", type=_number(int, 1), default=d.log_every, help="steps per metrics.jsonl record")
    p.add_argument("--threads", type=_number(int, 1, none=True), default=None, help="torch CPU threads; None: torch's default")
    p.add_argument("--device", default=d.device, help="torch device (cpu, cuda, ...)")
    p.add_argument("--grid", choices=["paper", "glue"], default=None,
                   help=f"run a grid and keep the best on dev: paper = {PAPER_GRID} (A.3), glue = {GLUE_GRID} "
                        "(Sec. 4.1); --lr/--batch-size/--epochs are then ignored")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet", action="store_true", help="no narration")
    return p


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    """The :class:`FinetuneConfig` the flags describe (raises :class:`ConfigError` naming a field)."""
    return FinetuneConfig(
        lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, warmup_fraction=args.warmup_fraction,
        weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm, max_seq_length=args.max_seq_length,
        seed=args.seed, data_seed=args.data_seed, max_train_examples=args.max_train_examples,
        max_eval_examples=args.max_eval_examples, eval_every=args.eval_every, patience=args.patience,
        restore_best=not args.last, eval_batch_size=args.eval_batch_size, save_every=args.save_every,
        keep_checkpoints=args.keep_checkpoints, log_every=args.log_every, threads=args.threads, device=args.device)


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace, config: FinetuneConfig) -> None:
    """Flag values only the data and the checkpoint can judge, checked before any work starts."""
    import json
    from pathlib import Path

    from bertedu.finetuning.backbones import describe_spec
    try:
        kind, directory = describe_spec(args.model)
    except ValueError as err:
        parser.error(f"argument --model: {err}")
    if args.vocab is not None and not Path(args.vocab).is_file():
        parser.error(f"argument --vocab: {args.vocab} is not a file; give a vocab.txt (one token a line)")
    if directory is not None and args.vocab is None and not (directory / "vocab.txt").is_file():
        parser.error(f"argument --model: no vocab.txt in {directory}; give a checkpoint with its vocabulary")
    recipe = RECIPES[args.task]
    length = config.max_seq_length or recipe.max_seq_length
    if recipe.kind == "qa" and length <= recipe.max_query_length + 3:
        parser.error(f"argument --max-seq-length: {length} leaves no room for the passage; {recipe.name} needs "
                     f"more than {recipe.max_query_length + 3} (questions take up to {recipe.max_query_length})")
    limit = 512
    if directory is not None:
        limit = json.loads((directory / "config.json").read_text(encoding="utf-8")).get("max_position_embeddings", 512)
    if length > limit:
        parser.error(f"argument --max-seq-length: {length} exceeds the model's {limit} positions")
    if args.resume and not args.out:
        parser.error("argument --resume: needs --out (the run directory to continue)")
    if args.grid and not args.out:
        parser.error("argument --grid: needs --out (each grid point gets a folder)")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse the flags, run :func:`bertedu.finetuning.run.run_task` (or ``run_grid``), return its results."""
    from bertedu.finetuning.run import run_grid, run_task
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as err:
        parser.error(f"argument --{err.field.replace('_', '-')}: {err}")
    check_args(parser, args, config)
    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    try:
        if args.grid:
            grid = PAPER_GRID if args.grid == "paper" else GLUE_GRID
            return run_grid(args.task, args.model, config, grid, out_dir=args.out, resume=args.resume,
                            progress=not args.no_progress, vocab=args.vocab, say=say)
        return run_task(args.task, args.model, config, out_dir=args.out, resume=args.resume,
                        progress=not args.no_progress, vocab=args.vocab, say=say)
    except ValueError as err:
        message = str(err).splitlines()[0]
        if message.startswith("cannot resume"):
            parser.error(f"argument --resume: {message}")
        if "already holds checkpoints" in message:
            parser.error(f"argument --out: {message}")
        raise  # not a flag problem: a real error keeps its traceback


if __name__ == "__main__":
    main(sys.argv[1:])

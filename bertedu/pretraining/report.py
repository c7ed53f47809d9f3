"""What a finished pre-training run learned, measured on its held-out articles, and its ``PROVENANCE.md``.

A checkpoint folder made by ``python -m bertedu.pretrain`` (``model.safetensors``, ``config.json``,
``vocab.txt``, ``metrics.jsonl``, ``run.json``) holds everything needed to rebuild the run's held-out set
exactly as the run built it.  :func:`heldout_numbers` does that and splits the masked-LM targets by what
the model read there: ``[MASK]``, the original word (kept by the 80/10/10 rule, Sec. 3.1) or a random
word.  Only the ``[MASK]`` targets measure the use of context; at a kept target the answer can be copied
(bug #11 in book/bugs.md).  :func:`provenance_markdown` turns the numbers into the checkpoint's record.

    python -m bertedu.pretraining.report data/pretrained/cpu-tiny --command "..." --commit abc123 --seconds 1800
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from bertedu.datasets.corpora import GUTENBERG_BOOKS, pretraining_documents
from bertedu.model.checkpoint import from_pretrained
from bertedu.model.checks import IGNORE_INDEX
from bertedu.pretraining.data import PretrainingDataset, prepare_dataset
from bertedu.pretraining.recipe import PretrainConfig, heldout_config
from bertedu.pretraining.state import read_metrics
from bertedu.text.tokenizer import BertTokenizer
from bertedu._io import OneLineParser

KINDS = ("`[MASK]`", "the original word (kept)", "a random word")


@dataclass
class Targets:
    """Every held-out MLM target (row-major order): the answer, what the model read there, its guess, its loss."""

    gold: torch.Tensor  # (N,) the original ids
    seen: torch.Tensor  # (N,) the ids at the target in the model's input
    pred: torch.Tensor  # (N,) the model's top-1 answers
    nll: torch.Tensor  # (N,) cross-entropy of the right answer


def rebuild_heldout(folder: Path, run: dict[str, Any], tokenizer: BertTokenizer, holdout: int) -> PretrainingDataset:
    """The run's held-out set: every ``holdout``-th WikiText article, masked once with seed + 7 and the default
    80/10/10 mixture whatever the run trained with (as the CLI: :func:`~bertedu.pretraining.recipe.heldout_config`)."""
    sources = tuple(s for s in run.get("corpus", ("wikitext-valid", "wikitext-test")) if s.startswith("wikitext"))
    docs = pretraining_documents(sources, holdout=holdout, part="heldout")
    cfg = heldout_config(PretrainConfig.from_dict(run["config"]))
    held = prepare_dataset(docs, tokenizer, cfg, seed=cfg.seed + 7, masking="static", dupe_factor=1)
    if len(held) != run["heldout_examples"]:
        raise ValueError(f"rebuilt {len(held)} held-out pairs from {folder}, the run had {run['heldout_examples']}: "
                         f"pass the run's --holdout and corpus")
    return held


@torch.no_grad()
def predict_targets(model: torch.nn.Module, data: PretrainingDataset, batch_size: int = 128) -> Targets:
    """The model's answer and loss at every masked-LM target of ``data`` (statically masked)."""
    parts: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, len(data), batch_size):
        b = data.batch(torch.arange(start, min(start + batch_size, len(data))))
        out = model(b["input_ids"], token_type_ids=b["token_type_ids"], attention_mask=b["attention_mask"],
                    labels=b["labels"], masked_only=True)
        chosen = b["labels"] != IGNORE_INDEX
        gold = b["labels"][chosen]
        logp = out.prediction_logits.log_softmax(-1)  # (N, V) at the labelled positions
        parts.append((gold, b["input_ids"][chosen], logp.argmax(-1), -logp.gather(1, gold[:, None]).squeeze(1)))
    gold, seen, pred, nll = (torch.cat(x) for x in zip(*parts))
    return Targets(gold, seen, pred, nll)


def split_by_what_was_read(t: Targets, mask_token_id: int, top_id: int) -> dict[str, dict[str, float]]:
    """Targets, loss, accuracy and the accuracy of always answering ``top_id``, per kind of target."""
    kinds = {KINDS[0]: t.seen == mask_token_id, KINDS[1]: t.seen == t.gold,
             KINDS[2]: (t.seen != t.gold) & (t.seen != mask_token_id)}
    return {k: {"n": int(s.sum()), "loss": t.nll[s].mean().item(), "acc": (t.pred[s] == t.gold[s]).double().mean().item(),
                "top": (t.gold[s] == top_id).double().mean().item()} for k, s in kinds.items()}


def heldout_numbers(folder: str | Path, holdout: int | None = None) -> dict[str, Any]:
    """Everything the provenance record reports, computed from a checkpoint folder (JSON-able)."""
    folder = Path(folder)
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    holdout = run.get("holdout", 5) if holdout is None else holdout
    tok = BertTokenizer.from_vocab_file(folder / "vocab.txt")
    held = rebuild_heldout(folder, run, tok, holdout)
    targets = predict_targets(from_pretrained(folder).eval(), held)
    top = run["frequency_baseline"]["most_frequent_token_id"]
    split = split_by_what_was_read(targets, tok.mask_token_id, top)
    is_mask = targets.seen == tok.mask_token_id
    is_random = (targets.seen != targets.gold) & ~is_mask
    lead = (targets.pred == targets.gold).double().mean().item() - (targets.gold == top).double().mean().item()
    kept = split[KINDS[1]]
    return {"run": run, "holdout": holdout, "split": split, "targets": len(targets.gold), "lead": lead,
            "kept_share": kept["n"] / len(targets.gold) * (kept["acc"] - kept["top"]) / lead if lead > 0 else None,
            "copies_random": (targets.pred[is_random] == targets.seen[is_random]).double().mean().item(),
            "mask_guesses": len(set(targets.pred[is_mask].tolist())),
            "always_is_next": 1 - float(held.next_sentence_label.double().mean()),
            "evals": read_metrics(folder / "metrics.jsonl", split="eval"),
            "train_last": read_metrics(folder / "metrics.jsonl", split="train")[-1],
            "vocab": (folder / "vocab.txt").read_text(encoding="utf-8").split("\n"),
            "size_mb": sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6}


def context_verdict(n: dict[str, Any]) -> str:
    """One paragraph: is the lead over the frequency baseline copying, or use of the context?"""
    m, kept, rnd = (n["split"][k] for k in KINDS)
    base = n["run"]["frequency_baseline"]
    word = n["vocab"][base["most_frequent_token_id"]]
    gain = m["acc"] - m["top"]
    share = "an unknown share" if n["kept_share"] is None else f"{n['kept_share']:.0%}"
    text = (f"Of the checkpoint's {n['lead'] * 100:.1f}-point accuracy lead over always answering `{word}`, {share} "
            f"comes from the {kept['n']:,} kept targets ({kept['acc']:.1%} right: the answer is in the input). At the "
            f"{m['n']:,} `[MASK]` targets, where only the context can give the answer, it is right {m['acc']:.2%} of "
            f"the time against {m['top']:.2%} for always answering `{word}` ({gain * 100:+.2f} points), with a loss "
            f"of {m['loss']:.2f} against the frequency loss of {base['unigram_loss']:.2f}, and its top answer there is "
            f"one of only {n['mask_guesses']} different pieces. At the {rnd['n']:,} random-word targets it is right "
            f"{rnd['acc']:.1%} of the time (always `{word}`: {rnd['top']:.1%}), and {n['copies_random']:.0%} of its "
            f"answers there are the wrong word it reads. ")
    if gain >= 0.05 and m["loss"] < base["unigram_loss"] - 0.3:
        return text + "So it does use the context, although far less than a real BERT."
    if gain > 0.005 and m["loss"] < base["unigram_loss"]:
        return text + "So it has only begun to use the context."
    return text + "So it does not measurably use the context yet: train longer before relying on it."


def git_commit() -> str:
    """The commit of this checkout's HEAD (for provenance records), or "unknown" outside a git clone."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[2],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_name() -> str:
    """The processor's model name (Linux), else what ``platform`` knows (benches and tools use it too)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux, or not readable
        pass
    return platform.processor() or platform.machine() or "CPU"


def provenance_markdown(n: dict[str, Any], *, command: str, commit: str, seconds: float, threads: int) -> str:
    """The ``PROVENANCE.md`` of a checkpoint folder from :func:`heldout_numbers` and how the run was started."""
    run, cfg, base = n["run"], n["run"]["config"], n["run"]["frequency_baseline"]
    first, last, train_last = n["evals"][0], n["evals"][-1], n["train_last"]
    m, vocab, top = n["split"][KINDS[0]], n["vocab"], n["vocab"][base["most_frequent_token_id"]]
    steps = last["step"]
    stopped = ("" if steps == cfg["total_steps"] else
               f"; {cfg['total_steps']} were planned, the {cfg['max_minutes']:g}-minute limit stopped the run (the "
               f"machine was shared)")
    books = len(GUTENBERG_BOOKS) - len(run.get("drop_books", []))
    dropped = f" (left out: {', '.join(run['drop_books'])})" if run.get("drop_books") else ""
    beats = last["mlm_loss"] < base["unigram_loss"] - 0.3 and last["mlm_accuracy"] > base["most_frequent_accuracy"] + 0.03
    verdict = (f"the checkpoint's {last['mlm_loss']:.2f} and {last['mlm_accuracy']:.1%} accuracy "
               + ("beat it over all targets." if beats else "do NOT clearly beat it: train longer before relying on it."))
    nsp = (f"- NSP: {train_last['nsp_accuracy']:.0%} on the last training batches "
           + ("but" if train_last["nsp_accuracy"] - last["nsp_accuracy"] > 0.1 else "and")
           + f" {last['nsp_accuracy']:.0%} on the held-out articles.")
    if train_last["nsp_accuracy"] - last["nsp_accuracy"] > 0.1:
        nsp += ("\n  The likely reason: on the training books a NotNext B usually comes from another *book*, which topic"
                "\n  and style give away, and that shortcut does not help with pairs of Wikipedia articles. RoBERTa (Liu"
                "\n  et al. 2019) and ALBERT (Lan et al. 2019) criticise NSP for rewarding topic rather than coherence.")
    rows = "\n".join(f"| {k} | {v['n']:,} | {v['loss']:.3f} | {v['acc']:.1%} | {v['top']:.1%} |"
                     for k, v in n["split"].items())
    return f"""# Provenance of `{cfg["preset"]}` pre-trained on a CPU

A BERT of the "{cfg["preset"]}" preset pre-trained with masked LM + next sentence prediction on a CPU, by the
project's own code. It is a teaching checkpoint, far from BERT-Base: read "Results" for what it has and has not
learned.

## How it was made
- Command: `{command}`
- Code: bertedu at commit `{commit}` (the commit the run started from; this folder was added after).
- Machine: {cpu_name()} ({platform.machine()}), {threads} torch thread(s) (shared with other jobs), torch {torch.__version__}.
- Wall-clock time: {seconds / 60:.1f} minutes, including building the vocabulary and the data.
- Steps: {steps} optimiser steps of {cfg["batch_size"]} x {cfg["max_seq_length"]}-token pairs
  ({steps * cfg["batch_size"]:,} sequences){stopped}, warmup {cfg["warmup_steps"]} steps then linear decay to 0 at step
  {cfg["total_steps"]}, AdamW lr {cfg["lr"]} (betas {tuple(cfg["betas"])}, weight decay {cfg["weight_decay"]}, no decay on
  biases/LayerNorm), gradient clipping at {cfg["max_grad_norm"]}, {cfg["masking"]} masking (15%, 80/10/10, at most
  {cfg["max_predictions_per_seq"]} predictions per sequence), masked-only MLM logits, seed {cfg["seed"]}.

## Data
- Corpus (`BERTEDU_DATA`, see its README): {", ".join(run.get("corpus", ["wikitext-valid", "wikitext-test", "gutenberg", "speeches"]))};
  {books} Project Gutenberg books{dropped} stand in for BooksCorpus.
- Held out for evaluation, by whole article: every {n["holdout"]}th WikiText article ({run["heldout_documents"]} documents,
  {run["heldout_examples"]:,} pairs, masked once with a fixed seed). The model never trained on them; the
  vocabulary was learned from the training documents only.
- Training: {run["train_documents"]:,} documents -> {run["train_examples"]:,} NSP pairs (50% NotNext from another document).
- Vocabulary: `vocab.txt`, {len([v for v in vocab if v]):,} WordPiece tokens learned by `bertedu.train_wordpiece` (uncased).

## Results on the held-out articles
| | MLM loss | MLM accuracy | MLM accuracy at `[MASK]` only | NSP accuracy |
|---|---|---|---|---|
| before training (step {first["step"]}) | {first["mlm_loss"]:.3f} | {first["mlm_accuracy"]:.1%} | | {first["nsp_accuracy"]:.1%} |
| **this checkpoint (step {last["step"]})** | **{last["mlm_loss"]:.3f}** | **{last["mlm_accuracy"]:.1%}** | **{m["acc"]:.1%}** | **{last["nsp_accuracy"]:.1%}** |
| frequency baseline (no context) | {base["unigram_loss"]:.3f} | {base["most_frequent_accuracy"]:.1%} | {m["top"]:.1%} | 50% (coin; always IsNext: {n["always_is_next"]:.1%}) |

The frequency baseline is what a model that ignores the context can reach (bug #11 in the book's bug catalogue,
"MLM loss stuck around 7"): always answer the most frequent training target (token `{top}`), and the
cross-entropy of the held-out targets under the training targets' unigram distribution (add-one smoothed),
i.e. about the unigram entropy. A loss near {base["unigram_loss"]:.1f} means "only word frequencies learned";
{verdict} Last training window (step {train_last["step"]}): MLM loss {train_last["mlm_loss"]:.3f}, NSP accuracy
{train_last["nsp_accuracy"]:.1%}.

### Copying or context? The MLM targets split by what the model read
Beating the baseline over all targets does not prove that the model reads the context: by the 80/10/10 rule, a
tenth of the targets show the original word in the input, and a model scores there by copying it. {context_verdict(n)}

| the model read at the target | targets | MLM loss | accuracy | always `{top}` |
|---|---|---|---|---|
{rows}

All {n["targets"]:,} held-out targets of the final checkpoint. Which treatment a target gets does not depend on the
word, so the frequency loss {base["unigram_loss"]:.2f} is the loss baseline of every row.

## Reading the numbers
- Training vs held-out MLM loss ({train_last["mlm_loss"]:.2f} vs {last["mlm_loss"]:.2f} at the end): the held-out
  articles are Wikipedia only, while most training text is 19th-century fiction and speeches, so part of the gap
  is that change of domain, and part may be the run having read each training pair about
  {steps * cfg["batch_size"] / run["train_examples"]:.1f} times. There is no held-out text from the books to separate the two.
{nsp}

## Files ({n["size_mb"]:.1f} MB)
- `model.safetensors`, `config.json`: `BertForPreTraining` in the reference key format
  (`bertedu.from_pretrained` or `transformers.BertForPreTraining.from_pretrained` load it).
- `vocab.txt`: the vocabulary. `metrics.jsonl`: the training log (train records every
  {cfg["log_every"]} steps, held-out evaluations every {cfg["eval_every"]}); `run.json`: the run's settings and data counts.
"""


def main(argv: Sequence[str] | None = None) -> str:
    """``python -m bertedu.pretraining.report FOLDER ...``: write ``FOLDER/PROVENANCE.md`` and return its text."""
    p = OneLineParser(prog="python -m bertedu.pretraining.report", description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path, help="checkpoint folder: model.safetensors, config.json, vocab.txt, "
                                             "metrics.jsonl, run.json")
    p.add_argument("--command", required=True, help="the command that trained it (recorded as given)")
    p.add_argument("--commit", required=True, help="the git commit the run started from")
    p.add_argument("--seconds", type=float, required=True, help="wall-clock seconds the run took")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the run's and this report's)")
    p.add_argument("--holdout", type=int, default=None, help="the run's --holdout (default: from run.json, else 5)")
    p.add_argument("--drop-books", nargs="*", default=None, help="the run's --drop-books (default: from run.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    numbers = heldout_numbers(args.folder, args.holdout)
    if args.drop_books is not None:
        numbers["run"]["drop_books"] = args.drop_books
    text = provenance_markdown(numbers, command=args.command, commit=args.commit, seconds=args.seconds,
                               threads=args.threads)
    (args.folder / "PROVENANCE.md").write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    print(main())

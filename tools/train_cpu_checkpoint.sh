#!/usr/bin/env bash
# Train the small CPU checkpoint that chapter 8 loads (data/pretrained/cpu-tiny/) with the project's own
# command, `python -m bertedu.pretrain`, then copy the result and write its PROVENANCE.md.
#
#   bash tools/train_cpu_checkpoint.sh            # about 30 minutes on 2 CPU threads
#   STEPS=200 OUT=runs/quick DEST= bash tools/train_cpu_checkpoint.sh   # a quick rehearsal (does not touch data/)
#
# Environment: BERTEDU_DATA (default ../shared/data), STEPS, MINUTES, THREADS, OUT (run dir, default runs/cpu-tiny),
# DEST (default data/pretrained/cpu-tiny; set DEST= to skip copying).
set -euo pipefail
cd "$(dirname "$0")/.."
export BERTEDU_DATA=${BERTEDU_DATA:-../shared/data} HF_HUB_OFFLINE=1
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-6000}
MINUTES=${MINUTES:-32}  # training stops (with a checkpoint) after this many minutes even if STEPS are not done
THREADS=${THREADS:-2}
OUT=${OUT:-runs/cpu-tiny}
DEST=${DEST-data/pretrained/cpu-tiny}

# tiny = L 2 / H 128 / A 2; an 8,000-piece WordPiece vocabulary trained on the training documents;
# every 5th WikiText article held out; 32 x 128-token pairs per step; dynamic masking (the run reads each
# pair about 5 times, with fresh masks every time instead of a few fixed copies); lr 1e-3 (see PROVENANCE.md).
HOLDOUT=5
ARGS=(--out "$OUT" --preset tiny --vocab-size 8000 --holdout "$HOLDOUT" --seq-len 128 --batch-size 32
      --steps "$STEPS" --warmup $((STEPS / 50)) --lr 1e-3 --masking dynamic --dupe-factor 1
      --eval-every 250 --save-every 500 --log-every 25 --seed 12345 --threads "$THREADS" --max-minutes "$MINUTES" --no-progress)
[ -f "$OUT/checkpoints/latest.json" ] && ARGS+=(--resume)
echo "train_cpu_checkpoint: $PY -m bertedu.pretrain ${ARGS[*]}"
start=$(date +%s)
commit=$(git rev-parse HEAD)  # the code the run starts from (others may commit while it runs)
"$PY" -m bertedu.pretrain "${ARGS[@]}"
seconds=$(( $(date +%s) - start ))

[ -z "$DEST" ] && { echo "train_cpu_checkpoint: done in ${seconds}s ($OUT)"; exit 0; }
mkdir -p "$DEST"
cp "$OUT/final/model.safetensors" "$OUT/final/config.json" "$OUT/final/vocab.txt" \
   "$OUT/metrics.jsonl" "$OUT/run.json" "$DEST/"
COMMAND="bash tools/train_cpu_checkpoint.sh  ->  python -m bertedu.pretrain ${ARGS[*]}" \
SECONDS_TAKEN="$seconds" COMMIT="$commit" DEST="$DEST" THREADS="$THREADS" HOLDOUT="$HOLDOUT" "$PY" - <<'PYEOF'
import json, os, platform
from pathlib import Path

import torch

from bertedu import BertTokenizer, from_pretrained
from bertedu import pretraining_documents
from bertedu import PretrainConfig, prepare_dataset, read_metrics

def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "CPU"


dest = Path(os.environ["DEST"])
run = json.loads((dest / "run.json").read_text())
cfg, base = run["config"], run["frequency_baseline"]
evals = read_metrics(dest / "metrics.jsonl", split="eval")
first, last = evals[0], evals[-1]
train_last = read_metrics(dest / "metrics.jsonl", split="train")[-1]
vocab = (dest / "vocab.txt").read_text(encoding="utf-8").split("\n")
steps_done = last["step"]
epochs = steps_done * cfg["batch_size"] / run["train_examples"]
stopped = ("" if steps_done == cfg["total_steps"] else
           f"; {cfg['total_steps']} were planned, the {cfg['max_minutes']:g}-minute limit stopped the run (the machine "
           f"was shared)")

# Split the held-out MLM targets by what the model read there (80/10/10 rule): at a kept target the answer is
# in the input and can be copied, so only the [MASK] targets measure the use of context (bug #11 in book/bugs.md).
torch.set_num_threads(int(os.environ["THREADS"]))
top = base["most_frequent_token_id"]
tok = BertTokenizer.from_vocab_file(dest / "vocab.txt")
model = from_pretrained(dest).eval()
held = prepare_dataset(pretraining_documents(("wikitext-valid", "wikitext-test"), holdout=int(os.environ["HOLDOUT"]),
                                             part="heldout"),
                       tok, PretrainConfig.from_dict(cfg), seed=cfg["seed"] + 7, masking="static", dupe_factor=1)
assert len(held) == run["heldout_examples"], "the held-out set could not be rebuilt as the run built it"
nll, hit, pred_all, gold_all, seen_all = [], [], [], [], []
with torch.no_grad():
    for start in range(0, len(held), 128):
        b = held.batch(torch.arange(start, min(start + 128, len(held))))
        out = model(b["input_ids"], token_type_ids=b["token_type_ids"], attention_mask=b["attention_mask"],
                    labels=b["labels"], masked_only=True)
        chosen = b["labels"] != -100
        gold = b["labels"][chosen]
        logp = out.prediction_logits.log_softmax(-1)
        nll.append(-logp.gather(1, gold[:, None]).squeeze(1))
        hit.append(logp.argmax(-1) == gold)
        pred_all.append(logp.argmax(-1))
        gold_all.append(gold)
        seen_all.append(b["input_ids"][chosen])
nll, hit, pred, gold, seen = (torch.cat(x) for x in (nll, hit, pred_all, gold_all, seen_all))
kinds = {"`[MASK]`": seen == tok.mask_token_id, "the original word (kept)": seen == gold,
         "a random word": (seen != gold) & (seen != tok.mask_token_id)}
split = {k: dict(n=int(s.sum()), loss=nll[s].mean().item(), acc=hit[s].double().mean().item(),
                 top=(gold[s] == top).double().mean().item()) for k, s in kinds.items()}
m, kept, rnd = split["`[MASK]`"], split["the original word (kept)"], split["a random word"]
is_rnd, is_mask = kinds["a random word"], kinds["`[MASK]`"]
copies_random = (pred[is_rnd] == seen[is_rnd]).double().mean().item()   # answers the (wrong) word it reads
mask_guesses = len(set(pred[is_mask].tolist()))                        # distinct top-1 answers at [MASK]
lead = hit.double().mean().item() - (gold == top).double().mean().item()        # overall lead over the baseline
kept_share = kept["n"] / len(gold) * (kept["acc"] - kept["top"]) / lead if lead > 0 else float("nan")
split_rows = "\n".join(f"| {k} | {v['n']:,} | {v['loss']:.3f} | {v['acc']:.1%} | {v['top']:.1%} |" for k, v in split.items())
gain = m["acc"] - m["top"]
word = vocab[top]
context = (f"Of the checkpoint's {lead * 100:.1f}-point accuracy lead over always answering `{word}`, {kept_share:.0%} comes "
           f"from the {kept['n']:,} kept targets ({kept['acc']:.1%} right: the answer is in the input). At the "
           f"{m['n']:,} `[MASK]` targets, where only the context can give the answer, it is right {m['acc']:.2%} of the "
           f"time against {m['top']:.2%} for always answering `{word}` ({gain * 100:+.2f} points), with a loss of "
           f"{m['loss']:.2f} against the frequency loss of {base['unigram_loss']:.2f}, and its top answer there is one "
           f"of only {mask_guesses} different pieces. At the {rnd['n']:,} random-word targets it is right {rnd['acc']:.1%} "
           f"of the time (always `{word}`: {rnd['top']:.1%}), and {copies_random:.0%} of its answers there are the wrong "
           f"word it reads. ")
if gain >= 0.05 and m["loss"] < base["unigram_loss"] - 0.3:
    context += "So it does use the context, although far less than a real BERT."
elif gain > 0.005 and m["loss"] < base["unigram_loss"]:
    context += "So it has only begun to use the context."
else:
    context += "So it does not measurably use the context yet: train longer before relying on it."
beats = last["mlm_loss"] < base["unigram_loss"] - 0.3 and last["mlm_accuracy"] > base["most_frequent_accuracy"] + 0.03
verdict = (f"the checkpoint's {last['mlm_loss']:.2f} and {last['mlm_accuracy']:.1%} accuracy beat it over all targets."
           if beats else
           f"the checkpoint's {last['mlm_loss']:.2f} and {last['mlm_accuracy']:.1%} accuracy do NOT clearly beat it: "
           f"train longer before relying on it.")
nsp_gap = train_last["nsp_accuracy"] - last["nsp_accuracy"]
nsp_text = (f"""- NSP: {train_last["nsp_accuracy"]:.0%} on the last training batches but {last["nsp_accuracy"]:.0%} on the held-out articles.
  The likely reason: on the training books a NotNext B usually comes from another *book*, which topic and
  style give away, and that shortcut does not help with pairs of Wikipedia articles. RoBERTa (Liu et al. 2019)
  and ALBERT (Lan et al. 2019) criticise NSP for rewarding topic rather than coherence.""" if nsp_gap > 0.1 else
            f"""- NSP: {train_last["nsp_accuracy"]:.0%} on the last training batches and {last["nsp_accuracy"]:.0%} on the held-out articles.""")
size = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
text = f"""# Provenance of `cpu-tiny`

A 2-layer, H=128, A=2 BERT (the "tiny" preset) pre-trained with masked LM + next sentence prediction on a
CPU, by the project's own code. It is a teaching checkpoint, far from BERT-Base: read "Results" for what it
has and has not learned.

## How it was made
- Command: `{os.environ["COMMAND"]}`
- Code: bertedu at commit `{os.environ["COMMIT"]}` (the commit the run started from; this folder was added after).
- Machine: {cpu_name()} ({platform.machine()}), {os.environ["THREADS"]} torch thread(s) (shared with other jobs), torch {torch.__version__}.
- Wall-clock time: {int(os.environ["SECONDS_TAKEN"]) / 60:.1f} minutes, including building the vocabulary and the data.
- Steps: {steps_done} optimiser steps of {cfg["batch_size"]} x {cfg["max_seq_length"]}-token pairs
  ({steps_done * cfg["batch_size"]:,} sequences){stopped}, warmup {cfg["warmup_steps"]} steps then linear decay to 0 at step {cfg["total_steps"]},
  AdamW lr {cfg["lr"]} (betas {tuple(cfg["betas"])}, weight decay {cfg["weight_decay"]}, no decay on biases/LayerNorm),
  gradient clipping at {cfg["max_grad_norm"]}, {cfg["masking"]} masking (15%, 80/10/10, at most
  {cfg["max_predictions_per_seq"]} predictions per sequence), masked-only MLM logits, seed {cfg["seed"]}.
- Why lr {cfg["lr"]} and not the paper's 1e-4: the paper trains BERT-Base for 1,000,000 steps; this run has a few
  thousand, and a model this small tolerates a larger step. Everything else follows Appendix A.2.

## Data
- Corpus (`BERTEDU_DATA`, see its README): WikiText-2 raw valid + test (Wikipedia), 15 Project Gutenberg books
  (the book's stand-in for BooksCorpus) and 126 US presidential speeches.
- Held out for evaluation, by whole article: every 5th WikiText article ({run["heldout_documents"]} documents,
  {run["heldout_examples"]:,} pairs, masked once with a fixed seed). The model never trained on them; the
  vocabulary was learned from the training documents only.
- Training: {run["train_documents"]:,} documents -> {run["train_examples"]:,} NSP pairs (50% NotNext from another document).
- Vocabulary: `vocab.txt`, {len([v for v in vocab if v]):,} WordPiece tokens learned by `bertedu.train_wordpiece` (uncased).

## Results on the held-out articles
| | MLM loss | MLM accuracy | MLM accuracy at `[MASK]` only | NSP accuracy |
|---|---|---|---|---|
| before training (step {first["step"]}) | {first["mlm_loss"]:.3f} | {first["mlm_accuracy"]:.1%} | | {first["nsp_accuracy"]:.1%} |
| **this checkpoint (step {last["step"]})** | **{last["mlm_loss"]:.3f}** | **{last["mlm_accuracy"]:.1%}** | **{m["acc"]:.1%}** | **{last["nsp_accuracy"]:.1%}** |
| frequency baseline (no context) | {base["unigram_loss"]:.3f} | {base["most_frequent_accuracy"]:.1%} | {m["top"]:.1%} | 50% (coin; always IsNext: {1 - float(held.next_sentence_label.double().mean()):.1%}) |

The frequency baseline is what a model that ignores the context can reach (bug #11 in book/bugs.md, "MLM loss stuck
around 7"): always answer the most frequent training target (token `{vocab[base["most_frequent_token_id"]]}`), and
the cross-entropy of the held-out targets under the training targets' unigram distribution (add-one
smoothed), i.e. about the unigram entropy. A loss near {base["unigram_loss"]:.1f} means "only word frequencies
learned"; {verdict} Last training window (step {train_last["step"]}): MLM loss {train_last["mlm_loss"]:.3f}, NSP accuracy
{train_last["nsp_accuracy"]:.1%}.

### Copying or context? The MLM targets split by what the model read
Beating the baseline over all targets does not prove that the model reads the context: by the 80/10/10 rule, a
tenth of the targets show the original word in the input, and a model scores there by copying it. {context}

| the model read at the target | targets | MLM loss | accuracy | always `{vocab[top]}` |
|---|---|---|---|---|
{split_rows}

All {len(gold):,} held-out targets of the final checkpoint. Which treatment a target gets does not depend on the
word, so the frequency loss {base["unigram_loss"]:.2f} is the loss baseline of every row.

## Reading the numbers
- Training vs held-out MLM loss ({train_last["mlm_loss"]:.2f} vs {last["mlm_loss"]:.2f} at the end): the held-out
  articles are Wikipedia only, while most training text is 19th-century fiction, the King James Bible and
  speeches, so part of the gap is that change of domain, and part may be the run having read each training
  pair about {epochs:.1f} times (with fresh masks each time). There is no held-out text from the books to
  separate the two.
{nsp_text}

## Files ({size:.1f} MB)
- `model.safetensors`, `config.json`: `BertForPreTraining` in the reference key format
  (`bertedu.from_pretrained` or `transformers.BertForPreTraining.from_pretrained` load it).
- `vocab.txt`: the vocabulary. `metrics.jsonl`: the training log (train records every
  {cfg["log_every"]} steps, held-out evaluations every {cfg["eval_every"]}); `run.json`: the run's settings and data counts.
"""
(dest / "PROVENANCE.md").write_text(text, encoding="utf-8")
print(text)
PYEOF
echo "train_cpu_checkpoint: done in ${seconds}s -> $DEST"

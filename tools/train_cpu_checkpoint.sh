#!/usr/bin/env bash
# Train the small CPU checkpoint that chapter 8 loads (data/pretrained/cpu-tiny/) with the project's own
# command, `python -m bertedu.pretrain`, then copy the result and write its PROVENANCE.md
# (`python -m bertedu.pretraining.report`, which works on any run's checkpoint folder).
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
# held-out results (split by what the model read at each target) and the folder's PROVENANCE.md
"$PY" -m bertedu.pretraining.report "$DEST" --holdout "$HOLDOUT" --threads "$THREADS" --commit "$commit" \
      --seconds "$seconds" --command "bash tools/train_cpu_checkpoint.sh  ->  python -m bertedu.pretrain ${ARGS[*]}"
echo "train_cpu_checkpoint: done in ${seconds}s -> $DEST"

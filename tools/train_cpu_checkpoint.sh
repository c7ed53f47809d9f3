#!/usr/bin/env bash
# Train the small CPU checkpoint that chapter 8 loads (data/pretrained/cpu-tiny/) with the project's own
# command, `python -m bertedu.pretrain`, then copy the result and write its PROVENANCE.md
# (`python -m bertedu.pretraining.report`, which works on any run's checkpoint folder).
#
#   bash tools/train_cpu_checkpoint.sh            # about 2 hours on 1 idle CPU thread (resumes if stopped)
#   STEPS=200 OUT=runs/quick DEST= bash tools/train_cpu_checkpoint.sh   # a quick rehearsal (does not touch data/)
#
# Environment: BERTEDU_DATA (default ../shared/data), STEPS, MINUTES, THREADS, OUT (run dir, default runs/cpu-tiny),
# DEST (default data/pretrained/cpu-tiny; set DEST= to skip copying).
set -euo pipefail
cd "$(dirname "$0")/.."
export BERTEDU_DATA=${BERTEDU_DATA:-../shared/data} HF_HUB_OFFLINE=1
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-20000}
MINUTES=${MINUTES:-240}  # training stops (with a checkpoint) after this many minutes even if STEPS are not done
THREADS=${THREADS:-1}
OUT=${OUT:-runs/cpu-tiny}
DEST=${DEST-data/pretrained/cpu-tiny}

# The recipe found in issue 15 (data/pretrained/cpu-tiny/PROVENANCE.md): tiny = L 2 / H 128 / A 2; an
# 8,000-piece WordPiece vocabulary trained on the training documents; every 5th WikiText article held out;
# the King James Bible left out (half of all documents otherwise); 64 x 64-token pairs a step; lr 2e-3 with 1%
# warmup and linear decay; no dropout (a short run: Cramming, Geiping & Goldstein 2022); dynamic masking and
# NSP pairs drawn 5 ways. 20,000 steps is about 2 hours on 1 idle thread; the loop resumes exactly.
HOLDOUT=5
ARGS=(--out "$OUT" --preset tiny --vocab-size 8000 --holdout "$HOLDOUT" --seq-len 64 --batch-size 64
      --steps "$STEPS" --lr 2e-3 --masking dynamic --dupe-factor 5 --dropout 0 --drop-books bible-kjv
      --eval-every 1000 --save-every 1000 --keep-checkpoints 40 --log-every 50 --seed 12345
      --threads "$THREADS" --max-minutes "$MINUTES" --no-progress)
[ -f "$OUT/checkpoints/latest.json" ] && ARGS+=(--resume)
echo "train_cpu_checkpoint: $PY -m bertedu.pretrain ${ARGS[*]}"
start=$(date +%s)
commit=$(git rev-parse HEAD)  # the code the run starts from (others may commit while it runs)
"$PY" -m bertedu.pretrain "${ARGS[@]}"
seconds=$(( $(date +%s) - start ))

[ -z "$DEST" ] && { echo "train_cpu_checkpoint: done in ${seconds}s ($OUT)"; exit 0; }
mkdir -p "$DEST"
step=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['step'])" "$OUT/checkpoints/latest.json")
# the checkpoint as a loadable folder, the diagnostics of every kept checkpoint, and its PROVENANCE.md
"$PY" tools/analyse_pretraining.py "$OUT" --export "$step" "$DEST" --out "$DEST/diagnostics.json" \
      --threads "$THREADS" --provenance --commit "$commit" --minutes $(( seconds / 60 )) \
      --command "bash tools/train_cpu_checkpoint.sh  ->  python -m bertedu.pretrain ${ARGS[*]}"
echo "train_cpu_checkpoint: done in ${seconds}s -> $DEST"

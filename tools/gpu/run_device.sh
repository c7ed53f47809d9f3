#!/usr/bin/env bash
# The whole GPU session of issue 14 (chapter 9) in one command, sized for a 15-minute device lease:
#
#   1. session   device name, torch/CUDA/cuDNN/transformers versions, a measured bf16 matmul rate; the settings
#                are chosen by device (tools/gpu/session.py): native bf16 (A100/H100/H200/L4...) -> bf16 autocast;
#                a GPU without bf16 (T4, V100) -> REFUSED (needs fp16 + loss scaling, which bertedu lacks)
#   2. bench     bench/pretrain_speed.py: bertedu vs transformers.BertForPreTraining, base preset, 128 x 128,
#                bf16 autocast, SDPA in both, 10 interleaved rounds (~1 minute), MFU vs the datasheet peak
#   3. calibrate tools/gpu/calibrate.py: times the chapter's own train step -> --steps that fill the training time
#   4. train     python -m bertedu.pretrain: mini (L4/H256), the 8,000-piece vocabulary of data/pretrained/cpu-tiny
#                (train_wordpiece on the same training documents), masked-only logits, bf16, SDPA, length 128,
#                batch 256, dynamic masking, held-out evaluation; --max-minutes is the hard stop
#   5. finalize  tools/gpu/finalize.py: float16 safetensors checkpoint + vocab + config + metrics + run.json,
#                checked (finite, F16, bertedu and transformers load it), [MASK]-only accuracy beside cpu-tiny's
#   6. limits    tools/gpu/outputs.py: <= 8 files, <= 16 MiB each, <= 64 MiB, <= 2 folders down, or exit 1
#
# A time guard (BUDGET_S, default 540 s) bounds every phase, so the command ends within ~9 minutes.
# Usage:
#   bash tools/gpu/run_device.sh "$OUT"                   # on the device (see bench/README.md, GPU session plan)
#   REHEARSAL=1 bash tools/gpu/run_device.sh /tmp/x       # the same steps on a CPU, tiny sizes, < 2 minutes
# Any setting of tools/gpu/session.py base_plan can be overridden by name: TRAIN_MINUTES=3 BENCH_ROUNDS=6 ...;
# SKIP_BENCH=1 leaves the bench out (a second, training-only try).
# Files in OUT_DIR: log.txt, device.json, bench.json, gpu-mini/{model.safetensors,config.json,vocab.txt,
# metrics.jsonl,run.json}. The run's own folder (resumable checkpoints) is WORK_DIR, never inside OUT_DIR.
set -uo pipefail
OUT_DIR=${1:?usage: bash tools/gpu/run_device.sh OUT_DIR   (REHEARSAL=1 for the CPU rehearsal)}
START=$(date +%s)
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
mkdir -p "$OUT_DIR" && OUT_DIR=$(cd "$OUT_DIR" && pwd) || exit 2
if [ -n "$(ls -A "$OUT_DIR")" ]; then
  echo "run_device: $OUT_DIR is not empty; everything in it would count against the 8 returned files" >&2
  exit 2
fi
WORK_DIR=${WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bertedu-gpu.XXXXXX")}
mkdir -p "$WORK_DIR"
exec > >(tee -a "$OUT_DIR/log.txt") 2>&1

REHEARSAL=${REHEARSAL:-0}
[ "$REHEARSAL" = 1 ] && export OMP_NUM_THREADS=1   # the rehearsal runs single-threaded
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
       TOKENIZERS_PARALLELISM=false
# the corpus: carried in .gpu/data (tools/gpu/prepare_carry.py), else $BERTEDU_DATA, else ../shared/data
if [ -d "$ROOT/.gpu/data/corpus" ]; then export BERTEDU_DATA="$ROOT/.gpu/data"
elif [ -z "${BERTEDU_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then export BERTEDU_DATA="$ROOT/../shared/data"; fi
# the device image's python3 holds torch+CUDA; here the project's venv
if [ -z "${PY:-}" ]; then
  if [ "$REHEARSAL" = 1 ] && [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi

now() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET_S - $(now) )); }
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
FAILED=""
phase() {  # phase NAME LIMIT_S CMD...: run CMD under a timeout, log its rc and seconds
  local name=$1 limit=$2 t0 rc; shift 2
  t0=$(date +%s)
  echo "=== [$(now)s] $name (limit ${limit}s)" >&2
  timeout --kill-after=10 "$limit" "$@"; rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" $(( $(date +%s) - t0 )) >> "$WORK_DIR/phases.tsv"
  echo "=== [$(now)s] $name: rc=$rc" >&2
  [ "$rc" = 0 ] || FAILED="$FAILED $name(rc=$rc)"
  return "$rc"
}

# 1. session: device, versions, plan; refuses early (rc 2/3/4) so a lease is not spent on a doomed run
echo "run_device: $(date -u +%FT%TZ) on $(uname -n), python $PY, OUT_DIR $OUT_DIR, WORK_DIR $WORK_DIR"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
BUDGET_S=${BUDGET_S:-$([ "$REHEARSAL" = 1 ] && echo 240 || echo 540)}
PLAN=$(timeout 120 "$PY" tools/gpu/session.py --out "$OUT_DIR" $([ "$REHEARSAL" = 1 ] && echo --rehearsal))
rc=$?
if [ "$rc" != 0 ]; then echo "run_device: stopped at the session check (rc=$rc)"; exit "$rc"; fi
eval "$PLAN"
printf 'session\t0\t%s\n' "$(now)" >> "$WORK_DIR/phases.tsv"

# 2. bench (~1 minute on an H100/H200); skipped if the guard leaves no room for training after it
reserve=$(( PREP_RESERVE + FINAL_RESERVE + CALIB_SECONDS + 20 + MIN_TRAIN_S ))
limit=$(min "$BENCH_TIMEOUT" $(( $(left) - reserve )))
if [ "${SKIP_BENCH:-0}" = 1 ]; then
  echo "run_device: bench skipped (SKIP_BENCH=1)"
elif [ "$limit" -ge 20 ]; then
  phase bench "$limit" "$PY" bench/pretrain_speed.py --device "$DEVICE" --dtype "$DTYPE" --preset "$BENCH_PRESET" \
    --vocab "$BENCH_VOCAB" --batch "$BENCH_BATCH" --seq "$BENCH_SEQ" --rounds "$BENCH_ROUNDS" --steps "$BENCH_STEPS" \
    --warmup "$BENCH_WARMUP" --threads "$THREADS" ${PEAK_TFLOPS:+--peak-tflops "$PEAK_TFLOPS"} --json "$OUT_DIR/bench.json"
else
  echo "run_device: bench skipped: ${limit}s left for it"; FAILED="$FAILED bench(skipped)"
fi

# 3. calibrate: steps that fill the training time (the schedule decays to 0 at --steps; --max-minutes only stops)
train_s=$(( $(left) - PREP_RESERVE - FINAL_RESERVE - CALIB_SECONDS - 20 ))
train_s=$(min "$train_s" "$(awk -v m="$TRAIN_MINUTES" 'BEGIN { printf "%d", m * 60 }')")
if [ "$train_s" -lt "$MIN_TRAIN_S" ]; then
  echo "run_device: only ${train_s}s left for training (< MIN_TRAIN_S=$MIN_TRAIN_S): stopping"; exit 5
fi
VOCAB_ARGS=(--vocab-size 8000); [ -n "$VOCAB_FILE" ] && VOCAB_ARGS=(--vocab "$VOCAB_FILE")
CAL=$(phase calibrate $(( CALIB_SECONDS + 60 )) "$PY" tools/gpu/calibrate.py --device "$DEVICE" --dtype "$DTYPE" \
      --preset "$TRAIN_PRESET" --vocab "${VOCAB_FILE:-data/pretrained/cpu-tiny/vocab.txt}" --batch "$TRAIN_BATCH" \
      --seq "$TRAIN_SEQ" --threads "$THREADS" --seconds "$CALIB_SECONDS" --train-seconds "$train_s" \
      --heldout-examples "$HELDOUT_EXAMPLES" --json "$WORK_DIR/calibration.json")
if [ $? = 0 ]; then eval "$(grep -E '^[A-Z_]+=' <<< "$CAL")"; echo "$CAL" | grep -v -E '^[A-Z_]+='
else  # a guess; --max-minutes still stops the run in time
  echo "$CAL"; echo "run_device: calibration failed: guessing"; FAILED="$FAILED calibrate"
  TRAIN_STEPS=$(( train_s * 40 )); TRAIN_WARMUP=$(( TRAIN_STEPS / 50 )); EVAL_EVERY=$(( TRAIN_STEPS / 12 ))
  SAVE_EVERY=$(( TRAIN_STEPS / 8 )); LOG_EVERY=50; MAX_MINUTES=$(awk -v s="$train_s" 'BEGIN { printf "%.3f", s / 60 }')
fi
# the calibration took time too: the hard stop is what is left now
MAX_MINUTES=$(awk -v m="$MAX_MINUTES" -v s=$(( $(left) - PREP_RESERVE - FINAL_RESERVE )) \
              'BEGIN { x = s / 60; if (x < m) m = x; printf "%.3f", m }')

# 4. train: the chapter-9 run
TRAIN_ARGS=(--out "$WORK_DIR/run" --preset "$TRAIN_PRESET" "${VOCAB_ARGS[@]}" --holdout "$HOLDOUT"
  --seq-len "$TRAIN_SEQ" --batch-size "$TRAIN_BATCH" --steps "$TRAIN_STEPS" --warmup "$TRAIN_WARMUP" --lr "$TRAIN_LR"
  --masking dynamic --dupe-factor 1 --eval-every "$EVAL_EVERY" --save-every "$SAVE_EVERY" --log-every "$LOG_EVERY"
  --seed 12345 --device "$DEVICE" --dtype "$DTYPE" --threads "$THREADS" --max-minutes "$MAX_MINUTES" --no-progress)
[ -n "$MAX_DOCUMENTS" ] && TRAIN_ARGS+=(--max-documents "$MAX_DOCUMENTS")
echo "run_device: $PY -m bertedu.pretrain ${TRAIN_ARGS[*]}"
phase train $(( $(left) - FINAL_RESERVE )) "$PY" -m bertedu.pretrain "${TRAIN_ARGS[@]}"

# 5. finalize: the float16 checkpoint and the record (also after a cut run: its latest checkpoint)
CKPT="$OUT_DIR/$CKPT_NAME"
phase finalize $(( $(left) > 30 ? $(left) : 30 )) "$PY" tools/gpu/finalize.py --run "$WORK_DIR/run" --ckpt "$CKPT" \
  --record "$OUT_DIR/device.json" --bench "$OUT_DIR/bench.json" --calibration "$WORK_DIR/calibration.json" \
  --phases "$WORK_DIR/phases.tsv" --vocab "${VOCAB_FILE:-/nonexistent}" --threads "$FINAL_THREADS" \
  --cpu-checkpoint "$CPU_CHECKPOINT"

# 6. limits: what the device tool returns; fail loudly rather than lose a file silently
[ "$REHEARSAL" = 1 ] && [ -z "${KEEP_WORK:-}" ] && rm -rf "$WORK_DIR"
echo "=== [$(now)s] files in $OUT_DIR (what comes back)"
"$PY" tools/gpu/outputs.py "$OUT_DIR" || FAILED="$FAILED limits"
if [ -n "$FAILED" ]; then echo "run_device: done in $(now)s with problems:$FAILED"; exit 1; fi
echo "run_device: done in $(now)s, all phases ok"

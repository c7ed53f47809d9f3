#!/usr/bin/env bash
# Set up (if needed) and run every test: the library's pytest suite, nbval on every chapter, and the
# book build (zero Sphinx warnings).  Data sets are read from $BERTEDU_DATA (default: ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export BERTEDU_DATA=${BERTEDU_DATA:-$(cd .. && pwd)/shared/data}
BERTEDU_SETUP_DONE=1 bash tools/build-book.sh
.venv/bin/python -m pytest -n 2 --dist loadfile tests book \
  --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg "$@"

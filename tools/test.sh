#!/usr/bin/env bash
# Set up (if needed) and run every test: the library's pytest suite, nbval on every chapter, and the
# book build (zero Sphinx warnings).  Data sets are read from $BERTEDU_DATA (default: ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export BERTEDU_DATA=${BERTEDU_DATA:-$(cd .. && pwd)/shared/data}
BERTEDU_SETUP_DONE=1 bash tools/build-book.sh
# paths among the arguments narrow the run (bash tools/test.sh tests/test_squad.py book/02_tokenization.ipynb);
# other arguments go to pytest as they are (-k, -x, ...); no path: everything
targets=()
for arg in "$@"; do
  case "$arg" in -*) ;; *) [ -e "${arg%%::*}" ] && targets+=("$arg") ;; esac
done
if [ ${#targets[@]} -eq 0 ]; then set -- tests book "$@"; fi
.venv/bin/python -m pytest -n 2 --dist loadfile \
  --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg "$@"

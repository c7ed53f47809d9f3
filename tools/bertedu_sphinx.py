"""Sphinx extension for the bertedu book: offline JavaScript, solutions, figure captions, math in outputs.

Loaded by ``_config.yml`` (``sphinx.local_extensions``).  What it does, and the conventions chapters follow
(the full list is in the chapter editors' checklist; ``tools/check_pages.py`` checks the built pages):

* **Offline pages.**  ``python tools/vendor_js.py`` puts pinned copies of require.js, the Jupyter widget
  manager, MathJax 3, d3 and jquery in ``_vendor/html/vendor/``.  This extension copies them into the site
  (``html_extra_path`` -> ``_build/html/vendor/``) and points every page at them, so the book needs no
  network.  When they are missing the build FAILS with one line saying how to fix it, unless
  ``BERTEDU_ALLOW_CDN=1`` is set: then the pages load the public CDNs and every page shows a notice.
* **Solutions.**  A code cell tagged ``solution`` is rendered once, collapsed, inside a ``<details>`` whose
  summary reads "Show solution / 查看答案" (myst-nb's ``hide-cell`` with our prompt and a CSS class).
* **Figure captions.**  A paragraph that starts with bold ``**Figure N.**`` is a caption: it gets the class
  ``bertedu-caption`` and the anchor ``figure-N``; the numbers must run 1, 2, 3 ... on each page (a Sphinx
  warning otherwise, which fails the ``-W`` build).
* **Math in HTML outputs.**  MathJax also typesets ``$...$`` and ``\\(...\\)`` inside the book's own output
  widgets (``.bertedu-tabs``: knowledge cards and quizzes; ``.bertedu-math``: anything else), and the widget
  manager gets the MathJax 2 call it still makes (``book/_static/bertedu.js``).  MathJax is loaded on every
  page (html assets policy "always"), since a page's only math may sit in such an output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.transforms.post_transforms import SphinxPostTransform
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
ALLOW_CDN = "BERTEDU_ALLOW_CDN"
FIX = ("run `python tools/vendor_js.py` (needs npm: `apt-get install npm`), or set BERTEDU_ALLOW_CDN=1 "
       "to build pages that need the network (they say so)")
CDN_NOTICE = ("This copy of the book was built without its JavaScript: math, widgets and attention views "
              "load from public CDNs and do not render offline. Rebuild with <code>bash tools/build-book.sh</code> "
              "after <code>python tools/vendor_js.py</code>.")

SOLUTION_TAG = "solution"
SOLUTION_SHOW = "Show solution / 查看答案"
SOLUTION_HIDE = "Hide solution / 收起答案"
CAPTION = re.compile(r"Figure (\d+)\.")
MATH_CLASSES = "bertedu-tabs|bertedu-math"


def vendored(confdir: str | Path) -> bool:
    """True when every vendored file is present under ``<confdir>/_vendor/html/vendor``."""
    base = Path(confdir) / VENDOR_ROOT / VENDOR_DIR
    return all((base / name).is_file() for name in REQUIRED)


def _configure(app: Sphinx, config: Config) -> None:
    if not vendored(app.confdir):
        if os.environ.get(ALLOW_CDN) != "1":
            raise ConfigError(f"bertedu: the book's JavaScript is not vendored in _vendor/html/vendor: {FIX}.")
        # a notice, not a Sphinx warning: -W builds with the explicit opt-in must pass
        logger.info(f"\n*** bertedu NOTICE: {ALLOW_CDN}=1 and no vendored JavaScript: the pages load MathJax, "
                    "require.js, the widget manager, d3 and jquery from public CDNs and say so on every page.\n",
                    color="yellow")
        options = dict(config.html_theme_options or {})
        options["announcement"] = f'<span class="bertedu-cdn-notice">{CDN_NOTICE}</span>'
        config.html_theme_options = options
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


def _mathjax(app: Sphinx) -> None:
    """After myst-parser set its classes: also typeset $...$ inside the book's HTML outputs."""
    cfg = app.config.mathjax3_config
    if not isinstance(cfg, dict):
        return
    options = cfg.setdefault("options", {})
    classes = options.get("processHtmlClass", "tex2jax_process|mathjax_process|math|output_area")
    options["processHtmlClass"] = f"{classes}|{MATH_CLASSES}"
    tex = cfg.setdefault("tex", {})
    tex.setdefault("inlineMath", [["\\(", "\\)"], ["$", "$"]])
    tex.setdefault("processEscapes", True)       # \$ is a literal dollar
    # jupyterquiz reads MathJax.version[0] 500 ms after drawing a quiz; when the (deferred) MathJax has not
    # replaced this configuration object yet, `undefined[0]` threw, and had it found "3" without typeset()
    # it would have swapped in MathJax from a CDN.  An empty version (falsy: MathJax still starts normally)
    # makes jupyterquiz do nothing; the page-wide typeset covers the quiz (.bertedu-tabs).
    cfg.setdefault("version", "")


class CodeCells(SphinxPostTransform):
    """Number code cells as in the notebook (class ``nbcell-N``, N = the cell's 1-based position among all
    cells, for the page check's reports) and render cells tagged ``solution`` collapsed, once, under
    "Show solution / 查看答案"."""

    default_priority = 198                       # just before myst-nb's HideInputCells (199) builds <details>
    formats = ("html",)

    def run(self, **kwargs) -> None:
        for node in self.document.findall(nodes.container):
            if node.get("nb_element") != "cell_code":
                continue
            if isinstance(node.get("cell_index"), int):
                node["classes"].append(f"nbcell-{node['cell_index'] + 1}")
            tags = (node.get("cell_metadata") or {}).get("tags", [])
            if SOLUTION_TAG not in tags:
                continue
            node["hide_mode"] = "all"
            node["prompt_show"], node["prompt_hide"] = SOLUTION_SHOW, SOLUTION_HIDE
            node["classes"].append("bertedu-solution-cell")


class FigureCaptions(SphinxPostTransform):
    """Mark ``**Figure N.** ...`` paragraphs as captions, give them anchors and check the numbering."""

    default_priority = 400
    formats = ("html",)

    def run(self, **kwargs) -> None:
        expected = 1
        for para in list(self.document.findall(nodes.paragraph)):
            # the first child that is not empty text (MyST may start a paragraph with an empty Text node)
            first = next((c for c in para.children if not (isinstance(c, nodes.Text) and not c.strip())), None)
            if not isinstance(first, nodes.strong):
                continue
            match = CAPTION.fullmatch(first.astext().strip())
            if not match:
                continue
            number = int(match.group(1))
            if number != expected:
                logger.warning(f"figure caption 'Figure {number}.' where 'Figure {expected}.' was expected "
                               f"(number the captions of a page 1, 2, 3 ...)", location=para)
            expected = number + 1
            para["classes"].append("bertedu-caption")
            para["ids"].append(f"figure-{number}")


def _stale_static(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Re-write one page when a file of book/_static changed, so the build copies the new CSS/JS.

    (Sphinx copies static files only when some page is written; an edit of bertedu.css alone would otherwise
    never reach _build/html.)"""
    out = Path(app.outdir) / "_static"
    for folder in app.config.html_static_path:
        src = Path(app.confdir) / folder
        for path in src.rglob("*") if src.is_dir() else ():
            built = out / path.relative_to(src)
            if path.is_file() and (not built.is_file() or built.read_bytes() != path.read_bytes()):
                return [app.config.root_doc]
    return []


def setup(app: Sphinx) -> dict:
    """Register the config hook (runs before myst-nb and mathjax read their settings) and the transforms."""
    app.connect("config-inited", _configure, priority=900)
    app.connect("builder-inited", _mathjax, priority=900)
    app.connect("env-get-outdated", _stale_static)
    app.add_post_transform(CodeCells)
    app.add_post_transform(FigureCaptions)
    # MathJax on every page, not only on pages whose markdown has math: a knowledge card or a quiz (HTML
    # outputs) may be the only math of a page (chapter 10), and Sphinx cannot see math inside outputs
    app.set_html_assets_policy("always")
    app.add_css_file("bertedu.css")
    app.add_js_file("bertedu.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Check that the built book renders with no network: math, widgets, quizzes, tabs and bertviz views.

    python tools/check_offline.py                    # every page of _build/html/book/
    python tools/check_offline.py book/01_why_bert   # chosen pages (paths relative to _build/html, no .html)

Serves ``_build/html`` on 127.0.0.1, opens each page in headless Chromium with every non-localhost host
unresolvable, waits for the scripts, then reads the rendered DOM (``--dump-dom``) and takes a PNG
screenshot into ``_build/screenshots/``.  A bertviz self-test page (``_check/bertviz.html``) is written
into the build to exercise the vendored require.js + d3 + jquery path.  Prints what rendered and which
local files were served; exits 1 when something the page contains did not render.
Installs Debian's ``chromium`` with apt-get when it is missing (needs root).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def chromium() -> str:
    """Path of a Chromium binary, installing Debian's package if needed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    print("check_offline: installing chromium (apt-get) ...", flush=True)
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("chromium") or sys.exit("check_offline: chromium could not be installed")


class _Handler(http.server.SimpleHTTPRequestHandler):
    served: list[str] = []

    def log_message(self, fmt: str, *args) -> None:  # keep a list instead of printing
        _Handler.served.append(self.path.split("?")[0])


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    """Serve ``site`` on 127.0.0.1 (a free port) in a background thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def write_bertviz_selftest(site: Path) -> str:
    """A page with one bertviz head view (random attention over 7 tokens), loading the vendored scripts."""
    import torch

    from bertedu.notebook import bertviz_html
    from bertviz import head_view

    g = torch.Generator().manual_seed(0)
    tokens = ["[CLS]", "the", "bat", "flew", "away", ".", "[SEP]"]
    attn = tuple(torch.rand(1, 3, 7, 7, generator=g).softmax(-1) for _ in range(2))
    body = bertviz_html(head_view(attn, tokens, html_action="return").data, "head", tokens)
    page = site / "_check" / "bertviz.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(f'<!doctype html><html><head><meta charset="utf-8">'
                    f'<script src="../vendor/bertedu-vendor.js"></script></head><body>{body}</body></html>',
                    encoding="utf-8")
    return "_check/bertviz"


def inspect_page(browser: str, url: str, shot: Path, source: str, height: int = 14000) -> dict[str, object]:
    """Render one page offline; return counts of what rendered and what the page's source expects."""
    with tempfile.TemporaryDirectory() as profile:
        common = [browser, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=60000"]
        dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
        subprocess.run(common + [f"--window-size=1280,{height}", f"--screenshot={shot}", url],
                       capture_output=True, text=True, timeout=180)
    return {
        "math expected": len(re.findall(r'class="math[ "]', source)),  # Sphinx math nodes (quiz JS also holds \( )
        "math rendered (mjx-container)": dom.count("<mjx-container"),
        "widgets expected": source.count("application/vnd.jupyter.widget-view+json"),
        "widgets rendered (.widget-*)": len(re.findall(r'class="[^"]*\bwidget-', dom)),
        "quizzes expected": source.count('class="bertedu-quiz"'),
        "quiz questions rendered (.Quiz)": len(re.findall(r'class="Quiz"', dom)),
        "tabs": dom.count('class="bertedu-tabs"'),
        "bertviz expected": len(re.findall(r'id="bertviz-', source)),
        "bertviz svg": len(re.findall(r"<svg", dom)) if "bertviz-" in source else 0,
        "dom bytes": len(dom),
    }


def problems(report: dict[str, object]) -> list[str]:
    """What did not render although the page contains it."""
    out = []
    if report["math expected"] and not report["math rendered (mjx-container)"]:
        out.append("math not rendered (MathJax did not load?)")
    if report["widgets expected"] and not report["widgets rendered (.widget-*)"]:
        out.append("widgets not rendered (require.js / html-manager did not load?)")
    if report["quizzes expected"] and not report["quiz questions rendered (.Quiz)"]:
        out.append("quiz not rendered")
    if report["bertviz expected"] and not report["bertviz svg"]:
        out.append("bertviz view not rendered (d3/jquery did not load?)")
    if not report["dom bytes"]:
        out.append("chromium returned no DOM")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render the built book offline in headless Chromium")
    parser.add_argument("pages", nargs="*", help="pages relative to _build/html, without .html")
    parser.add_argument("--site", type=Path, default=SITE)
    parser.add_argument("--no-bertviz-selftest", action="store_true")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        sys.exit(f"check_offline: no built book in {args.site}; run `jupyter-book build -W --keep-going .` first")
    browser = chromium()
    pages = args.pages or sorted(str(p.relative_to(args.site).with_suffix(""))
                                 for p in (args.site / "book").glob("*.html"))
    if not args.no_bertviz_selftest:
        pages.append(write_bertviz_selftest(args.site))
    SHOTS.mkdir(parents=True, exist_ok=True)
    server, port = serve(args.site)
    failed = 0
    try:
        for page in pages:
            _Handler.served.clear()
            source = (args.site / f"{page}.html").read_text(encoding="utf-8")
            shot = SHOTS / f"{page.replace('/', '__')}.png"
            report = inspect_page(browser, f"http://127.0.0.1:{port}/{page}.html", shot, source)
            if page.startswith("_check/"):
                report["bertviz expected"] = 1
            vendor = sorted({p for p in _Handler.served if p.startswith("/vendor/")})
            bad = problems(report)
            failed += bool(bad)
            print(f"\n== {page}  ->  {shot.relative_to(ROOT)}")
            for key, value in report.items():
                print(f"   {key:34s} {value}")
            print(f"   vendored files served: {len(vendor)} ({', '.join(v[8:] for v in vendor[:6])}{' ...' if len(vendor) > 6 else ''})")
            print("   OK" if not bad else "   PROBLEMS: " + "; ".join(bad))
    finally:
        server.shutdown()
    print(f"\ncheck_offline: {len(pages) - failed} page(s) OK, {failed} with problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

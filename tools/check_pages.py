"""Open every page of the built book in headless Chromium, offline, and check what a reader sees.

    python tools/check_pages.py                          # every page of _build/html/book/ + a bertviz self-test
    python tools/check_pages.py book/03_embeddings       # one page (path relative to _build/html, no .html)
    python tools/check_pages.py --shots _build/screenshots --json _build/check_pages.json
    python tools/check_pages.py --strict book/03_embeddings   # judge a page as converted, whatever the list says

Serves ``_build/html`` on 127.0.0.1 and drives Chromium over the DevTools protocol (``tools/cdp.py``) with every
other host unresolvable.  Per page, at 1280 px (light), then dark mode, then 390 px (phone):

  infrastructure (always a failure)            content (a failure on pages listed in tools/site_strict.txt;
                                                reported as TODO on the others)
  load     the page loads, no unexpected JS error   raw-tex   no `\\(`, `$..$`, `\\cmd` in text outside code/math
  offline  nothing is fetched from the network      plumbing  no plumbing code on show (see PLUMBING_CALLS)
  math     every Sphinx math node is typeset        solution  solutions collapsed, shown once
  widget   every widget view is drawn (non-empty)   code-scroll  <= 3 code cells scroll sideways at 1280 px
  bertviz  every bertviz view draws its SVG         figure-dpi   naturalWidth >= 1.5 x shown width (2x PNG/SVG)
  quiz     one option of each quiz, EN and 中文,      caption   every figure has a "**Figure N.**" caption; the
           clicked with the mouse shows feedback              page opens with a figure before its first section
  phone    no page-level sideways scroll at 390 px  bertviz-layout  views fit the column, count from 1
  dark     card text, inline code, tabs, quiz text
           contrast >= 4.5 in dark mode

``--shots DIR`` saves, per page: the first screen (light, dark, phone), full-page tiles, and crops of the first
figure, widget, bertviz view, knowledge card, each quiz (after a click, EN and 中文) and the exercises.
Exit status 1 when any failure (not TODO) was found, 2 when the site or Chromium is missing.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import functools
import http.server
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp import Browser, CDPError, find_chromium  # noqa: E402
from bertedu._io import OneLineParser  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
STRICT_LIST = ROOT / "tools" / "site_strict.txt"
JS = (Path(__file__).resolve().parent / "check_pages.js").read_text(encoding="utf-8")
DESKTOP, PHONE = 1280, 390
MAX_SCROLLING_CELLS = 3
MIN_DPI_RATIO = 1.5
MIN_CONTRAST = 4.5
TILE = 1800                      # full-page screenshot tiles, CSS px

INFRA = ("load", "offline", "math", "widget", "bertviz", "quiz", "phone", "dark")
CONTENT = ("raw-tex", "plumbing", "solution", "code-scroll", "figure-dpi", "caption", "bertviz-layout")
# Console errors every page of a Jupyter Book 1.x site shows and that break nothing: sphinx-thebe's config
# script is included twice, and pydata's theme switcher has no stored mode on a fresh profile.
BENIGN_CONSOLE = ("'THEBE_JS_URL' has already been declared", "Got invalid theme mode")

# --------------------------------------------------------------------------------------------- judging
TEX = [
    (re.compile(r"\\[()\[\]]"), "a \\( \\) \\[ \\] delimiter"),
    (re.compile(r"(?<![\\$\w])\$(?=[^\s$])[^$\n]{1,200}?(?<=[^\s\\$])\$(?![\w$])"), "$...$"),
    (re.compile(r"\\(?:[a-zA-Z]{2,})(?![a-zA-Z])"), "a TeX command"),
    (re.compile(r"[_^]\{"), "a _{ or ^{"),
]

# A code cell is plumbing when it only imports display helpers, seeds, configures output or calls a display
# helper whose *output* is what the reader needs.  Such cells must be tagged remove-input (or remove-cell).
PLUMBING_CALLS = {"quiz", "knowledge_card", "show_source", "paper_quote", "setup_matplotlib",
                  "set_matplotlib_formats", "seed", "manual_seed", "filterwarnings", "disable_progress_bar",
                  "set_verbosity_error", "display_quiz", "simplefilter"}   # solution(…): see the solution check
PLUMBING_MODULES = ("bertedu.notebook", "IPython", "matplotlib_inline", "warnings", "random", "jupyterquiz")
PLUMBING_TAGS = ("colab-setup",)


def raw_tex(text: str) -> str | None:
    """What raw TeX ``text`` shows (a reader-facing description), or None."""
    for pattern, name in TEX:
        match = pattern.search(text)
        if match:
            return f"{name}: …{text[max(0, match.start() - 25):match.end() + 25].strip()}…"
    return None


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Expr):
        node = node.value
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return None


def plumbing(code: str, tags: list[str] | tuple[str, ...] = ()) -> str | None:
    """Why a visible code cell is plumbing (a reason naming the call), or None if it teaches something."""
    for tag in tags:
        if tag in PLUMBING_TAGS:
            return f"a cell tagged {tag}"
    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    magics = len(lines) != len(code.splitlines())
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    helpers, helper_imports = [], 0
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            # importing the library is part of the lesson; importing display helpers is not
            names = [stmt.module or ""] if isinstance(stmt, ast.ImportFrom) else [a.name for a in stmt.names]
            helper_imports += all(n.startswith(PLUMBING_MODULES) for n in names)
            continue
        name = _call_name(stmt)
        if name in PLUMBING_CALLS:
            helpers.append(name)
            continue
        return None                # a real statement: the cell teaches something
    if helpers:
        return "only " + ", ".join(f"{h}(…)" for h in dict.fromkeys(helpers)) + " (and imports)"
    if magics or (helper_imports and helper_imports == len(tree.body)):
        return "only display-helper imports or notebook magics"
    return None


@dataclasses.dataclass
class Finding:
    kind: str
    detail: str

    @property
    def infra(self) -> bool:
        return self.kind in INFRA


def _at(item: dict) -> str:
    cell = f"notebook cell {item['cell']}" if item.get("cell") else "page"
    section = f" (§ {item['section']})" if item.get("section") else ""
    return cell + section


def judge(data: dict[str, Any]) -> list[Finding]:
    """Turn one page's measurements into findings (pure: tests feed it hand-made data)."""
    out: list[Finding] = []
    add = lambda kind, detail: out.append(Finding(kind, detail))  # noqa: E731
    if data.get("error"):
        add("load", data["error"])
        return out
    for msg in data.get("console", []):
        if not any(b in msg for b in BENIGN_CONSOLE):
            add("load", f"JavaScript error: {msg[:200]}")
    for url in data.get("external", []):
        add("offline", f"the page tried to fetch {url[:120]}")
    if data.get("cdn_notice"):
        add("offline", "the page shows the CDN notice (built with BERTEDU_ALLOW_CDN=1, no vendored JavaScript)")
    exp, got = data["ready"]["expected"], data["ready"]["rendered"]
    if got["math"] < exp["math"]:
        add("math", f"{exp['math'] - got['math']} of {exp['math']} math nodes not typeset (MathJax did not load?)")
    for w in data.get("widgets", []):
        if not w["rendered"]:
            add("widget", f"{_at(w)}: widget view not drawn (require.js / widget manager did not load?)")
    for v in data.get("bertviz", []):
        if not v["elements"] or not v["height"]:
            add("bertviz", f"{_at(v)}: bertviz {v['view']} view is empty (d3/jquery did not load?)")
        else:
            if v["overflow"]:
                add("bertviz-layout", f"{_at(v)}: the {v['view']} view ({v['width']:.0f} px) is wider than the column "
                                      f"({v['column']:.0f} px)")
            if v["view"] == "head" and v.get("heads", 0) > 2:
                add("bertviz-layout", f"{_at(v)}: the head view overlays {v['heads']} heads at once (show one by "
                                      f"default; the reader adds more by clicking the colours)")
            if v["first_option"] is not None and v["first_option"].strip() == "0":
                add("bertviz-layout", f"{_at(v)}: the {v['view']} view counts layers from 0 (the book counts from 1)")
    if got["quizzes"] < exp["quizzes"]:
        add("quiz", f"{exp['quizzes'] - got['quizzes']} of {exp['quizzes']} quizzes not drawn")
    for q in data.get("quizzes", []):
        for lang in ("en", "zh"):
            fb = q.get(lang) or {}
            if not fb.get("text"):
                add("quiz", f"{_at(q)}: clicking a {lang} option showed no feedback ({fb.get('why', 'empty')})")
            elif fb.get("raw"):
                add("raw-tex", f"{_at(q)}: {lang} quiz feedback shows raw TeX: {fb['text'][:80]}")
    over = data.get("phone") or {}
    if over and over["scroll"] > over["client"] + 1:
        who = "; ".join(f"{c['tag']}.{c['cls'].split(' ')[0]} at {_at(c)} to x={c['right']}"
                        for c in over["culprits"][:4])
        add("phone", f"the page is {over['scroll']} px wide at {over['client']} px: {who or 'unknown element'}")
    for name, group in (data.get("contrast") or {}).items():
        worst = group["worst"]
        if worst and worst["contrast"] < MIN_CONTRAST:
            add("dark", f"{name}: contrast {worst['contrast']} < {MIN_CONTRAST} ({worst['color']} on "
                        f"{worst['background']}, '{worst['text']}', {_at(worst)})")

    # ---- content
    for t in data.get("texts", []):
        why = raw_tex(t["text"])
        if why:
            around = t.get("context", "")
            add("raw-tex", f"{_at(t)}: {why}" + (f" in '{around[:100]}'" if around and around != t["text"] else ""))
    for c in data.get("inputs", []):
        if not c["visible"]:
            continue
        why = plumbing(c["code"], c.get("tags", []))
        if why:
            first = c["code"].strip().splitlines()[0][:70] if c["code"].strip() else ""
            fix = "add the tag remove-cell" if "colab-setup" in why else "tag the cell remove-input"
            add("plumbing", f"{_at(c)}: `{first}` is plumbing ({why}): {fix}")
        elif re.search(r"\bsolution\(", c["code"]):
            add("solution", f"{_at(c)}: solution(…) prints the answer in the cell above 'Show solution': "
                            f"make it a code cell tagged `solution`")
        if "solution" in c.get("tags", []):
            add("solution", f"{_at(c)}: a cell tagged solution shows its code before the click")
    sol = data.get("solutions") or {}
    for s in sol.get("helper_output", []):
        add("solution", f"{_at(s)}: output of the old solution(…) helper (code shown twice)")
    for s in sol.get("open_at_load", []):
        add("solution", f"{_at(s)}: solution open at load")
    scroll = data.get("scrolling", [])
    cells = {(s["cell"], s["part"]) for s in scroll}
    if len({c for c, _ in cells}) > MAX_SCROLLING_CELLS:
        worst = sorted(scroll, key=lambda s: -s["longest"])[:5]
        add("code-scroll", f"{len({c for c, _ in cells})} code cells scroll sideways at {DESKTOP} px (at most "
                           f"{MAX_SCROLLING_CELLS}): " + ", ".join(f"cell {s['cell']} {s['part']} "
                                                                   f"{s['longest']} cols" for s in worst))
    for f in data.get("figures", []):
        if f["svg"] or not f["shown"]:
            continue
        if f["natural"] < MIN_DPI_RATIO * f["shown"]:
            add("figure-dpi", f"{_at(f)}: {f['src']} is {f['natural']} px shown at {f['shown']} px "
                              f"({f['natural'] / f['shown']:.2f}x < {MIN_DPI_RATIO}x: save it at 2x)")
    cap = data.get("captions") or {}
    for item in cap.get("items", []):
        if not item["captioned"]:
            add("caption", f"{_at(item)}: figure without a '**Figure N.**' caption right after it")
    if cap and cap.get("has_h2") and not cap.get("opening") and data.get("inputs"):   # chapters: pages with code
        add("caption", "no opening figure before the first section")
    return out


# --------------------------------------------------------------------------------------------- browser
class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt: str, *args: Any) -> None:   # quiet
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def write_bertviz_selftest(site: Path) -> str | None:
    """A page with one bertviz head view (random attention over 7 tokens) that loads the vendored scripts."""
    try:
        import torch
        from bertviz import head_view

        from bertedu.notebook import bertviz_html
    except ImportError as err:
        print(f"check_pages: no bertviz self-test ({err})")
        return None
    g = torch.Generator().manual_seed(0)
    tokens = ["[CLS]", "the", "bat", "flew", "away", ".", "[SEP]"]
    attn = tuple(torch.rand(1, 3, 7, 7, generator=g).softmax(-1) for _ in range(2))
    body = bertviz_html(head_view(attn, tokens, html_action="return").data, "head", tokens)
    page = site / "_check" / "bertviz.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text('<!doctype html><html><head><meta charset="utf-8">'
                    '<script src="../vendor/bertedu-vendor.js"></script></head>'
                    f'<body><div class="bd-article">{body}</div></body></html>', encoding="utf-8")
    return "_check/bertviz"


class Shots:
    """Screenshots for review: viewport captures after scrolling (no full-page re-layout, which is slow)."""

    HEADER = 120               # the sticky headers cover the top of the viewport: start a crop below them

    def __init__(self, b: Browser, folder: Path | None, stem: str) -> None:
        self.b, self.folder, self.stem = b, folder, stem

    async def screen(self, name: str) -> None:
        """The first screen (the page scrolled to the top)."""
        if self.folder is None:
            return
        await self.b.js("window.scrollTo({top: 0, behavior: 'instant'})")
        await self.b.screenshot(self.folder / f"{self.stem}__{name}.png")

    async def region(self, name: str, box: dict | None, width: int, height: int) -> None:
        """A crop of the page around ``box`` (page coordinates), at most one viewport tall."""
        if self.folder is None or not box:
            return
        from PIL import Image       # matplotlib's dependency: crop a viewport capture (a clip is unreliable)

        top = max(0, box["y"] - self.HEADER)
        scrolled = await self.b.js(f"(window.scrollTo({{top: {top}, behavior: 'instant'}}), window.scrollY)")
        y = max(0, int(box["y"] - 8 - scrolled))
        h = int(min(box["height"] + 16, height - y))
        if h <= 20:
            return
        path = self.folder / f"{self.stem}__{name}.png"
        await self.b.screenshot(path)
        with Image.open(path) as img:
            img.crop((0, y, min(width, img.width), min(y + h, img.height))).save(path)

    async def tiles(self, page_height: int) -> None:
        """The whole page in viewport-tall tiles (overlapping by the sticky header)."""
        if self.folder is None:
            return
        await self.b.viewport(DESKTOP, TILE)
        step = TILE - self.HEADER
        for i, y in enumerate(range(0, max(page_height - self.HEADER, 1), step)):
            await self.b.js(f"window.scrollTo({{top: {y}, behavior: 'instant'}})")
            await self.b.screenshot(self.folder / f"{self.stem}__9-tile-{i + 1:02d}.png")
        await self.b.viewport(DESKTOP, 900)


async def _click(b: Browser, selector: str, root: str) -> bool:
    point = await b.js(f"__bertedu_check.pointOf({json.dumps(selector)}, {json.dumps(root)})")
    if not point:
        return False
    await b.click(point["x"], point["y"])
    await asyncio.sleep(0.05)
    return True


async def inspect(b: Browser, url: str, page: str, shots: Path | None, tiles: bool) -> dict[str, Any]:
    """Measure one page (see the module docstring); returns the data ``judge`` reads."""
    shot = Shots(b, shots, page.replace("/", "__"))
    data: dict[str, Any] = {}
    external: list[str] = []
    b.on_request = lambda u: external.append(u) if not u.startswith(("http://127.0.0.1", "data:", "blob:",
                                                                      "about:", "chrome")) else None
    await b.goto(url, DESKTOP, 900)
    await b.js(JS)
    data["ready"] = await b.js("__bertedu_check.ready(15000)", timeout=30)
    for key, fn in (("texts", "texts"), ("inputs", "cellInputs"), ("solutions", "solutions"),
                    ("scrolling", "scrolling"), ("figures", "figures"), ("captions", "captions"),
                    ("widgets", "widgets"), ("bertviz", "bertviz"), ("cdn_notice", "cdnNotice")):
        data[key] = await b.js(f"__bertedu_check.{fn}()")
    boxes = await b.js("__bertedu_check.shotBoxes()")
    await shot.screen("1-first-screen")
    for part in ("figure", "widget", "bertviz", "card", "exercises"):
        await shot.region(f"2-{part}", boxes.get(part), DESKTOP, 900)
    if tiles:
        await shot.tiles(int(boxes["height"]))

    quizzes = []
    for n, target in enumerate(await b.js("__bertedu_check.quizTargets()")):
        q = dict(target)
        tid = target["id"]
        for lang in ("en", "zh"):
            if lang == "zh" and not await _click(b, f"label[for='{tid}-zh']", tid):
                q[lang] = {"why": "no 中文 tab"}
                continue
            if not await _click(b, f".bertedu-panel-{lang} .MCButton", tid):
                q[lang] = {"why": f"no {lang} option to click"}
                continue
            for _ in range(20):            # the answer appears within a frame or two; allow a loaded machine 2 s
                q[lang] = await b.js(f"__bertedu_check.feedback({json.dumps(tid)}, '{lang}')")
                if q[lang].get("text"):
                    break
                await asyncio.sleep(0.1)
            if n == 0 and shots is not None:
                await asyncio.sleep(0.6)              # the answer's colour animation
                box = await b.js(f"(() => {{ const r = document.getElementById({json.dumps(tid)})"
                                 f".getBoundingClientRect(); return {{y: r.top + scrollY, height: r.height}}; }})()")
                await shot.region(f"3-quiz-{lang}", box, DESKTOP, 900)
        quizzes.append(q)
    data["quizzes"] = quizzes

    await asyncio.sleep(0.8 if quizzes else 0)       # let jupyterquiz's answer animations finish
    await b.js("__bertedu_check.theme('dark')")
    await asyncio.sleep(0.1)
    data["contrast"] = await b.js("__bertedu_check.contrasts()")
    await shot.screen("4-dark-first-screen")
    await shot.region("4-dark-card", (await b.js("__bertedu_check.shotBoxes()")).get("card"), DESKTOP, 900)
    await b.js("__bertedu_check.theme('light')")

    await b.viewport(PHONE, 844, mobile=True)
    await b.js("window.scrollTo({top: 0, behavior: 'instant'})")
    await asyncio.sleep(0.2)
    data["phone"] = await b.js("__bertedu_check.overflow()")
    await shot.screen("5-phone-first-screen")
    data["console"] = list(b.console)
    data["external"] = sorted(set(external))
    return data


def strict_pages(path: Path) -> set[str]:
    """Pages judged as converted (content checks are failures), one per line; # starts a comment."""
    if not path.is_file():
        return set()
    return {ln.split("#", 1)[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()} - {""}


def report(page: str, findings: list[Finding], strict: bool, data: dict[str, Any], seconds: float) -> int:
    """Print one page's report; return the number of failures (TODOs do not count)."""
    r = data.get("ready", {})
    exp, got = r.get("expected", {}), r.get("rendered", {})
    mode = "strict" if strict else f"report-only (not in {STRICT_LIST.relative_to(ROOT)})"
    print(f"\n== {page}   [{mode}]   {seconds:.1f} s")
    if exp:
        q = data.get("quizzes", [])
        clicked = sum(bool((x.get("en") or {}).get("text")) + bool((x.get("zh") or {}).get("text")) for x in q)
        print(f"   rendered: math {got['math']}/{exp['math']}, widgets {got['widgets']}/{exp['widgets']}, "
              f"bertviz {got['bertviz']}/{exp['bertviz']}, quizzes {got['quizzes']}/{exp['quizzes']} "
              f"(feedback after {clicked}/{2 * len(q)} clicks); figures {len(data.get('figures', []))}, "
              f"code cells scrolling {len({s['cell'] for s in data.get('scrolling', [])})}")
    contrast = data.get("contrast") or {}
    if contrast:
        print("   dark mode, lowest contrast: " + ", ".join(
            f"{name} {g['worst']['contrast']}" for name, g in contrast.items() if g.get("worst")))
    failures = 0
    for f in sorted(findings, key=lambda f: (not f.infra, f.kind)):
        fail = f.infra or strict
        failures += fail
        print(f"   {'FAIL' if fail else 'TODO'} {f.kind:14s} {f.detail}")
    if not findings:
        print("   OK")
    return failures


async def run(pages: list[str], site: Path, binary: str, shots: Path | None, tiles: bool,
              strict_all: bool, strict_set: set[str], json_out: Path | None) -> int:
    server, port = serve(site)
    total, summary, dump = 0, {}, {}
    t_all = time.time()
    try:
        async with Browser(binary) as b:
            await b.call("Network.enable")
            for page in pages:
                t0 = time.time()
                try:
                    data = await inspect(b, f"http://127.0.0.1:{port}/{page}.html", page, shots, tiles)
                except (CDPError, asyncio.TimeoutError) as err:
                    data = {"error": f"the page could not be checked: {type(err).__name__}: {err}"}
                findings = judge(data)
                strict = strict_all or page in strict_set
                total += report(page, findings, strict, data, time.time() - t0)
                summary[page] = (strict, findings)
                dump[page] = {"strict": strict, "findings": [dataclasses.asdict(f) for f in findings]}
    finally:
        server.shutdown()
    kinds = [k for k in INFRA + CONTENT if any(f.kind == k for _, fs in summary.values() for f in fs)]
    if kinds:
        print("\nfindings per page (F = failure, T = TODO on a page not yet converted):")
        print(f"   {'page':28s} " + " ".join(f"{k[:11]:>11s}" for k in kinds))
        for page, (strict, fs) in summary.items():
            cells = []
            for k in kinds:
                n = sum(f.kind == k for f in fs)
                cells.append(f"{(str(n) + ('F' if (k in INFRA or strict) else 'T')) if n else '.':>11s}")
            print(f"   {page[:28]:28s} " + " ".join(cells))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(dump, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"\ncheck_pages: {len(pages)} page(s) in {time.time() - t_all:.0f} s, {total} failure(s)"
          + (f"; screenshots in {shots}" if shots else ""))
    return 1 if total else 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description="check the built book in headless Chromium, offline")
    parser.add_argument("pages", nargs="*", help="pages relative to the site, without .html (default: book/*)")
    parser.add_argument("--site", type=Path, default=SITE, help="the built site (default: _build/html)")
    parser.add_argument("--shots", type=Path, help="save screenshots into this folder")
    parser.add_argument("--no-tiles", action="store_true", help="with --shots: skip the full-page tiles")
    parser.add_argument("--strict", action="store_true", help="judge every page as converted")
    parser.add_argument("--strict-list", type=Path, default=STRICT_LIST,
                        help="pages judged as converted, one a line (default: tools/site_strict.txt)")
    parser.add_argument("--json", type=Path, help="write the findings as JSON here")
    parser.add_argument("--no-bertviz-selftest", action="store_true")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"check_pages: no built book in {args.site}; run `bash tools/build-book.sh` first")
        return 2
    binary = find_chromium()
    if binary is None:
        print("check_pages: chromium not found; install it with `apt-get install -y chromium fonts-noto-cjk`")
        return 2
    pages = args.pages or sorted(str(p.relative_to(args.site).with_suffix(""))
                                 for p in (args.site / "book").glob("*.html"))
    missing = [p for p in pages if not (args.site / f"{p}.html").is_file()]
    if missing:
        print(f"check_pages: no such page(s) in {args.site}: {', '.join(missing)}")
        return 2
    if not args.pages and not args.no_bertviz_selftest:
        selftest = write_bertviz_selftest(args.site)
        pages += [selftest] if selftest else []
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(pages, args.site, binary, args.shots, not args.no_tiles, args.strict,
                           strict_pages(args.strict_list), args.json))


if __name__ == "__main__":
    sys.exit(main())

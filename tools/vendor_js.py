"""Fetch pinned copies of the book's JavaScript so the built book works with no network.

    python tools/vendor_js.py            # fetch (cached in _vendor/npm/) and extract into _vendor/html/vendor/
    python tools/vendor_js.py --check    # exit 1 unless every file is in place

Uses ``npm pack`` (the npm registry) for each pinned package, then extracts only the files the pages need:

| package (pinned)                     | why                                                         |
|--------------------------------------|-------------------------------------------------------------|
| requirejs 2.3.6                      | AMD loader for the widget manager and bertviz (bertviz pins 2.3.6) |
| @jupyter-widgets/html-manager 1.0.15 | renders ipywidgets on static pages (ipywidgets 8 = manager 1.x)   |
| mathjax 3.2.2                        | math in markdown and quizzes                                  |
| d3 5.7.0, jquery 2.1.0               | bertviz's head/model views (bertviz asks for d3 5.7.0, jquery 2.x) |

``_vendor/`` is ignored by git.  The Sphinx extension ``tools/bertedu_sphinx.py`` serves these copies and
fails the build without them.  Without npm (or without the registry) this script exits 1 with one line saying
what to do; with ``BERTEDU_ALLOW_CDN=1`` it exits 0 instead and the pages load the public CDNs (every page then
shows a notice).  Already vendored (same pins): nothing to do; packages already in ``_vendor/npm/`` need no npm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from bertedu._io import OneLineParser

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_vendor" / "npm"
OUT = ROOT / "_vendor" / "html" / "vendor"

# package spec -> list of (path inside the tarball's "package/" folder, destination under OUT, is_prefix)
PACKAGES: dict[str, list[tuple[str, str, bool]]] = {
    "requirejs@2.3.6": [("require.js", "require.js", False)],
    "d3@5.7.0": [("dist/d3.min.js", "d3.min.js", False)],
    "jquery@2.1.0": [("dist/jquery.min.js", "jquery.min.js", False)],
    # embed-amd.js plus the font files its CSS refers to (FontAwesome icons on buttons)
    "@jupyter-widgets/html-manager@1.0.15": [("dist/", "html-manager/", True)],
    # the combined TeX+MathML -> CommonHTML component and what it may load on demand (extensions, fonts)
    "mathjax@3.2.2": [("es5/", "mathjax/", True)],
}
SKIP_SUFFIXES = (".map", ".LICENSE.txt", "embed.js", "libembed-amd.js")
MATHJAX_SKIP = ("svg", "-full.js", "mml-svg", "node-main")

STAMP = ROOT / "_vendor" / "pins.txt"   # the pinned specs the folder was made from (outside the site)
ALLOW_CDN = "BERTEDU_ALLOW_CDN"
VENDOR_JS = """// Written by tools/vendor_js.py: tells bertedu's bertviz views where the vendored scripts are.
window.BERTEDU_VENDOR = new URL('.', document.currentScript.src).href;
"""


def _tarball_name(spec: str) -> str:
    name, version = spec.rsplit("@", 1)
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def fetch(spec: str) -> Path:
    """``npm pack`` one pinned package into the cache (skipped when already cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / _tarball_name(spec)
    if not target.is_file():
        subprocess.run(["npm", "pack", "--silent", spec], cwd=CACHE, check=True, timeout=300,
                       stdout=subprocess.DEVNULL)
    if not target.is_file():
        raise RuntimeError(f"npm pack {spec} did not produce {target.name}")
    return target


def _wanted(spec: str, member: str) -> str | None:
    """Destination of a tarball member, or None if the page does not need it."""
    if not member.startswith("package/"):
        return None
    rel = member[len("package/"):]
    for src, dst, prefix in PACKAGES[spec]:
        if prefix and rel.startswith(src) and not rel.endswith(SKIP_SUFFIXES):
            rest = rel[len(src):]
            if spec.startswith("mathjax") and any(s in rest for s in MATHJAX_SKIP):
                return None
            return dst + rest
        if not prefix and rel == src:
            return dst
    return None


def extract(spec: str, tarball: Path) -> int:
    """Copy the needed files of one package into OUT; return how many were written."""
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            dst = _wanted(spec, member.name) if member.isfile() else None
            if dst is None:
                continue
            path = OUT / dst
            path.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(path, "wb") as out:  # type: ignore[union-attr]
                shutil.copyfileobj(src, out)
            count += 1
    return count


def check() -> bool:
    """True when every file the Sphinx extension needs is in place."""
    sys.path.insert(0, str(ROOT / "tools"))
    from bertedu_sphinx import vendored

    return vendored(ROOT)


def _pins() -> str:
    return "\n".join(PACKAGES) + "\n"


def _give_up(why: str) -> int:
    """One line saying what is wrong and how to fix it; exit 0 only with the explicit CDN opt-in."""
    if os.environ.get(ALLOW_CDN) == "1":
        print(f"vendor_js NOTICE: {why}; {ALLOW_CDN}=1, so the book will load its JavaScript from public CDNs "
              f"(every page says so).")
        return 0
    print(f"vendor_js: {why}, so the pages would need the network for math, widgets and bertviz: install npm "
          f"(`apt-get install npm`) and re-run `python tools/vendor_js.py`, or set {ALLOW_CDN}=1 to build "
          f"pages that load public CDNs and say so.")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the vendored files exist")
    parser.add_argument("--force", action="store_true", help="extract again even if the folder is up to date")
    args = parser.parse_args(argv)
    if args.check:
        ok = check()
        print("vendor_js: all vendored files present" if ok else "vendor_js: vendored files missing")
        return 0 if ok else 1
    if not args.force and check() and STAMP.is_file() and STAMP.read_text(encoding="utf-8") == _pins():
        print(f"vendor_js: up to date ({OUT.relative_to(ROOT)})")
        return 0
    cached = all((CACHE / _tarball_name(spec)).is_file() for spec in PACKAGES)
    if not cached and shutil.which("npm") is None:
        return _give_up("npm not found")
    if OUT.exists():
        shutil.rmtree(OUT)
    try:
        for spec in PACKAGES:
            n = extract(spec, fetch(spec))
            print(f"vendor_js: {spec:40s} {n:4d} files")
    except (subprocess.SubprocessError, OSError, RuntimeError, tarfile.TarError) as err:
        shutil.rmtree(OUT, ignore_errors=True)   # never leave a half-vendored folder (the build would use it)
        return _give_up(f"could not fetch the packages from the npm registry ({err})")
    (OUT / "bertedu-vendor.js").write_text(VENDOR_JS, encoding="utf-8")
    STAMP.write_text(_pins(), encoding="utf-8")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"vendor_js: done, {size / 1e6:.1f} MB in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

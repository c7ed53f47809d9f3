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

``_vendor/`` is ignored by git.  The Sphinx extension ``tools/bertedu_sphinx.py`` switches the build to these
copies when they are present.  Without npm (or without network) this script prints a notice and exits 0:
the book then builds against the public CDNs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the vendored files exist")
    args = parser.parse_args(argv)
    if args.check:
        ok = check()
        print("vendor_js: all vendored files present" if ok else "vendor_js: vendored files missing")
        return 0 if ok else 1
    if shutil.which("npm") is None:
        print("vendor_js NOTICE: npm not found; the book will load its JavaScript from public CDNs.")
        return 0
    if OUT.exists():
        shutil.rmtree(OUT)
    try:
        for spec in PACKAGES:
            n = extract(spec, fetch(spec))
            print(f"vendor_js: {spec:40s} {n:4d} files")
    except (subprocess.SubprocessError, OSError, RuntimeError, tarfile.TarError) as err:
        shutil.rmtree(OUT, ignore_errors=True)   # never leave a half-vendored folder (the build would use it)
        print(f"vendor_js NOTICE: could not fetch from the npm registry ({err}); "
              f"the book will load its JavaScript from public CDNs.")
        return 0
    (OUT / "bertedu-vendor.js").write_text(VENDOR_JS, encoding="utf-8")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"vendor_js: done, {size / 1e6:.1f} MB in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Find, download and verify the book's data sets (BERT paper, Section 3.1 "Pre-training data" and 4).

A data set registered in :mod:`bertedu.datasets.registry` is looked for in this order:

1. ``$BERTEDU_DATA/<folder>`` -- a local copy with the layout of the project's shared data folder
   (CI and developers point ``BERTEDU_DATA`` at it);
2. otherwise the user cache (``$BERTEDU_CACHE`` or ``~/.cache/bertedu``), filled on first use by a
   download from the data set's public home, checked file by file against the registered sha256 sums
   (a file whose sum differs is never kept);
3. otherwise a :class:`FileNotFoundError` that says how to get the data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

from bertedu.datasets.registry import DataFile, DatasetInfo, dataset_info

Fetch = Callable[[str, Path], None]
"""``fetch(url, dest)`` writes the bytes at ``url`` into the file ``dest``."""


def cache_root() -> Path:
    """Where downloads go: ``$BERTEDU_CACHE`` if set, else ``~/.cache/bertedu``."""
    env = os.environ.get("BERTEDU_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bertedu"


CHECKOUT = Path(__file__).resolve().parents[2]  # bertedu/datasets/download.py -> the repository (or site-packages)


def data_roots() -> list[Path]:
    """Where shared data sets are looked for first: ``$BERTEDU_DATA`` if set, else the project's layout,
    a ``shared/data`` folder beside the checkout (``<checkout>/../shared/data``), when it exists."""
    if os.environ.get("BERTEDU_DATA"):
        return [Path(os.environ["BERTEDU_DATA"]).expanduser()]
    beside = CHECKOUT.parent / "shared" / "data"
    return [beside] if beside.is_dir() else []


def _candidates(info: DatasetInfo) -> list[Path]:
    return [root / info.folder for root in data_roots() + [cache_root()]]


def _complete(folder: Path, info: DatasetInfo) -> bool:
    return all((folder / f.path).is_file() for f in info.files)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_url(url: str, dest: Path) -> None:
    """Default :data:`Fetch`: copy ``url`` (``https://`` or ``file://``) into ``dest`` with urllib."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out)


def download_dataset(name: str, root: str | os.PathLike | None = None, *,
                     fetch: Fetch | None = None) -> Path:
    """Download every file of ``name`` into ``root/<folder>`` (default: :func:`cache_root`).

    Each archive is fetched once into a temporary file; each data file is written to a temporary
    file next to its destination, checked against its sha256 and only then renamed into place
    (``os.replace`` is atomic), so a crash or a wrong file never leaves a half-written file behind.
    A checksum mismatch raises ValueError and keeps nothing.  Files already present are kept.
    ``fetch`` replaces :func:`fetch_url` (tests pass a local copier).
    """
    info = dataset_info(name)
    fetch = fetch or fetch_url
    target = Path(root if root is not None else cache_root()).expanduser() / info.folder
    todo = [f for f in info.files if not (target / f.path).is_file()]
    with tempfile.TemporaryDirectory(prefix="bertedu-") as tmp:
        fetched: dict[str, Path] = {}
        for f in todo:
            if f.url not in fetched:  # one download per archive, however many members it has
                fetched[f.url] = Path(tmp) / f"download-{len(fetched)}"
                fetch(f.url, fetched[f.url])
            _install(fetched[f.url], f, target / f.path)
    return target


def _install(source: Path, f: DataFile, dest: Path) -> None:
    """Copy ``source`` (or its zip member) to ``dest`` atomically, after checking its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if f.member is None:
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, out)
            else:
                with zipfile.ZipFile(source) as archive, archive.open(f.member) as src:
                    shutil.copyfileobj(src, out)
        got = sha256_file(part)
        if got != f.sha256:
            raise ValueError(f"checksum mismatch for {f.path} from {f.url}: expected sha256 "
                             f"{f.sha256}, got {got}; the file was not kept. The download may be "
                             "corrupt or the publisher changed the file: retry, or use BERTEDU_DATA.")
        os.replace(part, dest)
    finally:
        if os.path.exists(part):
            os.unlink(part)


def _not_found(info: DatasetInfo, looked: list[Path], why: str) -> FileNotFoundError:
    where = "\n".join(f"  - {p}" for p in looked)
    return FileNotFoundError(
        f"data set {info.name!r} not found. Looked in:\n{where}\n{why}\nTo fix it, either\n"
        f"  1. set BERTEDU_DATA to a folder with the shared data layout (it must contain "
        f"{info.folder}/), e.g. `export BERTEDU_DATA=/path/to/shared/data`, or put that folder at "
        f"{CHECKOUT.parent / 'shared' / 'data'} (beside the checkout), or\n"
        f"  2. go online and call bertedu.dataset_path({info.name!r}): it downloads from "
        f"{info.homepage} into {cache_root() / info.folder} (checksum-verified; set BERTEDU_CACHE "
        f"to choose another place).")


def dataset_path(name: str, *, download: bool = True, fetch: Fetch | None = None) -> Path:
    """Folder holding every file of data set ``name`` (see the module docstring for the order).

    >>> dataset_path("glue/SST-2")            # doctest: +SKIP
    PosixPath('/work/shared/data/glue/SST-2')
    """
    info = dataset_info(name)
    looked = _candidates(info)
    for folder in looked:
        if _complete(folder, info):
            return folder
    if not download:
        raise _not_found(info, looked, "Downloading was switched off (download=False).")
    try:
        return download_dataset(name, fetch=fetch)
    except (urllib.error.URLError, OSError) as err:  # offline, DNS, HTTP error, disk
        raise _not_found(info, looked, f"The download failed: {err}.") from err


def data_file(name: str, filename: str, *, download: bool = True) -> Path:
    """Path of one file of a data set, e.g. ``data_file("glue/SST-2", "dev.tsv")``.

    A file present in ``$BERTEDU_DATA`` or the cache is used even when the rest of its data set
    is missing; otherwise the whole data set is fetched as in :func:`dataset_path`.
    """
    info = dataset_info(name)
    entry = info.file(filename)
    for folder in _candidates(info):
        if (folder / entry.path).is_file():
            return folder / entry.path
    return dataset_path(name, download=download) / entry.path

"""Lessons in data plumbing: where the corpus comes from, how it is checked, how it becomes documents.

BERT needs a *document-level* corpus (paper Section 3.1): next sentence prediction draws IsNext
pairs from inside a document and NotNext partners from another one.  These tests pin down how the
shared files are found, how downloads are verified, and how raw text turns into documents.
"""

from __future__ import annotations

import hashlib
import io
import re
import urllib.error
import zipfile
from pathlib import Path

import pytest

import bertedu
from bertedu.datasets import corpora, download, glue, registry
from bertedu.datasets.registry import DataFile, DatasetInfo

EXPECTED_NAMES = {"wikitext-2-raw", "gutenberg", "speeches", "glue/SST-2", "glue/MRPC", "glue/RTE",
                  "glue/STS-B", "ner/conll2003", "ner/wnut17", "squad/v1.1", "squad/v2.0",
                  "multiple-choice/piqa", "intent-slot/snips"}


@pytest.fixture
def no_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No shared data and an empty private cache (returned): nothing can be found locally."""
    monkeypatch.delenv("BERTEDU_DATA", raising=False)
    monkeypatch.setattr(download, "CHECKOUT", tmp_path / "checkout")  # no shared/data beside it
    monkeypatch.setenv("BERTEDU_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_without_the_variable_the_shared_folder_beside_the_checkout_is_used(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fresh clone with ../shared beside it works with no BERTEDU_DATA (the README's commands)."""
    monkeypatch.delenv("BERTEDU_DATA", raising=False)
    monkeypatch.setenv("BERTEDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "CHECKOUT", tmp_path / "work" / "main")
    (tmp_path / "work" / "main").mkdir(parents=True)
    assert download.data_roots() == []  # nothing beside it yet
    sst = tmp_path / "work" / "shared" / "data" / "glue" / "SST-2"
    sst.mkdir(parents=True)
    for f in registry.dataset_info("glue/SST-2").files:
        (sst / f.path).parent.mkdir(parents=True, exist_ok=True)
        (sst / f.path).write_text("x")
    assert download.data_roots() == [tmp_path / "work" / "shared" / "data"]
    assert download.dataset_path("glue/SST-2", download=False) == sst
    monkeypatch.setenv("BERTEDU_DATA", str(tmp_path / "elsewhere"))  # the variable wins
    assert download.data_roots() == [tmp_path / "elsewhere"]


# ------------------------------------------------------------------------------------ registry

def test_registry_names_every_shared_data_set_with_a_sum_and_a_source() -> None:
    assert set(registry.known_datasets()) == EXPECTED_NAMES
    for name in EXPECTED_NAMES:
        info = registry.dataset_info(name)
        assert info.files, name
        for f in info.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), (name, f.path)
            assert f.url.startswith("https://") and " " not in f.url, (name, f.url)
    wiki = registry.dataset_info("wikitext-2-raw").file("wiki.valid.raw")
    assert wiki.url.endswith("wikitext-2-raw-v1.zip") and wiki.member == "wikitext-2-raw/wiki.valid.raw"
    assert registry.dataset_info("squad/v1.1").files[0].url.startswith("https://rajpurkar.github.io/")


def test_unknown_names_fail_with_the_list_of_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown data set.*glue/SST-2"):
        download.dataset_path("glue/sst2")
    with pytest.raises(ValueError, match=r"dev\.tsv"):
        download.data_file("glue/SST-2", "validation.tsv")
    with pytest.raises(TypeError, match="name"):
        registry.dataset_info(3)  # type: ignore[arg-type]


def test_embedded_sums_match_the_shared_files(data_dir: Path) -> None:
    for name in EXPECTED_NAMES:
        info = registry.dataset_info(name)
        for f in info.files:
            assert download.sha256_file(data_dir / info.folder / f.path) == f.sha256, f.path


# ------------------------------------------------------------------------- finding the files

def _touch_all(root: Path, info: DatasetInfo) -> None:
    for f in info.files:
        (root / info.folder / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / info.folder / f.path).write_text("x")


def test_bertedu_data_comes_first_then_the_cache(no_data: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    info = registry.dataset_info("multiple-choice/piqa")
    _touch_all(no_data, info)  # a complete cached copy
    assert download.dataset_path("multiple-choice/piqa", download=False) == no_data / info.folder
    shared = tmp_path / "shared"
    _touch_all(shared, info)
    monkeypatch.setenv("BERTEDU_DATA", str(shared))
    assert download.dataset_path("multiple-choice/piqa", download=False) == shared / info.folder


def test_an_incomplete_folder_is_not_used_but_its_files_are(no_data: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    partial = tmp_path / "partial"
    (partial / "glue/SST-2").mkdir(parents=True)
    (partial / "glue/SST-2/dev.tsv").write_text("sentence\tlabel\nfine .\t1\n")
    monkeypatch.setenv("BERTEDU_DATA", str(partial))
    assert download.data_file("glue/SST-2", "dev.tsv") == partial / "glue/SST-2/dev.tsv"
    assert glue.read_glue("SST-2", "dev") == [{"idx": 0, "sentence": "fine .", "label": 1}]
    with pytest.raises(FileNotFoundError):  # train.tsv is missing and downloading is off
        download.dataset_path("glue/SST-2", download=False)


def test_default_cache_is_under_the_home_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BERTEDU_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert download.cache_root() == tmp_path / ".cache" / "bertedu"


def test_not_found_message_says_how_to_get_the_data(no_data: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        download.dataset_path("glue/RTE", download=False)
    message = str(err.value)
    for needle in ("glue/RTE", "BERTEDU_DATA", "download=False", str(no_data / "glue/RTE"),
                   "go online", "BERTEDU_CACHE"):
        assert needle in message


def test_offline_download_becomes_a_helpful_file_not_found(no_data: Path) -> None:
    def offline(url: str, dest: Path) -> None:
        raise urllib.error.URLError("no network")

    with pytest.raises(FileNotFoundError, match=r"(?s)download failed.*BERTEDU_DATA") as err:
        download.dataset_path("squad/v1.1", fetch=offline)
    assert isinstance(err.value.__cause__, urllib.error.URLError)


# --------------------------------------------------------------------------------- downloads

@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DatasetInfo:
    """A registered toy data set served from file:// URLs: a plain file and two zip members."""
    server = tmp_path / "server"
    server.mkdir()
    plain, first, second = b"plain text\n", b"first member\n", b"second member\n"
    (server / "plain.txt").write_bytes(plain)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("toy/a.txt", first)
        archive.writestr("toy/b.txt", second)
    (server / "toy.zip").write_bytes(buffer.getvalue())
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    zip_url = (server / "toy.zip").as_uri()
    info = DatasetInfo("toy", "corpus/toy", "https://example.org", "CC0", (
        DataFile("plain.txt", sha(plain), (server / "plain.txt").as_uri()),
        DataFile("a.txt", sha(first), zip_url, "toy/a.txt"),
        DataFile("sub/b.txt", sha(second), zip_url, "toy/b.txt")))
    monkeypatch.setitem(registry.DATASETS, "toy", info)
    return info


def test_download_verifies_and_caches(toy: DatasetInfo, no_data: Path) -> None:
    folder = download.dataset_path("toy")  # real urllib on file:// URLs
    assert folder == no_data / "corpus/toy"
    assert (folder / "sub/b.txt").read_bytes() == b"second member\n"
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["a.txt", "b.txt", "plain.txt"]

    def must_not_fetch(url: str, dest: Path) -> None:
        raise AssertionError("a cached data set was downloaded again")

    assert download.dataset_path("toy", fetch=must_not_fetch) == folder


def test_each_archive_is_fetched_once(toy: DatasetInfo, no_data: Path) -> None:
    urls: list[str] = []

    def counting(url: str, dest: Path) -> None:
        urls.append(url)
        download.fetch_url(url, dest)

    download.download_dataset("toy", fetch=counting)
    assert sorted(urls) == sorted({f.url for f in toy.files})  # 2 fetches for 3 files


def test_a_checksum_mismatch_keeps_nothing(toy: DatasetInfo, no_data: Path, monkeypatch) -> None:
    bad = DataFile("plain.txt", "0" * 64, toy.files[0].url)
    monkeypatch.setitem(registry.DATASETS, "toy", DatasetInfo("toy", toy.folder, toy.homepage,
                                                          toy.licence, (bad,)))
    with pytest.raises(ValueError, match=r"checksum mismatch.*not kept"):
        download.dataset_path("toy")
    folder = no_data / "corpus/toy"
    assert not folder.exists() or list(folder.iterdir()) == []  # no file, no leftover .part


def test_an_interrupted_download_leaves_no_partial_file(toy: DatasetInfo, no_data: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def dies_while_copying(source, out, *args) -> None:
        out.write(b"half a fi")
        raise OSError("disk full")

    monkeypatch.setattr(download.shutil, "copyfileobj", dies_while_copying)
    with pytest.raises(FileNotFoundError, match="disk full"):
        download.dataset_path("toy", fetch=lambda url, dest: dest.write_bytes(b"irrelevant"))
    leftovers = [p for p in (no_data / "corpus/toy").rglob("*") if p.is_file()]
    assert leftovers == []


# ------------------------------------------------------------------------- sentence splitting

@pytest.mark.parametrize("text, expected", [
    ("It rained. We stayed in! Why? Nobody knows.",
     ["It rained.", "We stayed in!", "Why?", "Nobody knows."]),
    ("Mr. Darcy met Dr. Jones on St. James St. at noon.",
     ["Mr. Darcy met Dr. Jones on St. James St. at noon."]),
    ("The U.S. Army, e.g. its 3.5 divisions, moved.", ["The U.S. Army, e.g. its 3.5 divisions, moved."]),
    ("Lobsters ( H. americanus ) are blue . They turn red .",
     ["Lobsters ( H. americanus ) are blue .", "They turn red ."]),           # WikiText spacing
    ('"Stop!" she said. "Why?" 1990 was warm.', ['"Stop!" she said.', '"Why?"', "1990 was warm."]),
    ("see fig. below. he said no. Then left.", ["see fig. below. he said no.", "Then left."]),
    ("Wrapped\nacross  lines.\n\nNext one.", ["Wrapped across lines.", "Next one."]),
    ("", []),
])
def test_split_sentences_hand_worked(text: str, expected: list[str]) -> None:
    assert corpora.split_sentences(text) == expected


def test_split_sentences_loses_no_words() -> None:
    text = "A b. C d? E f! G h. I. J. K went to Mt. Fuji at 5 p.m. Then slept."
    assert " ".join(corpora.split_sentences(text)).split() == text.split()
    with pytest.raises(TypeError, match="text"):
        corpora.split_sentences(["not", "a", "string"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- tiny readers

WIKI = (" \n = Lobster = \n \n The lobster is 0 @.@ 7 kg . It is blue @-@ ish . \n"
        " \n = = Biology = = \n \n It has 1 @,@ 000 eggs . \n = = = Larvae = = = \n Tiny . \n"
        " \n = M @-@ 82 ( road ) = \n \n A road . \n")


def test_parse_wikitext_articles_sections_and_markers() -> None:
    articles = corpora.parse_wikitext(WIKI)
    assert [a.title for a in articles] == ["Lobster", "M-82 ( road )"]
    assert articles[0].paragraphs == ["The lobster is 0.7 kg . It is blue-ish .",
                                      "It has 1,000 eggs .", "Tiny ."]
    assert articles[1].paragraphs == ["A road ."]


BOOK = ("[A Tale by Some One 1900]\r\n\r\nCHAPTER I\r\n\r\nFirst para. It has two\r\nlines.\r\n\r\n"
        "Second para.\r\n\r\nThird para.\r\n\r\nCHAPTER II. The End\r\n\r\nLast words here.\r\n")


def test_parse_gutenberg_chapters_become_documents() -> None:
    assert corpora.parse_gutenberg(BOOK) == [
        ["First para.", "It has two lines.", "Second para.", "Third para."], ["Last words here."]]
    chunks = corpora.parse_gutenberg(BOOK, paragraphs_per_document=2)
    assert chunks == [["First para.", "It has two lines.", "Second para."], ["Third para."],
                      ["Last words here."]]
    with pytest.raises(ValueError, match="paragraphs_per_document"):
        corpora.parse_gutenberg(BOOK, paragraphs_per_document=0)


def test_gutenberg_reads_latin1_and_crlf(no_data: Path, tmp_path: Path, monkeypatch) -> None:
    book = tmp_path / "mini/corpus/gutenberg/shakespeare-caesar.txt"
    book.parent.mkdir(parents=True)
    book.write_bytes("[Caesar by W 1599]\r\n\r\nActus Primus.\r\n\r\nHail, C\u00e6sar! Beware.\r\n"
                     .encode("latin-1"))
    monkeypatch.setenv("BERTEDU_DATA", str(tmp_path / "mini"))
    assert corpora.gutenberg_documents(["shakespeare-caesar.txt"]) == [["Hail, C\u00e6sar!", "Beware."]]
    with pytest.raises(ValueError, match="books"):
        corpora.gutenberg_documents(["no-such-book"])


def test_parse_speech_drops_the_header_lines() -> None:
    speech = "PRESIDENT X'S ADDRESS\n \nApril 16, 1945\n\nMr. Speaker: Thank you. We meet.\nGoodbye.\n"
    assert corpora.parse_speech(speech) == ["Mr. Speaker: Thank you.", "We meet.", "Goodbye."]


def test_parse_glue_labels_and_quotes() -> None:
    rte = 'index\tsentence1\tsentence2\tlabel\n0\tA "quoted\tB.\tentailment\n1\tC.\tD.\tnot_entailment\n'
    assert glue.parse_glue_tsv(rte, "RTE") == [
        {"idx": 0, "sentence1": 'A "quoted', "sentence2": "B.", "label": 0},
        {"idx": 1, "sentence1": "C.", "sentence2": "D.", "label": 1}]
    stsb = "index\tgenre\tsentence1\tsentence2\tscore\n7\tnews\tX.\tY.\t3.800\n"
    assert glue.parse_glue_tsv(stsb, "STS-B")[0]["label"] == pytest.approx(3.8)
    mrpc_test = "\ufeffindex\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\tP.\tQ.\n"
    assert glue.parse_glue_tsv(mrpc_test, "MRPC") == [
        {"idx": 0, "sentence1": "P.", "sentence2": "Q.", "label": None}]
    with pytest.raises(ValueError, match="line 2"):
        glue.parse_glue_tsv("sentence\tlabel\nonly one field\n", "SST-2")
    with pytest.raises(ValueError, match="task"):
        glue.read_glue("CoLA", "dev")


# ------------------------------------------------------------------------ the real corpora

def test_real_wikitext(data_dir: Path) -> None:
    for split, n_articles, first in (("valid", 60, "Homarus gammarus"), ("test", 62, "Robert Boulter")):
        articles = corpora.read_wikitext(split)
        assert len(articles) == n_articles and articles[0].title == first
        text = " ".join(p for a in articles for p in a.paragraphs)
        assert "@-@" not in text and "@,@" not in text and " = = " not in text
        docs = corpora.wikitext_documents(split)
        assert len(docs) == n_articles and all(len(d) >= 2 for d in docs)
    with pytest.raises(ValueError, match="split"):
        corpora.read_wikitext("train")


def test_real_gutenberg(data_dir: Path) -> None:
    docs = corpora.gutenberg_documents()
    sentences = [s for d in docs for s in d]
    assert len(docs) > 15 * 10  # chapters, not books
    assert not any(s.startswith("[") and " by " in s for s in sentences[:5])
    assert not any("\r" in s for s in sentences)
    caesar = corpora.gutenberg_documents(["shakespeare-caesar"])
    assert any("C\u00e6sar" in s for d in caesar for s in d)  # ISO-8859-1 decoded
    assert corpora.gutenberg_documents(["carroll-alice"]) == corpora.gutenberg_documents(["carroll-alice"])
    chunked = corpora.gutenberg_documents(["carroll-alice"], paragraphs_per_document=5)
    assert sum(map(len, chunked)) == sum(map(len, corpora.gutenberg_documents(["carroll-alice"])))


def test_real_speeches_one_document_per_speech(data_dir: Path) -> None:
    inaugural, union = corpora.speech_documents("inaugural"), corpora.speech_documents("state_union")
    assert (len(inaugural), len(union)) == (59, 65)  # the README files are not speeches
    assert corpora.speech_documents("all") == inaugural + union
    assert inaugural[0][0].startswith("Fellow-Citizens of the Senate")
    assert not any(s.isupper() for d in union for s in d[:3])


def test_pretraining_documents_hold_out_whole_articles(data_dir: Path) -> None:
    wiki = corpora.wikitext_documents("valid")
    train = corpora.pretraining_documents(("wikitext-valid",), holdout=10)
    held = corpora.pretraining_documents(("wikitext-valid",), holdout=10, part="heldout")
    assert len(held) == len(wiki) // 10 and len(train) + len(held) == len(wiki)
    assert held[0] == wiki[9] and not any(d in train for d in held)
    with pytest.raises(ValueError, match="part"):
        corpora.pretraining_documents(("wikitext-valid",), part="heldout")
    with pytest.raises(ValueError, match="sources"):
        corpora.pretraining_documents(("wikipedia",))


@pytest.mark.parametrize("task, sizes", [("SST-2", (67349, 872, 1821)), ("MRPC", (3668, 408, 1725)),
                                         ("RTE", (2490, 277, 3000)), ("STS-B", (5749, 1500, 1379))])
def test_real_glue_sizes_and_labels(data_dir: Path, task: str, sizes: tuple[int, int, int]) -> None:
    rows = {split: glue.read_glue(task, split) for split in ("train", "dev", "test")}
    assert tuple(len(r) for r in rows.values()) == sizes
    assert all(r["label"] is None for r in rows["test"])
    labels = {r["label"] for r in rows["dev"]}
    assert labels <= ({0, 1} if task != "STS-B" else labels) and None not in labels
    if task == "STS-B":
        assert min(labels) >= 0.0 and max(labels) <= 5.0


def test_public_names_are_reexported_from_bertedu_and_checksums_are_package_data() -> None:
    assert bertedu.read_wikitext is corpora.read_wikitext and bertedu.read_glue is glue.read_glue
    assert bertedu.dataset_path is download.dataset_path and bertedu.known_datasets is registry.known_datasets
    sums = registry.read_checksums()  # bertedu/datasets/SHA256SUMS, shipped with the package
    assert len(sums) == sum(len(info.files) for info in registry.DATASETS.values())
    assert all(len(digest) == 64 for digest in sums.values())

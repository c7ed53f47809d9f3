"""Readers of the fine-tuning data (bertedu/datasets/tasks.py): real files and one broken file per format."""

from __future__ import annotations

import json
import random
import re

import pytest

from bertedu.datasets.tasks import (read_conll, read_conll2003, read_piqa, read_piqa_files, read_snips,
                                    read_snips_dir, read_squad, read_squad_file, read_wnut17, snips_label_lists,
                                    split_squad_by_article, squad_examples)


def _names_file_and_line(err: pytest.ExceptionInfo, path, line: int) -> None:
    message = str(err.value)
    assert str(path) in message, message
    assert re.search(rf"\bline {line}\b", message), message


# ---------------------------------------------------------------- real files -------------------------


def test_conll2003_and_wnut17_sizes(data_dir):
    sizes = {s: len(read_conll2003(s)) for s in ("train", "dev", "test")}
    assert sizes == {"train": 14041, "dev": 3250, "test": 3453}
    dev = read_conll2003("dev")
    assert dev[0].tokens[:3] == ["CRICKET", "-", "LEICESTERSHIRE"] and dev[0].tags[2] == "B-ORG"
    assert {t for s in dev for t in s.tags} == {"O"} | {f"{p}-{k}" for p in "BI" for k in ("PER", "LOC", "ORG", "MISC")}
    assert all(len(s.tokens) == len(s.tags) > 0 for s in dev)
    assert [len(read_wnut17(s)) for s in ("train", "dev", "test")] == [3394, 1009, 1287]


def test_squad_files(data_dir):
    v1 = squad_examples(read_squad("v1.1", "dev"))
    assert len(v1) == 10570 and v1[0].title == "Super_Bowl_50" and v1[0].is_impossible is None
    v2 = squad_examples(read_squad("v2.0", "dev"))
    assert len(v2) == 6078 and sum(e.is_impossible for e in v2) == 3168
    assert all((not e.answers) == e.is_impossible for e in v2)
    for e in v1[:500]:
        for a in e.answers:
            assert e.context[a["answer_start"]:][:len(a["text"])] == a["text"]


def test_piqa_and_snips(data_dir):
    dev = read_piqa("dev")
    assert len(dev) == 1838 and {x.label for x in dev} == {0, 1}
    assert dev[0].goal.startswith("How do I ready a guinea pig cage") and dev[0].label == 0
    assert len(dev[0].choices) == 2
    assert len(read_piqa("test")) == 3084 and read_piqa("test")[0].label is None
    train = read_snips("train")
    assert len(train) == 13084 and all(len(x.words) == len(x.slots) for x in train)
    assert len(read_snips("dev")) == len(read_snips("test")) == 700
    intents, slots = snips_label_lists()
    assert {x.intent for x in train} <= set(intents) and {t for x in train for t in x.slots} <= set(slots)


def test_unknown_split_names_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        read_conll2003("validation")
    with pytest.raises(ValueError, match="choose"):
        read_squad("v1.1", "train")


# ---------------------------------------------------------------- split by article -------------------


def _toy_squad(n_articles: int) -> dict:
    return {"version": "1.1", "data": [
        {"title": f"a{i}", "paragraphs": [{"context": "x", "qas": [
            {"id": f"q{i}", "question": "?", "answers": [{"text": "x", "answer_start": 0}]}]}]}
        for i in range(n_articles)]}


def titles(data: dict) -> list[str]:
    return [a["title"] for a in data["data"]]


def test_split_by_article_is_disjoint_complete_and_deterministic():
    data = _toy_squad(48)
    train, held = split_squad_by_article(data, 0.25)
    assert len(held["data"]) == 12 and titles(held) == [f"a{i}" for i in range(36, 48)]
    assert sorted(titles(train) + titles(held)) == sorted(titles(data))
    assert train["version"] == held["version"] == "1.1"
    one, two = (split_squad_by_article(data, 0.25, rng=random.Random(7)) for _ in range(2))
    assert one == two and titles(one[1]) != titles(held)
    assert not set(titles(one[0])) & set(titles(one[1]))
    assert len(split_squad_by_article(_toy_squad(2), 0.01)[1]["data"]) == 1  # at least one each side
    with pytest.raises(ValueError, match="at least 2"):
        split_squad_by_article(_toy_squad(1))
    with pytest.raises(ValueError, match="eval_fraction"):
        split_squad_by_article(data, 1.0)


def test_split_of_the_real_dev_set(data_dir):
    train, held = split_squad_by_article(read_squad("v1.1", "dev"))
    assert len(squad_examples(train)) + len(squad_examples(held)) == 10570 and len(held["data"]) == 12


# ---------------------------------------------------------------- broken files -----------------------


def test_conll_wrong_column_count(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected 4") as err:
        read_conll(path, n_columns=4)
    _names_file_and_line(err, path, 4)


def test_conll_bad_tag(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Hi\tO\n\t\nParis\tLOC\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a BIO tag") as err:
        read_conll(path, n_columns=2)
    _names_file_and_line(err, path, 3)
    path.write_text("Hi\tO\n\t\nParis\tB-location\n", encoding="utf-8")  # tab-only line ends a sentence
    assert [s.tokens for s in read_conll(path, n_columns=2)] == [["Hi"], ["Paris"]]


def _squad_file(tmp_path, answer_start: int, pretty: bool = True):
    data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "Paris is big.", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}]},
        {"id": "q2", "question": "?", "answers": [{"text": "big", "answer_start": answer_start}]}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data, indent=1 if pretty else None), encoding="utf-8")
    return path


def test_squad_answer_start_must_point_at_the_answer(tmp_path):
    assert len(squad_examples(read_squad_file(_squad_file(tmp_path, 9)))) == 2
    path = _squad_file(tmp_path, 8)
    with pytest.raises(ValueError, match=r"answer_start=8 points at ' bi'; expected the answer text 'big'") as err:
        read_squad_file(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if '"q2"' in text)
    _names_file_and_line(err, path, line)
    assert "qas[1]" in str(err.value)


def test_squad_invalid_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": [\n  {"title": "t",\n   "paragraphs": [}\n]}', encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON") as err:
        read_squad_file(path)
    _names_file_and_line(err, path, 3)


def test_piqa_labels_of_the_wrong_length(tmp_path):
    jsonl, labels = tmp_path / "valid.jsonl", tmp_path / "valid-labels.lst"
    item = json.dumps({"goal": "g", "sol1": "a", "sol2": "b"})
    jsonl.write_text(f"{item}\n{item}\n{item}\n", encoding="utf-8")
    labels.write_text("0\n1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="2 labels, expected 3") as err:
        read_piqa_files(jsonl, labels)
    _names_file_and_line(err, labels, 3)
    labels.write_text("0\n2\n1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected 0 or 1") as err:
        read_piqa_files(jsonl, labels)
    _names_file_and_line(err, labels, 2)
    jsonl.write_text(f'{item}\n{{"goal": "g", "sol1": "a"}}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="'sol2'") as err:
        read_piqa_files(jsonl)
    _names_file_and_line(err, jsonl, 2)


def _snips(tmp_path, seq_in: str, seq_out: str, label: str):
    for name, text in (("seq.in", seq_in), ("seq.out", seq_out), ("label", label)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_snips_word_count_mismatch(tmp_path):
    folder = _snips(tmp_path, "play jazz \nadd this song\n", "O B-genre\nO O\n", "PlayMusic\nAddToPlaylist\n")
    with pytest.raises(ValueError, match="2 slot tags for 3 words") as err:
        read_snips_dir(folder)
    _names_file_and_line(err, folder / "seq.out", 2)
    _snips(tmp_path, "play jazz\n", "O B-genre\n", "PlayMusic\nAddToPlaylist\n")
    with pytest.raises(ValueError, match="2 lines, expected 1") as err:
        read_snips_dir(folder)
    _names_file_and_line(err, folder / "label", 2)
    _snips(tmp_path, "play jazz \n", "O B-genre \n", "PlayMusic\n")
    assert read_snips_dir(folder)[0].words == ["play", "jazz"]

"""Readers for the fine-tuning tasks of the BERT paper, Section 4 (and the stand-ins the book uses).

Each reader finds its files through the data loader (``bertedu.data_file``, so ``$BERTEDU_DATA``, the
cache or a checked download) and returns plain dataclasses:

- token tagging (CoNLL-2003 NER, §5.3 and Table 7; WNUT-17): :class:`TaggedSentence` (``tokens``, ``tags``);
- SQuAD v1.1 / v2.0 (§4.2, §4.3): the checked JSON dict (what ``squad_scores`` takes) and
  :class:`SquadExample` records; :func:`split_squad_by_article` makes train/eval parts of the dev set;
- PIQA (a two-choice stand-in for SWAG, §4.4): :class:`PiqaExample`;
- SNIPS (joint intent + slots, Chen et al. 2019): :class:`SnipsExample`.

A malformed file raises ``ValueError`` naming the file, the line and what was expected, so a broken
download or a hand-edited file fails at reading time instead of deep inside training.
GLUE lives in :func:`bertedu.read_glue`.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

PathLike = str | os.PathLike

_TAG = re.compile(r"^(O|[BIES]-\S+)$")  # BIO / IOB1 (and IOBES) tags: O, B-PER, I-LOC, ...


def _choose(split: str, files: dict[str, str], what: str) -> str:
    if split not in files:
        raise ValueError(f"split={split!r} for {what}: choose one of {list(files)}")
    return files[split]


def _data_file(name: str, filename: str) -> Path:
    from bertedu import data_file  # inside: bertedu's top level imports this package lazily

    return data_file(name, filename)


# ---------------------------------------------------------------- CoNLL (NER) --------------------------
@dataclass
class TaggedSentence:
    """One sentence of a CoNLL file: ``tokens[i]`` carries ``tags[i]``; ``line`` is its first line (1-based)."""

    tokens: list[str]
    tags: list[str]
    line: int = 0


def read_conll(path: PathLike, *, n_columns: int, tag_column: int = -1) -> list[TaggedSentence]:
    """Sentences of a CoNLL-format file: one token per line, ``n_columns`` whitespace-separated fields,
    the tag in ``tag_column``; blank (or whitespace-only) lines and ``-DOCSTART-`` lines end a sentence.

    CoNLL-2003 has 4 columns (token, POS, chunk, NER); WNUT-17 has 2 (token, tag).
    """
    path = Path(path)
    sentences: list[TaggedSentence] = []
    current = TaggedSentence([], [])
    with open(path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            fields = raw.split()
            if not fields or fields[0] == "-DOCSTART-":
                if current.tokens:
                    sentences.append(current)
                current = TaggedSentence([], [])
                continue
            if len(fields) != n_columns:
                raise ValueError(f"{path}, line {n}: {len(fields)} columns {fields}, expected {n_columns} "
                                 "(token ... tag, separated by whitespace)")
            tag = fields[tag_column]
            if not _TAG.match(tag):
                raise ValueError(f"{path}, line {n}: tag {tag!r} is not a BIO tag; expected 'O' or "
                                 "'B-TYPE' / 'I-TYPE'")
            if not current.tokens:
                current.line = n
            current.tokens.append(fields[0])
            current.tags.append(tag)
    if current.tokens:
        sentences.append(current)
    return sentences


_CONLL2003 = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt", "test++": "conllpp_test.txt"}
_WNUT17 = {"train": "wnut17train.conll", "dev": "emerging.dev.conll", "test": "emerging.test.annotated"}


def read_conll2003(split: str = "train") -> list[TaggedSentence]:
    """CoNLL-2003 English NER (the paper's §5.3, Table 7): "train" (14,041 sentences),
    "dev" (3,250), "test" (3,453) or "test++" (CoNLL++, the corrected test set). Tags: IOB1-style
    ``B-/I-`` over PER, ORG, LOC, MISC."""
    return read_conll(_data_file("ner/conll2003", _choose(split, _CONLL2003, "CoNLL-2003")), n_columns=4)


def read_wnut17(split: str = "train") -> list[TaggedSentence]:
    """WNUT-17 emerging entities: "train" (3,394 sentences), "dev" (1,009) or "test" (1,287)."""
    return read_conll(_data_file("ner/wnut17", _choose(split, _WNUT17, "WNUT-17")), n_columns=2)


# ---------------------------------------------------------------- SQuAD -----------------------------
@dataclass
class SquadExample:
    """One question: ``answers`` are ``{"text", "answer_start"}`` dicts (char offsets into ``context``).

    ``is_impossible`` is True for v2.0's unanswerable questions (their ``answers`` are empty), False
    for answerable ones and None where the file does not say (v1.1, unlabelled test files).
    """

    id: str
    title: str
    question: str
    context: str
    answers: list[dict]
    is_impossible: bool | None = None


def _where(raw: str, qid: str) -> str:
    """'line L, column C' of the question's id in the JSON text (SQuAD files are often one line)."""
    at = raw.find(json.dumps(qid))
    if at < 0:
        return "line ?"
    line = raw.count("\n", 0, at) + 1
    return f"line {line}, column {at - (raw.rfind(chr(10), 0, at) + 1) + 1}"


def _check_answer(source: str, raw: str, where: str, qa: dict, context: str) -> None:
    for k, ans in enumerate(qa["answers"]):
        text, start = ans.get("text"), ans.get("answer_start")
        if not isinstance(text, str) or not isinstance(start, int) or isinstance(start, bool):
            raise ValueError(f"{source}, {_where(raw, qa['id'])}: {where}.answers[{k}] needs a str 'text' "
                             f"and an int 'answer_start', got {ans!r}")
        found = context[start:start + len(text)]
        if start < 0 or found != text:
            raise ValueError(f"{source}, {_where(raw, qa['id'])}: {where}.answers[{k}] answer_start={start} "
                             f"points at {found!r}; expected the answer text {text!r} there")


def _check_squad(data: object, source: str, raw: str) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{source}: expected a JSON object with a 'data' list of articles")
    for i, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise ValueError(f"{source}: data[{i}] must be an article with a 'paragraphs' list")
        for j, par in enumerate(article["paragraphs"]):
            if not isinstance(par.get("context"), str) or not isinstance(par.get("qas"), list):
                raise ValueError(f"{source}: data[{i}].paragraphs[{j}] needs a str 'context' and a 'qas' list")
            for k, qa in enumerate(par["qas"]):
                where = f"data[{i}].paragraphs[{j}].qas[{k}]"
                missing = [key for key in ("id", "question", "answers") if key not in qa]
                if missing:
                    raise ValueError(f"{source}: {where} lacks {missing}; expected id, question, answers")
                _check_answer(source, raw, where, qa, par["context"])
                if qa.get("is_impossible") and qa["answers"]:
                    raise ValueError(f"{source}, {_where(raw, qa['id'])}: {where} is_impossible but has "
                                     "answers; expected an empty 'answers' list")


def read_squad_file(path: PathLike) -> dict:
    """Load and check a SQuAD JSON file (``{"version", "data": [articles -> paragraphs -> qas]}``).

    Returns the dict itself (the form the official evaluation scripts and ``squad_scores`` take).
    Every ``answer_start`` must point at its answer text in the context.
    """
    path = Path(path)
    raw = path.read_text(encoding="utf-8")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}, line {err.lineno}, column {err.colno}: not valid JSON ({err.msg})") from None
    _check_squad(data, str(path), raw)
    return data


_SQUAD = {("v1.1", "dev"): "dev-v1.1.json", ("v2.0", "dev"): "dev-v2.0.json",
          ("v2.0", "test"): "test-v2.0-unlabeled.json"}


def read_squad(version: str = "v1.1", split: str = "dev") -> dict:
    """The shared SQuAD files: v1.1 "dev" (10,570 questions, 48 articles), v2.0 "dev" (6,078, of them
    3,168 unanswerable) and v2.0 "test" (no answers). No train set is shared: use
    :func:`split_squad_by_article` to fine-tune on part of the dev set."""
    if (version, split) not in _SQUAD:
        raise ValueError(f"version={version!r}, split={split!r}: choose one of {list(_SQUAD)}")
    return read_squad_file(_data_file(f"squad/{version}", _SQUAD[version, split]))


def squad_examples(dataset_json: dict) -> list[SquadExample]:
    """The questions of a SQuAD dict, in file order, as :class:`SquadExample` records."""
    out = []
    for article in dataset_json["data"]:
        for par in article["paragraphs"]:
            for qa in par["qas"]:
                out.append(SquadExample(qa["id"], article.get("title", ""), qa["question"], par["context"],
                                        list(qa["answers"]), qa.get("is_impossible")))
    return out


def split_squad_by_article(dataset_json: dict, eval_fraction: float = 0.25, *,
                           rng: random.Random | None = None) -> tuple[dict, dict]:
    """Split a SQuAD dict into (train, eval) dicts by whole articles, so no passage is in both.

    ``round(eval_fraction * n_articles)`` articles (at least one on each side) go to eval: the last
    ones in file order, or a sample drawn with ``rng`` if given. Deterministic for a fixed ``rng`` seed.
    Both parts keep the file's ``version``, so each can be scored with ``squad_scores``.
    """
    articles = dataset_json["data"]
    if len(articles) < 2:
        raise ValueError(f"dataset_json has {len(articles)} article(s); need at least 2 to split by article")
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction={eval_fraction}: use a fraction strictly between 0 and 1")
    n_eval = min(max(1, round(eval_fraction * len(articles))), len(articles) - 1)
    order = list(range(len(articles)))
    if rng is not None:
        rng.shuffle(order)
    eval_ids = set(order[-n_eval:])
    version = dataset_json.get("version", "")
    train = [a for i, a in enumerate(articles) if i not in eval_ids]
    held = [a for i, a in enumerate(articles) if i in eval_ids]
    return {"version": version, "data": train}, {"version": version, "data": held}


# ---------------------------------------------------------------- PIQA -------------------------------
@dataclass
class PiqaExample:
    """A goal and two solutions; ``label`` is 0 (sol1) or 1 (sol2), None for the unlabelled test set."""

    goal: str
    sol1: str
    sol2: str
    label: int | None = None

    @property
    def choices(self) -> list[str]:
        return [self.sol1, self.sol2]


def _read_labels(path: Path, expected: int, jsonl: Path) -> list[int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) != expected:
        first_bad = min(len(lines), expected) + 1
        raise ValueError(f"{path}, line {first_bad}: {len(lines)} labels, expected {expected} "
                         f"(one per line of {jsonl.name})")
    labels = []
    for n, line in enumerate(lines, start=1):
        if line.strip() not in ("0", "1"):
            raise ValueError(f"{path}, line {n}: label {line!r}, expected 0 or 1")
        labels.append(int(line))
    return labels


def read_piqa_files(jsonl: PathLike, labels: PathLike | None = None) -> list[PiqaExample]:
    """PIQA items from a ``.jsonl`` file (one ``{"goal", "sol1", "sol2"}`` object a line) and, if given,
    its ``-labels.lst`` file (one 0/1 a line, aligned with the jsonl lines)."""
    jsonl = Path(jsonl)
    items = []
    for n, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{jsonl}, line {n}: not valid JSON ({err.msg}); expected one object a line") from None
        if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) for k in ("goal", "sol1", "sol2")):
            raise ValueError(f"{jsonl}, line {n}: expected an object with str 'goal', 'sol1', 'sol2'")
        items.append(PiqaExample(obj["goal"], obj["sol1"], obj["sol2"]))
    if labels is not None:
        for item, label in zip(items, _read_labels(Path(labels), len(items), jsonl)):
            item.label = label
    return items


def read_piqa(split: str = "dev") -> list[PiqaExample]:
    """PIQA: "dev" (1,838 labelled items; the shared validation set) or "test" (3,084, unlabelled)."""
    if split == "dev":
        return read_piqa_files(_data_file("multiple-choice/piqa", "valid.jsonl"),
                               _data_file("multiple-choice/piqa", "valid-labels.lst"))
    if split == "test":
        return read_piqa_files(_data_file("multiple-choice/piqa", "tests.jsonl"))
    raise ValueError(f"split={split!r} for PIQA: choose 'dev' or 'test'")


# ---------------------------------------------------------------- SNIPS ------------------------------
@dataclass
class SnipsExample:
    """An utterance: ``words[i]`` has slot tag ``slots[i]`` (BIO); ``intent`` is the utterance's label."""

    words: list[str]
    slots: list[str]
    intent: str


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def read_snips_dir(folder: PathLike) -> list[SnipsExample]:
    """A SNIPS split folder with ``seq.in`` (words), ``seq.out`` (one BIO slot tag per word) and
    ``label`` (one intent), one utterance per line in all three."""
    folder = Path(folder)
    words, slots, intents = (_lines(folder / name) for name in ("seq.in", "seq.out", "label"))
    for name, lines in (("seq.out", slots), ("label", intents)):
        if len(lines) != len(words):
            raise ValueError(f"{folder / name}, line {min(len(lines), len(words)) + 1}: {len(lines)} lines, "
                             f"expected {len(words)} (one per line of seq.in)")
    out = []
    for n, (w, s, intent) in enumerate(zip(words, slots, intents), start=1):
        w_list, s_list = w.split(), s.split()
        if len(w_list) != len(s_list):
            raise ValueError(f"{folder / 'seq.out'}, line {n}: {len(s_list)} slot tags for {len(w_list)} "
                             "words in seq.in; expected one tag per word")
        bad = [t for t in s_list if not _TAG.match(t)]
        if bad:
            raise ValueError(f"{folder / 'seq.out'}, line {n}: tag {bad[0]!r} is not a BIO tag; expected "
                             "'O' or 'B-slot' / 'I-slot'")
        if not w_list or not intent.strip():
            raise ValueError(f"{folder / 'seq.in'}, line {n}: empty utterance or intent; expected words "
                             "and an intent label")
        out.append(SnipsExample(w_list, s_list, intent.strip()))
    return out


def read_snips(split: str = "train") -> list[SnipsExample]:
    """SNIPS: "train" (13,084 utterances), "dev" (700) or "test" (700); 7 intents, 39 slot types."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split={split!r} for SNIPS: choose 'train', 'dev' or 'test'")
    paths = [_data_file("intent-slot/snips", f"{split}/{name}") for name in ("seq.in", "seq.out", "label")]
    return read_snips_dir(paths[0].parent)


def snips_label_lists() -> tuple[list[str], list[str]]:
    """(intent names, slot tags) from the shared ``intent_label.txt`` / ``slot_label.txt``, in file
    order (JointBERT's lists; they start with UNK, and the slot list with PAD, UNK)."""
    intents = _lines(_data_file("intent-slot/snips", "intent_label.txt"))
    slots = _lines(_data_file("intent-slot/snips", "slot_label.txt"))
    return [x for x in intents if x.strip()], [x for x in slots if x.strip()]

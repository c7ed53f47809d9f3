"""Table 7 of the BERT paper in miniature: feature-based vs fine-tuning on CoNLL-2003 NER (Sec. 5.3).

The paper's BERT-Base reaches 96.4 dev F1 fine-tuned, and 96.1 with the concatenation of its last four
hidden layers as frozen features under a two-layer BiLSTM: "BERT is effective for both fine-tuning and
feature-based approaches". Here the same six feature rows are measured on two backbones, MiniLM
(``minilm``: all-MiniLM-L6-v2, 6 layers, H = 384) and the book's own checkpoint (``own``:
data/pretrained/cpu-tiny, 2 layers, H = 128), on exactly the CoNLL records of the fine-tuning results
(4,000 training and 1,000 dev sentences, data seed 0, ``tools/finetune_results.py``), so the rows compare
with the fine-tuning rows of ``data/finetune/results.json``.

Per backbone the features are extracted once (:func:`bertedu.experiments.features.extract_features`,
cached in ``--cache-dir``); each (variant, seed) cell then trains a :class:`BiLSTMTagger` for
``TaggerConfig.epochs`` epochs, scores the dev set after each epoch with the fine-tuning scorer (entity
F1 at first sub-tokens) and keeps the best epoch, as the fine-tuning results do. Results are appended to
``data/experiments/table7.json`` after every cell (resumable: finished seeds are skipped)::

    python -m bertedu.experiments.table7 --plan                   # what would run, nothing trained
    python -m bertedu.experiments.table7                          # all 6 x 2 x 3 cells (~25 CPU minutes)
    python -m bertedu.experiments.table7 --backbones own --seeds 42 --variants last_hidden
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from bertedu._io import OneLineParser, atomic_write_text
from bertedu.finetuning.batching import bucket_batches
from bertedu.experiments.features import VARIANTS, BiLSTMTagger, FeatureCache, extract_features, variant_layers
from bertedu.pretraining.report import git_commit  # noqa: F401 (re-exported)

__all__ = ["VARIANTS", "TABLE", "PAPER_DEV_F1", "PAPER_FINETUNE_DEV_F1", "BACKBONES", "TaggerConfig",
           "DEFAULT_BACKBONES", "load_backbone", "conll_data", "backbone_features", "train_tagger", "evaluate_tagger", "run",
           "finetune_rows", "main"]

TABLE = "table7"
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "data" / "experiments" / "table7.json"
# Table 7, feature-based rows, BERT-Base dev F1 (as fractions, like every F1 in bertedu's results)
PAPER_DEV_F1 = {"embeddings": 0.910, "second_to_last_hidden": 0.956, "last_hidden": 0.949,
                "weighted_sum_last_four": 0.959, "concat_last_four": 0.961, "weighted_sum_all": 0.955}
PAPER_FINETUNE_DEV_F1 = {"BERT-Large": 0.966, "BERT-Base": 0.964}
# "random" = the own checkpoint's architecture and vocabulary with random weights (drawn from seed 0): a
# control for how much F1 the BiLSTM gets from features that carry word identity but no pre-training
BACKBONES = {"minilm": "minilm", "own": "data/pretrained/cpu-tiny", "random": "random:data/pretrained/cpu-tiny"}
DEFAULT_BACKBONES = ("own", "minilm")
SEEDS = (42, 43, 44)
DATA = {"max_train_examples": 4000, "max_eval_examples": 1000, "data_seed": 0}  # = finetune_results.py


@dataclass(frozen=True)
class TaggerConfig:
    """The BiLSTM tagger and its training (CPU-sized; the paper's BiLSTM is 768-dimensional)."""

    lstm_size: int = 64  # per direction; the BiLSTM's output is 2 x 64 (the paper: 768-dimensional)
    num_layers: int = 2
    dropout: float = 0.1  # on the BiLSTM's input and output
    lr: float = 5e-3  # Adam, falling linearly to 0
    batch_size: int = 32
    epochs: int = 6


def load_backbone(name: str) -> tuple[torch.nn.Module, Any]:
    """(frozen BertModel in eval mode, its tokenizer) for ``minilm``, ``own``, ``random`` or a checkpoint
    directory (``random:DIR``: DIR's architecture and vocabulary, weights drawn from seed 0)."""
    from bertedu import BertConfig, BertModel, from_pretrained
    from bertedu.finetuning.backbones import describe_spec, load_tokenizer
    spec = BACKBONES.get(name, name)
    prefix, _, path = spec.rpartition(":") if spec.startswith("random:") else ("", "", spec)
    if path != "minilm" and not Path(path).is_absolute() and (ROOT / path).is_dir():
        path = str(ROOT / path)  # data/pretrained/cpu-tiny, wherever the command runs
    kind, directory = describe_spec(f"{prefix}:{path}" if prefix else path)
    if directory is None:
        raise ValueError(f"backbone {name!r}: give minilm, own, random or a checkpoint directory")
    if kind == "random":
        config = BertConfig.from_json_file(directory / "config.json")
        model = BertModel(config, generator=torch.Generator().manual_seed(0)).eval()
    else:
        model = from_pretrained(directory, BertModel).eval()
    for p in model.parameters():
        p.requires_grad_(False)  # frozen: features only (Sec. 5.3 "without fine-tuning any parameters")
    return model, load_tokenizer(directory)


def conll_data(tokenizer: Any, max_train: int | None = DATA["max_train_examples"],
               max_eval: int | None = DATA["max_eval_examples"]) -> tuple[Any, Any]:
    """The encoded CoNLL-2003 (train, dev) subsets of the fine-tuning results:
    the same records (data seed 0), the same encoding, the same first-piece labels."""
    from bertedu.finetuning.loop import FinetuneConfig
    from bertedu.finetuning.run import prepare_data
    config = FinetuneConfig(max_train_examples=max_train, max_eval_examples=max_eval,
                            data_seed=DATA["data_seed"])
    return prepare_data("conll2003", tokenizer, config)


def backbone_features(name: str, cache_dir: str | Path | None = None, *, max_train: int | None = 4000,
                      max_eval: int | None = 1000, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Extract (or load from ``cache_dir``) one backbone's train and dev features: the only BERT forward passes."""
    model, tokenizer = load_backbone(name)
    train, held = conll_data(tokenizer, max_train, max_eval)
    paths = {s: Path(cache_dir) / f"{name}-{s}-{max_train}-{max_eval}.pt" for s in ("train", "dev")} \
        if cache_dir is not None else {}
    caches, began = {}, time.perf_counter()
    for split, data in (("train", train), ("dev", held)):
        if split in paths and paths[split].is_file():
            caches[split] = FeatureCache.load(paths[split])
        else:
            caches[split] = extract_features(model, data.features, pad_token_id=tokenizer.pad_token_id)
            if split in paths:
                paths[split].parent.mkdir(parents=True, exist_ok=True)
                caches[split].save(paths[split])
    minutes = (time.perf_counter() - began) / 60
    say(f"{name}: features of {len(train.features):,} + {len(held.features):,} sentences, "
        f"{model.config.num_hidden_layers + 1} hidden states of H={model.config.hidden_size} ({minutes:.2f} min)")
    return {"train": caches["train"], "dev": caches["dev"], "train_data": train, "dev_data": held,
            "layers": model.config.num_hidden_layers, "hidden_size": model.config.hidden_size,
            "extract_minutes": minutes}


@torch.no_grad()
def evaluate_tagger(tagger: BiLSTMTagger, cache: FeatureCache, data: Any, layers: Sequence[int],
                    batch_size: int = 128) -> dict[str, float]:
    """Entity F1 / precision / recall of ``tagger`` on a split, by the fine-tuning scorer (first sub-tokens)."""
    from bertedu.finetuning.scoring import score
    was_training = tagger.training
    tagger.eval()
    outputs: list[dict] = []
    for start in range(0, cache.num_sentences, batch_size):
        idx = list(range(start, min(start + batch_size, cache.num_sentences)))
        b = cache.batch(idx, layers)
        pred = tagger(b["features"], b["lengths"]).argmax(-1)  # (B, T words)
        outputs += [{"logits": np.array(cache.token_predictions(i, pred[row].tolist()))}
                    for row, i in enumerate(idx)]
    tagger.train(was_training)
    return score("conll2003", data, outputs)


def train_tagger(train: FeatureCache, dev: FeatureCache, dev_data: Any, variant: str, num_labels: int, *,
                 config: TaggerConfig = TaggerConfig(), seed: int = 42,
                 on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Train a BiLSTM on one variant's frozen features; dev entity F1 after every epoch, best kept.

    Everything random (initialisation, batch order, dropout) comes from generators seeded by ``seed``.
    """
    layers = variant_layers(variant, train.num_layers)
    g = torch.Generator().manual_seed(seed)
    tagger = BiLSTMTagger(train.states.shape[2], len(layers), num_labels, combine=VARIANTS[variant].combine,
                          lstm_size=config.lstm_size, num_layers=config.num_layers, dropout=config.dropout,
                          generator=g)
    optimizer = torch.optim.Adam(tagger.parameters(), lr=config.lr)
    total = config.epochs * len(bucket_batches(train.lengths, config.batch_size, seed=seed))
    # the learning rate falls linearly to 0 over the run (no warmup: the BiLSTM starts from scratch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total))
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    began, evals = time.perf_counter(), []
    for epoch in range(config.epochs):
        tagger.train()
        # length-bucketed shuffled batches (the fine-tuning loop's), seeded by (seed, epoch)
        for idx in bucket_batches(train.lengths, config.batch_size, seed=seed, epoch=epoch):
            b = train.batch(idx, layers)
            logits = tagger(b["features"], b["lengths"], generator=g)
            loss = loss_fn(logits.flatten(0, 1), b["labels"].flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tagger.parameters(), 5.0)
            optimizer.step()
            schedule.step()
        metrics = {**evaluate_tagger(tagger, dev, dev_data, layers), "epoch": epoch + 1}
        evals.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch + 1, metrics)
    best = max(evals, key=lambda m: m["entity_f1"])
    mix = tagger.mix.weights.softmax(0).tolist() if tagger.mix is not None else None
    return {"entity_f1": best["entity_f1"], "best_epoch": best["epoch"], "evals": evals, "layers": layers,
            "mix_weights": mix, "seconds": time.perf_counter() - began, "tagger": tagger}


# ---------------------------------------------------------------- the table: cells, records, resume ---------
def load_results(path: str | Path = RESULTS) -> list[dict[str, Any]]:
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def _record(old: dict[str, Any] | None, variant: str, backbone: str, seed: int, cell: dict[str, Any],
            features: dict[str, Any], config: TaggerConfig, command: str, commit: str) -> dict[str, Any]:
    """The (variant, backbone) record with one more seed: values, mean, std over seeds; provenance."""
    if old is not None and seed in old["seeds"]:
        return old  # another process finished this cell meanwhile
    r = old or {"variant": variant, "title": VARIANTS[variant].title, "task": "conll2003", "metric": "entity_f1",
                "backbone": backbone, "values": [], "seeds": [], "best_epochs": [], "curves": [], "mix_weights": [],
                "minutes": 0.0, "cpu_minutes": 0.0}
    r["values"] = r["values"] + [cell["entity_f1"]]
    r["seeds"] = r["seeds"] + [seed]
    r["best_epochs"] = r["best_epochs"] + [cell["best_epoch"]]
    r["curves"] = r["curves"] + [[round(e["entity_f1"], 4) for e in cell["evals"]]]
    r["mix_weights"] = r["mix_weights"] + [cell["mix_weights"] and [round(w, 4) for w in cell["mix_weights"]]]
    r["mean"], r["std"] = statistics.fmean(r["values"]), statistics.pstdev(r["values"])
    r["paper"] = PAPER_DEV_F1[variant]
    r["minutes"] = round(r["minutes"] + cell["seconds"] / 60, 3)
    r["cpu_minutes"] = round(r["cpu_minutes"] + cell["cpu_seconds"] / 60, 3)
    r.update(command=command, commit=commit, layers=cell["layers"], num_layers=features["layers"],
             hidden_size=features["hidden_size"], extract_minutes=round(features["extract_minutes"], 3),
             settings=asdict(config), train_records=len(features["train_data"].records),
             eval_records=len(features["dev_data"].records), unit="fraction (paper 96.1 -> 0.961)")
    return r


def provenance(records: Sequence[dict[str, Any]]) -> str:
    """The PROVENANCE note beside the results file: how it was made, and every record in one table."""
    from bertedu.pretraining.report import cpu_name
    rows = "\n".join(f"| {r['backbone']} | {r['title']} | {100 * r['mean']:.1f} | {100 * r['std']:.1f} | "
                     f"{', '.join(f'{100 * v:.1f}' for v in r['values'])} | {100 * r['paper']:.1f} | "
                     f"{r['minutes']:.1f} | {r['cpu_minutes']:.1f} | `{r['commit'][:7]}` |" for r in records)
    settings = records[0]["settings"] if records else asdict(TaggerConfig())
    return f"""# Provenance of `table7.json`

Made by `python -m bertedu.experiments.table7` (bertedu/experiments/table7.py; each record names its command
and the commit its process started at) on this machine's CPU ({cpu_name()}, torch {torch.__version__}), one
torch thread, beside other jobs (so `minutes`, wall-clock, is several times `cpu_minutes`).

- Task: CoNLL-2003 NER, the fine-tuning results' subsets: {DATA['max_train_examples']:,} training and
  {DATA['max_eval_examples']:,} dev sentences drawn with data seed {DATA['data_seed']} (`tools/finetune_results.py`),
  the recipe's encoding (128 tokens), labels on each word's first sub-token; dev entity F1 (conlleval rules)
  by the fine-tuning scorer. Values are fractions (the paper's 96.1 is stored as 0.961); std is the
  population standard deviation over the seeds, as in `data/finetune/results.json`.
- Features: every hidden state of the frozen encoder (eval mode, `torch.no_grad`) at each word's first
  sub-token, extracted once per backbone and cached as float16 (`extract_minutes` is that process's time to
  get them: small when it found the cache of an identical earlier extraction; MiniLM's extraction of the
  5,000 sentences takes about a minute on one thread). Rows: see
  `bertedu.experiments.features.variant_layers` ("last four" = the last four of the L + 1 hidden states;
  "all layers" = the L Transformer layers); weighted sums are ELMo's scalar mix, learned.
- Tagger: two-layer BiLSTM over the words ({settings['lstm_size']} units per direction), dropout
  {settings['dropout']} on its input and output, Adam lr {settings['lr']} falling linearly to 0, batch
  {settings['batch_size']} (length-bucketed), {settings['epochs']} epochs, dev F1 after each epoch, the best
  kept (`curves`, `best_epochs`); seeds 42, 43, 44 (initialisation, batch order, dropout).
- Backbones: `minilm` = all-MiniLM-L6-v2; `own` = data/pretrained/cpu-tiny; `random` = the own architecture and
  vocabulary with weights drawn from seed 0 (a control).

| backbone | row | mean F1 | std | values | paper (BERT-Base dev) | minutes | CPU minutes | commit |
|---|---|---|---|---|---|---|---|---|
{rows}
"""


def _merge(out: Path, variant: str, backbone: str, update: Callable[[dict | None], dict]) -> list[dict[str, Any]]:
    """Re-read ``out`` under a lock, replace (or add) the (variant, backbone) record by ``update(old)``, write
    it atomically: several processes may fill one results file with different cells."""
    import fcntl
    import hashlib
    import tempfile
    out.parent.mkdir(parents=True, exist_ok=True)
    # the lock lives in the temp folder (not beside the results, in the repository), one per file
    key = hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"bertedu-table7-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = load_results(out)
        key = [i for i, r in enumerate(records) if r["variant"] == variant and r["backbone"] == backbone]
        record = update(records[key[0]] if key else None)
        records = [record if i in key else r for i, r in enumerate(records)] + ([] if key else [record])
        order = {(b, v): i for i, (b, v) in enumerate((b, v) for b in BACKBONES for v in VARIANTS)}
        records.sort(key=lambda r: order.get((r["backbone"], r["variant"]), len(order)))
        atomic_write_text(out, json.dumps(records, indent=2) + "\n")
        atomic_write_text(out.parent / "TABLE7_PROVENANCE.md", provenance(records))
    return records


def run(backbones: Sequence[str] = DEFAULT_BACKBONES, variants: Sequence[str] = tuple(VARIANTS),
        seeds: Sequence[int] = SEEDS, *, out: str | Path = RESULTS, cache_dir: str | Path | None = None,
        config: TaggerConfig = TaggerConfig(), max_train: int | None = 4000, max_eval: int | None = 1000,
        plan: bool = False, flags: str = "", say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every (backbone, variant, seed) cell not yet in ``out``; the file is rewritten after each cell.
    ``flags`` are appended to each record's command (what else the command line said)."""
    from bertedu.finetuning.recipes import get_recipe
    out = Path(out)
    records = load_results(out)
    num_labels = len(get_recipe("conll2003").labels())
    commit = git_commit()  # the code this process runs (HEAD may move while it works)
    for backbone in backbones:
        todo = [(v, s) for s in seeds for v in variants
                if not any(r["variant"] == v and r["backbone"] == backbone and s in r["seeds"] for r in records)]
        if plan or not todo:
            say(f"{backbone}: {len(todo)} cells to run" + ("".join(f"\n  {v} seed {s}" for v, s in todo)))
            continue
        features = backbone_features(backbone, cache_dir, max_train=max_train, max_eval=max_eval, say=say)
        for variant, seed in todo:
            command = (f"python -m bertedu.experiments.table7 --backbones {backbone} --variants {variant} "
                       f"--seeds {seed}{flags}")
            cpu = time.process_time()
            cell = train_tagger(features["train"], features["dev"], features["dev_data"], variant, num_labels,
                                config=config, seed=seed)
            cell["cpu_seconds"] = time.process_time() - cpu
            records = _merge(out, variant, backbone, lambda old: _record(old, variant, backbone, seed, cell,
                                                                      features, config, command, commit))
            say(f"{backbone} / {variant} / seed {seed}: dev entity F1 {cell['entity_f1']:.4f} "
                f"(best epoch {cell['best_epoch']}, {cell['seconds'] / 60:.2f} min)")
    return records


def finetune_rows(path: str | Path = ROOT / "data" / "finetune" / "results.json") -> dict[str, dict[str, Any] | None]:
    """The fine-tuning rows (CoNLL-2003 entity F1, backbones minilm and own) of the fine-tuning results,
    or None for a backbone whose row is not there yet."""
    rows = load_results(path)
    found = {r["backbone"]: r for r in rows if r.get("task") == "conll2003" and r.get("metric") == "entity_f1"}
    return {b: found.get(b) for b in BACKBONES}  # the fine-tuning results' "random" is the same control


def main(argv: list[str] | None = None) -> None:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", nargs="+", default=list(DEFAULT_BACKBONES), choices=list(BACKBONES),
                   help="random = the own architecture with random weights (a control; not in the default run)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    p.add_argument("--out", default=str(RESULTS), help="the results file (resumable: finished cells are skipped)")
    p.add_argument("--cache-dir", default="/tmp/bertedu-table7-cache", help="where extracted features are kept")
    p.add_argument("--epochs", type=int, default=TaggerConfig.epochs, help="BiLSTM training epochs")
    p.add_argument("--smoke", action="store_true", help="200 / 100 sentences, 1 epoch: a rehearsal (never commit)")
    p.add_argument("--plan", action="store_true", help="list the cells still to run; train nothing")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error(f"--epochs must be >= 1, got {args.epochs}")
    torch.set_num_threads(args.threads)
    sizes = (200, 100) if args.smoke else (DATA["max_train_examples"], DATA["max_eval_examples"])
    config = TaggerConfig(epochs=1 if args.smoke else args.epochs)
    run(args.backbones, args.variants, args.seeds, out=args.out, cache_dir=args.cache_dir, config=config,
        max_train=sizes[0], max_eval=sizes[1], plan=args.plan, say=lambda line: print(line, flush=True),
        flags=(" --smoke" if args.smoke else "") + (f" --epochs {args.epochs}" if args.epochs != TaggerConfig.epochs
                                                     else ""))


if __name__ == "__main__":
    main()

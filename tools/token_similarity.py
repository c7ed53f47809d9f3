"""How alike a pre-trained encoder's token vectors are: the mean cosine similarity between the vectors of
different tokens, per layer (issue 16, Table 8).

A healthy encoder gives different words different vectors (mean cosine ~0.3 for the book's runs); one whose
vectors have collapsed towards a single direction (~0.9) leaves a tagger on top nothing to tell tokens apart
by. Chapter 12 reads the committed numbers to explain Table 8's 100/0/0 row.

    python tools/token_similarity.py RUN_DIR [RUN_DIR ...] --out data/experiments/token_similarity.json

Each RUN_DIR is a pre-training run of ``python -m bertedu.pretrain`` (its ``final/`` weights are read). The
text: the first 300 sentences of the CoNLL-2003 dev set (the task the rows are scored on), 2,000 real
(non-special) token positions drawn with a fixed seed. Deterministic; ~10 s per run on one CPU thread.

The file is merged, like the experiments' curves: the runs given replace their records and the other runs'
records stay where they were, each with its ``commit`` (``--replace`` writes only the runs given). A file
made with other settings refuses the merge rather than mix rows that would not compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bertedu._io import OneLineParser  # noqa: E402
from bertedu.experiments.curves import write_merged  # noqa: E402
from bertedu.beyond.pooling import cosine_matrix  # noqa: E402
from bertedu.pretraining.report import git_commit  # noqa: E402

SENTENCES = 300
POSITIONS = 2000


def mean_cosine(vectors: torch.Tensor) -> float:
    """The mean cosine similarity over all pairs of different rows of ``vectors`` (N, H), N >= 2."""
    if vectors.dim() != 2 or vectors.shape[0] < 2:
        raise ValueError(f"vectors must be (N, H) with N >= 2, got shape {tuple(vectors.shape)}")
    cos = cosine_matrix(vectors.double(), vectors.double())  # (N, N)
    n = cos.shape[0]
    return float((cos.sum() - cos.diagonal().sum()) / (n * (n - 1)))  # the diagonal is each row with itself


def layer_similarity(encoder: torch.nn.Module, batch: dict[str, torch.Tensor], special_ids: Sequence[int],
                     positions: int = POSITIONS, seed: int = 0) -> list[float]:
    """Mean cosine between the vectors of ``positions`` real tokens, for the embeddings and every layer."""
    encoder.eval()
    with torch.no_grad():
        out = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                      token_type_ids=batch["token_type_ids"], output_hidden_states=True)
    real = batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"], torch.tensor(list(special_ids)))
    count = int(real.sum())
    if count < 2:
        raise ValueError("the batch has fewer than two real tokens")
    pick = torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:positions]
    return [mean_cosine(h[real][pick]) for h in out.hidden_states]


def measure(run_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    from bertedu import BertTokenizer
    from bertedu.datasets.tasks import read_conll2003
    from bertedu.model.checkpoint import from_pretrained

    texts = [" ".join(s.tokens) for s in read_conll2003("dev")[:SENTENCES]]
    rows = []
    for run in run_dirs:
        final = Path(run) / "final"
        if not (final / "model.safetensors").is_file():
            raise ValueError(f"{run}: no final/model.safetensors (is it a finished pre-training run?)")
        tok = BertTokenizer.from_vocab_file(final / "vocab.txt")  # each run's own vocabulary
        batch = tok.batch_encode(texts, return_tensors="pt", padding=True, truncation=True, max_length=64)
        model = from_pretrained(final)
        encoder = getattr(model, "bert", model)
        config = json.loads((Path(run) / "run.json").read_text(encoding="utf-8"))["config"]
        rows.append({"run": Path(run).name, "mask_mix": config.get("mask_mix"), "objective": config.get("objective"),
                     "nsp": config.get("nsp"),
                     "mean_cosine_by_layer": [round(x, 4) for x in layer_similarity(encoder, batch, tok.all_special_ids)]})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="pre-training run folders")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "experiments" / "token_similarity.json")
    p.add_argument("--replace", action="store_true",
                   help="write only the runs given (default: keep the records in --out of other runs, in place)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        rows = measure(args.runs)
    except ValueError as err:
        p.error(str(err))
    command = "python tools/token_similarity.py " + " ".join(str(r) for r in args.runs)
    doc = {"what": "mean cosine similarity between different real tokens' vectors, per layer (0 = embeddings)",
           "text": f"the first {SENTENCES} CoNLL-2003 dev sentences, {POSITIONS} token positions (seed 0)",
           "command": command, "commit": git_commit(), "runs": rows}
    write_merged(p, args.out, doc, replace=args.replace, same=("what", "text"))
    for r in rows:
        print(f"{r['run']}: " + ", ".join(f"layer {i} {c:.3f}" for i, c in enumerate(r["mean_cosine_by_layer"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

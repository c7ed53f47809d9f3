"""The feature-based approach of Table 7 (Sec. 5.3): which layers each row reads, the frozen features and
the BiLSTM tagger on top.

A random encoder with odd sizes (H=36, A=3, 3 layers) and a toy tagging language whose tags are decided by
the word alone (names -> B-PER, cities -> B-LOC, the rest O): any layer's features carry the word, so a
BiLSTM on frozen features must learn it.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict

import pytest
import torch

from bertedu import BertModel, BertTokenizer
from bertedu.datasets.tasks import TaggedSentence
from bertedu.experiments.features import (VARIANTS, BiLSTMTagger, ScalarMix, extract_features,
                                          variant_layers)
from bertedu.experiments.table7 import TaggerConfig, evaluate_tagger, train_tagger
from bertedu.finetuning.features import encode_task
from bertedu.finetuning.recipes import get_recipe
from odd_sizes import H, odd_config

PEOPLE, CITIES, OTHER = ["alice", "bob", "carol"], ["paris", "rome", "oslo"], ["the", "saw", "went", "to", "and"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *PEOPLE, *CITIES, *OTHER, "##s"]  # "bobs" -> bob ##s
LABELS = get_recipe("conll2003").labels()  # O, B-PER, I-PER, B-LOC, ...
LAYERS = 3


def toy_sentences(n: int, rng: random.Random) -> list[TaggedSentence]:
    out = []
    for _ in range(n):
        words = [rng.choice(PEOPLE + CITIES + OTHER + ["bobs"]) for _ in range(rng.randint(2, 7))]
        tags = ["B-PER" if w in PEOPLE or w == "bobs" else "B-LOC" if w in CITIES else "O" for w in words]
        out.append(TaggedSentence(words, tags))
    return out


@pytest.fixture(scope="module")
def toy():
    tokenizer = BertTokenizer.from_tokens(VOCAB)
    model = BertModel(odd_config(vocab_size=tokenizer.vocab_size, num_hidden_layers=LAYERS),
                      generator=torch.Generator().manual_seed(0)).eval()
    rng = random.Random(0)
    train = encode_task("conll2003", toy_sentences(120, rng), tokenizer, max_seq_length=16)
    dev = encode_task("conll2003", toy_sentences(40, rng), tokenizer, max_seq_length=16)
    return model, train, dev, extract_features(model, train.features), extract_features(model, dev.features)


def test_variant_layers_are_the_papers_rows_for_bert_base() -> None:
    rows = {v: variant_layers(v, 12) for v in VARIANTS}
    assert rows == {"embeddings": [0], "second_to_last_hidden": [11], "last_hidden": [12],
                    "weighted_sum_last_four": [9, 10, 11, 12], "concat_last_four": [9, 10, 11, 12],
                    "weighted_sum_all": list(range(1, 13))}


def test_variant_layers_of_small_models() -> None:
    assert variant_layers("concat_last_four", 6) == [3, 4, 5, 6]          # MiniLM
    assert variant_layers("weighted_sum_all", 6) == [1, 2, 3, 4, 5, 6]
    assert variant_layers("concat_last_four", 2) == [0, 1, 2]             # the own 2-layer model: all three
    assert variant_layers("second_to_last_hidden", 2) == [1]
    with pytest.raises(ValueError, match="unknown variant"):
        variant_layers("sum_everything", 2)
    with pytest.raises(ValueError, match="num_layers"):
        variant_layers("last_hidden", 0)


def test_cache_holds_every_hidden_state_at_first_pieces(toy) -> None:
    model, train, _, cache, _ = toy
    words = sum(len(r.tokens) for r in train.records)
    assert cache.states.shape == (words, LAYERS + 1, H) and cache.states.dtype == torch.float16
    assert cache.num_sentences == len(train.features) and cache.num_layers == LAYERS
    # the cached rows are exactly the encoder's hidden states at each word's first piece
    k = next(i for i, r in enumerate(train.records) if "bobs" in r.tokens)  # a word of two pieces
    f = train.features[k]
    with torch.no_grad():
        states = model(torch.tensor([f["input_ids"]]), output_hidden_states=True).hidden_states
    first = [p for p, label in enumerate(f["labels"]) if label != -100]
    a, b = int(cache.offsets[k]), int(cache.offsets[k + 1])
    assert len(first) == b - a == len(train.records[k].tokens) < len(f["input_ids"]) - 2
    expected = torch.stack(states, dim=2)[0, first]  # (words, K, H)
    torch.testing.assert_close(cache.states[a:b].float(), expected, atol=2e-3, rtol=2e-3)
    assert cache.positions[a:b].tolist() == first


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shapes_of_each_feature_type(toy, variant) -> None:
    _, _, _, cache, _ = toy
    layers = variant_layers(variant, cache.num_layers)
    batch = cache.batch([0, 3, 7], layers)
    T = max(cache.lengths[i] for i in (0, 3, 7))
    assert batch["features"].shape == (3, T, len(layers), H) and batch["labels"].shape == (3, T)
    tagger = BiLSTMTagger(H, len(layers), len(LABELS), combine=VARIANTS[variant].combine, lstm_size=5)
    width = {"one": H, "mix": H, "concat": len(layers) * H}[VARIANTS[variant].combine]
    assert tagger.combined(batch["features"]).shape == (3, T, width)
    assert tagger(batch["features"], batch["lengths"]).shape == (3, T, len(LABELS))


def test_scalar_mix_is_a_softmax_weighted_sum() -> None:
    mix = ScalarMix(3)
    with torch.no_grad():
        mix.weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
        mix.gamma.fill_(2.0)
    x = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(1))
    w = torch.tensor([0.0, 1.0, 2.0]).softmax(0)
    torch.testing.assert_close(mix(x), 2.0 * (w[0] * x[:, :, 0] + w[1] * x[:, :, 1] + w[2] * x[:, :, 2]))


def test_padding_does_not_change_a_sentence(toy) -> None:
    _, _, _, cache, _ = toy
    tagger = BiLSTMTagger(H, 1, len(LABELS), lstm_size=6).eval()
    short = min(range(cache.num_sentences), key=lambda i: cache.lengths[i])
    long = max(range(cache.num_sentences), key=lambda i: cache.lengths[i])
    alone, padded = cache.batch([short], [3]), cache.batch([short, long], [3])
    n = cache.lengths[short]
    torch.testing.assert_close(tagger(padded["features"], padded["lengths"])[0, :n],
                               tagger(alone["features"], alone["lengths"])[0, :n])


def test_backbone_is_frozen(toy) -> None:
    model, _, dev, cache, dev_cache = toy
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not cache.states.requires_grad
    train_tagger(cache, dev_cache, dev, "weighted_sum_all", len(LABELS), config=TaggerConfig(epochs=1, lstm_size=6))
    assert all(p.grad is None for p in model.parameters())  # no gradient ever reached the encoder
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_same_seed_same_tagger(toy) -> None:
    _, _, dev, cache, dev_cache = toy
    config = TaggerConfig(epochs=2, lstm_size=6, dropout=0.2)
    runs = [train_tagger(cache, dev_cache, dev, "concat_last_four", len(LABELS), config=config, seed=s)
            for s in (7, 7, 8)]
    a, b, c = (r["tagger"].state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a) and runs[0]["evals"] == runs[1]["evals"]
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_tagger_learns_a_word_decided_labelling(toy) -> None:
    _, train, dev, cache, dev_cache = toy
    config = TaggerConfig(epochs=12, lstm_size=16, lr=1e-2, batch_size=8, dropout=0.0)
    result = train_tagger(cache, dev_cache, dev, "last_hidden", len(LABELS), config=config, seed=0)
    assert result["evals"][0]["entity_f1"] < 0.9 < result["entity_f1"]
    # and the scorer agrees with a direct count on held-out sentences
    layers = variant_layers("last_hidden", LAYERS)
    assert evaluate_tagger(result["tagger"], dev_cache, dev, layers)["entity_f1"] == result["evals"][-1]["entity_f1"]


def test_results_file_merges_cells_of_several_processes(tmp_path) -> None:
    from bertedu.experiments.table7 import _merge
    out = tmp_path / "table7.json"
    def row(variant, backbone, seeds):
        return {"variant": variant, "backbone": backbone, "seeds": seeds, "title": VARIANTS[variant].title,
                "values": [0.5] * len(seeds), "mean": 0.5, "std": 0.0, "paper": 0.9, "minutes": 1.0,
                "cpu_minutes": 1.0, "commit": "0" * 40, "settings": asdict(TaggerConfig())}

    _merge(out, "last_hidden", "own", lambda old: row("last_hidden", "own", [42]))
    # a second process adds another cell: the first cell survives, the order is the table's
    _merge(out, "embeddings", "own", lambda old: row("embeddings", "own", [42]))
    records = _merge(out, "last_hidden", "own", lambda old: row("last_hidden", "own", old["seeds"] + [43]))
    assert [(r["variant"], r["seeds"]) for r in records] == [("embeddings", [42]), ("last_hidden", [42, 43])]
    assert json.loads(out.read_text()) == records
    assert "| own | Last Hidden | 50.0 |" in (tmp_path / "TABLE7_PROVENANCE.md").read_text()


def test_random_control_backbone_is_frozen_and_not_pretrained() -> None:
    from bertedu.experiments.table7 import load_backbone
    random_model, random_tok = load_backbone("random")
    own_model, own_tok = load_backbone("own")
    assert random_tok.vocab == own_tok.vocab and random_model.config == own_model.config
    assert not any(p.requires_grad for p in random_model.parameters())
    a = random_model.embeddings.word_embeddings.weight
    assert not torch.equal(a, own_model.embeddings.word_embeddings.weight)
    assert torch.equal(a, load_backbone("random")[0].embeddings.word_embeddings.weight)  # seeded

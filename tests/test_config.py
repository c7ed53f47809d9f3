"""BertConfig: presets follow the paper's L/H/A, JSON round-trips, bad values fail loudly."""

import json

import pytest

from bertedu import BertConfig
from bertedu.config import PRESETS


@pytest.mark.parametrize("name,layers,hidden", [
    ("tiny", 2, 128), ("mini", 4, 256), ("small", 4, 512), ("medium", 8, 512), ("base", 12, 768), ("large", 24, 1024),
])
def test_presets_follow_the_paper(name, layers, hidden):
    cfg = BertConfig.preset(name)
    assert (cfg.num_hidden_layers, cfg.hidden_size) == (layers, hidden)
    assert cfg.num_attention_heads == hidden // 64  # A = H / 64
    assert cfg.intermediate_size == 4 * hidden  # feed-forward size 4H
    assert cfg.head_dim == 64


def test_paper_sizes_base_and_large():
    # Sec. 3: BERT-Base (L=12, H=768, A=12, 110M), BERT-Large (L=24, H=1024, A=16, 340M)
    base, large = BertConfig.preset("base"), BertConfig.preset("large")
    assert base.num_attention_heads == 12 and large.num_attention_heads == 16
    assert 109e6 < base.num_parameters_formula() < 111e6
    assert 334e6 < large.num_parameters_formula() < 336e6


def test_preset_overrides_and_case():
    cfg = BertConfig.preset("Tiny", vocab_size=99, max_position_embeddings=40)
    assert cfg.vocab_size == 99 and cfg.max_position_embeddings == 40 and cfg.hidden_size == 128


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'huge'.*tiny"):
        BertConfig.preset("huge")


def test_heads_must_divide_hidden():
    with pytest.raises(ValueError, match="divisible by num_attention_heads"):
        BertConfig(hidden_size=36, num_attention_heads=5)


@pytest.mark.parametrize("field,value,exc", [
    ("vocab_size", 0, ValueError), ("vocab_size", 9.5, TypeError), ("num_hidden_layers", True, TypeError),
    ("hidden_dropout_prob", 1.5, ValueError), ("layer_norm_eps", 0.0, ValueError),
    ("hidden_act", "swish", ValueError), ("attn_implementation", "flash", ValueError),
    ("position_embedding_type", "rotary", ValueError), ("pad_token_id", -1, ValueError),
    ("is_decoder", "yes", TypeError),
])
def test_bad_values_name_the_field(field, value, exc):
    with pytest.raises(exc, match=field):
        BertConfig(**{field: value})


def test_json_round_trip(tmp_path):
    cfg = BertConfig.preset("mini", vocab_size=1234, hidden_dropout_prob=0.0, is_decoder=True)
    path = tmp_path / "config.json"
    cfg.save_json(path)
    assert BertConfig.from_json_file(path) == cfg
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # atomic write leaves no temp file behind


def test_reads_a_reference_config_json(tmp_path):
    # keys a real checkpoint carries that bertedu does not use are ignored
    real = {"architectures": ["BertModel"], "hidden_size": 384, "num_attention_heads": 12, "num_hidden_layers": 6,
            "intermediate_size": 1536, "vocab_size": 30522, "transformers_version": "4.8.2",
            "gradient_checkpointing": False, "position_embedding_type": "absolute", "use_cache": True}
    (tmp_path / "config.json").write_text(json.dumps(real))
    cfg = BertConfig.from_json_file(tmp_path / "config.json")
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.head_dim) == (6, 384, 32)


def test_missing_or_corrupt_config_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        BertConfig.from_json_file(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        BertConfig.from_json_file(tmp_path / "bad.json")


def test_formula_matches_transformers_parameter_count():
    transformers = pytest.importorskip("transformers")
    for name in ("tiny", "mini"):
        cfg = BertConfig.preset(name, vocab_size=1001)
        ref = transformers.BertModel(transformers.BertConfig(**{k: v for k, v in cfg.to_dict().items()
                                                               if k not in ("attn_implementation",)}))
        assert cfg.num_parameters_formula() == sum(p.numel() for p in ref.parameters())


def test_all_presets_listed():
    assert list(PRESETS) == ["tiny", "mini", "small", "medium", "base", "large"]

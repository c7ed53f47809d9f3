"""Checkpoints in the reference (``transformers``) format: strict loading, atomic saving."""

from __future__ import annotations

import json

import pytest
import torch

from bertedu.model.checkpoint import from_pretrained, load_hf_state_dict, save_pretrained
from bertedu.model.heads import BertForPreTraining
from bertedu.model.bert import BertModel
from odd_sizes import B, H, T, V, odd_config



small_config = odd_config


def pretraining_model(seed: int = 0, **overrides) -> BertForPreTraining:
    return BertForPreTraining(small_config(**overrides), generator=torch.Generator().manual_seed(seed)).eval()


def inputs() -> dict[str, torch.Tensor]:
    ids = torch.randint(1, V, (B, T), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[2, 4:] = 0
    return dict(input_ids=ids, attention_mask=mask)


def test_round_trip_keeps_outputs_and_picks_the_class(tmp_path):
    model = pretraining_model()
    save_pretrained(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = from_pretrained(tmp_path)
    assert isinstance(loaded, BertForPreTraining) and not loaded.training
    assert loaded.cls.predictions.decoder.weight is loaded.get_input_embeddings().weight  # still tied
    torch.testing.assert_close(loaded(**inputs()).prediction_logits, model(**inputs()).prediction_logits)
    backbone = from_pretrained(tmp_path, model_class=BertModel)
    torch.testing.assert_close(backbone(**inputs()).pooler_output, model(**inputs()).pooler_output)


def test_bertmodel_round_trip_and_sinusoidal_positions(tmp_path):
    model = BertModel(small_config(position_embedding_type="sinusoidal"),
                      generator=torch.Generator().manual_seed(2)).eval()
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert type(loaded) is BertModel and loaded.config.position_embedding_type == "sinusoidal"
    torch.testing.assert_close(loaded(**inputs()).last_hidden_state, model(**inputs()).last_hidden_state)


def test_saved_files_load_in_transformers_without_missing_or_unexpected_keys(tmp_path):
    transformers = pytest.importorskip("transformers")
    model = pretraining_model()
    save_pretrained(model, tmp_path)
    reference, info = transformers.BertForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ours, theirs = model(**inputs()), reference.eval()(**inputs())
    assert (ours.prediction_logits - theirs.prediction_logits).abs().max() <= 1e-5
    assert (ours.seq_relationship_logits - theirs.seq_relationship_logits).abs().max() <= 1e-5
    save_pretrained(model.bert, tmp_path / "backbone")
    _, info = transformers.BertModel.from_pretrained(tmp_path / "backbone", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_tokenizer_vocabulary_is_saved_alongside(tmp_path):
    from bertedu.text.tokenizer import BertTokenizer
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(V - 5)]
    save_pretrained(pretraining_model(), tmp_path, tokenizer=BertTokenizer.from_tokens(tokens))
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").split("\n")[:V] == tokens


def test_prefix_is_optional_in_both_directions():
    model = pretraining_model()
    backbone_only = model.bert.state_dict()  # keys without "bert."
    target = pretraining_model(seed=3)
    report = load_hf_state_dict(target, backbone_only)
    assert sorted(report.fresh) == sorted(k for k in target.state_dict() if k.startswith("cls.")
                                          and not k.startswith("cls.predictions.decoder"))
    torch.testing.assert_close(target.bert.state_dict(), model.bert.state_dict())
    bare = BertModel(small_config())
    report = load_hf_state_dict(bare, model.state_dict())  # keys with "bert." and cls.* heads
    assert any(k.startswith("cls.") for k in report.ignored) and not report.fresh
    torch.testing.assert_close(bare.state_dict(), model.bert.state_dict())


def test_legacy_gamma_beta_and_position_ids_buffer_load():
    model = pretraining_model()
    legacy = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
              for k, v in model.state_dict().items()}
    legacy["bert.embeddings.position_ids"] = torch.arange(40).unsqueeze(0)
    target = pretraining_model(seed=4)
    report = load_hf_state_dict(target, legacy)
    assert "bert.embeddings.position_ids" in report.ignored
    assert report.renamed["bert.embeddings.LayerNorm.gamma"] == "embeddings.LayerNorm.weight"
    torch.testing.assert_close(target.state_dict(), model.state_dict())


def test_decoder_bias_alone_is_the_mlm_bias():
    model = pretraining_model()
    with torch.no_grad():
        model.cls.predictions.bias.add_(1.5)
    state = model.state_dict()
    del state["cls.predictions.bias"]
    target = pretraining_model(seed=5)
    load_hf_state_dict(target, state)
    torch.testing.assert_close(target.cls.predictions.bias, model.cls.predictions.bias)


def test_untied_decoder_and_disagreeing_bias_are_refused():
    state = pretraining_model().state_dict()
    untied = {**state, "cls.predictions.decoder.weight": state["cls.predictions.decoder.weight"] + 1}
    with pytest.raises(ValueError, match="decoder.weight.*word embeddings"):
        load_hf_state_dict(pretraining_model(seed=6), untied)
    two_biases = {**state, "cls.predictions.decoder.bias": state["cls.predictions.bias"] + 1}
    with pytest.raises(ValueError, match="decoder.bias"):
        load_hf_state_dict(pretraining_model(seed=6), two_biases)


def test_unknown_missing_and_misshapen_keys_are_listed():
    model = pretraining_model()
    state = dict(model.state_dict())
    state["bert.encoder.layer.9.output.dense.weight"] = torch.zeros(2, 3)
    state["bert.pooler.dense.weight"] = torch.zeros(H, H + 1)
    del state["bert.encoder.layer.1.intermediate.dense.bias"]
    before = {k: v.clone() for k, v in pretraining_model(seed=7).state_dict().items()}
    target = pretraining_model(seed=7)
    with pytest.raises(ValueError) as err:
        load_hf_state_dict(target, state)
    message = str(err.value)
    assert "unexpected key encoder.layer.9.output.dense.weight (2, 3)" in message
    assert "shape mismatch pooler.dense.weight: checkpoint (36, 37), model (36, 36)" in message
    assert "missing key encoder.layer.1.intermediate.dense.bias (37,)" in message
    torch.testing.assert_close(target.state_dict(), before)  # nothing was half-copied
    with pytest.raises(TypeError, match="BertModel or BertForPreTraining"):
        load_hf_state_dict(torch.nn.Linear(2, 2), state)


def test_learned_positions_do_not_load_into_a_sinusoidal_model():
    with pytest.raises(ValueError, match="unexpected key embeddings.position_embeddings.weight"):
        load_hf_state_dict(BertModel(small_config(position_embedding_type="sinusoidal")),
                           pretraining_model().bert.state_dict())


def test_pytorch_model_bin_is_read_with_weights_only(tmp_path):
    model = pretraining_model()
    small_config().save_json(tmp_path / "config.json")
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    loaded = from_pretrained(tmp_path)
    torch.testing.assert_close(loaded(**inputs()).prediction_logits, model(**inputs()).prediction_logits)
    torch.save({"weights": model.state_dict(), "hook": print}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pytorch_model.bin"):  # a pickled function is refused
        from_pretrained(tmp_path)


@pytest.mark.parametrize("name", ["model.safetensors", "pytorch_model.bin"])
def test_truncated_weights_name_the_file(tmp_path, name):
    save_pretrained(pretraining_model(), tmp_path)
    if name == "pytorch_model.bin":
        (tmp_path / "model.safetensors").unlink()
        torch.save(pretraining_model().state_dict(), tmp_path / name)
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=name):
        from_pretrained(tmp_path)


def test_missing_pieces_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        from_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="config"):
        from_pretrained(tmp_path)
    small_config().save_json(tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        from_pretrained(tmp_path)


def test_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    first = pretraining_model()
    save_pretrained(first, tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a fi")  # the crash happens mid-write
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(pretraining_model(seed=8), tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_config_json_names_the_architecture(tmp_path):
    save_pretrained(pretraining_model().bert, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["vocab_size"] == V


def test_from_pretrained_can_choose_the_attention_path(tmp_path):
    save_pretrained(pretraining_model(), tmp_path)
    eager = from_pretrained(tmp_path, attn_implementation="eager")
    fused = from_pretrained(tmp_path)
    assert all(layer.attention.self.attn_implementation == "eager" for layer in eager.bert.encoder.layer)
    assert all(layer.attention.self.attn_implementation == "sdpa" for layer in fused.bert.encoder.layer)
    torch.testing.assert_close(eager(**inputs()).prediction_logits, fused(**inputs()).prediction_logits,
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="attn_implementation"):
        from_pretrained(tmp_path, attn_implementation="flash")


# ------------------------------------------------------------------ task heads and newcomer errors
def test_from_pretrained_builds_a_task_head_and_reports_the_new_keys(tmp_path):
    import bertedu

    cfg = bertedu.BertConfig.preset("tiny", vocab_size=99, hidden_size=36, num_attention_heads=3,
                                    intermediate_size=37, max_position_embeddings=40)
    backbone = bertedu.BertForPreTraining(cfg, generator=torch.Generator().manual_seed(0))
    bertedu.save_pretrained(backbone, tmp_path / "ckpt")
    head, report = bertedu.from_pretrained(tmp_path / "ckpt", bertedu.BertForSequenceClassification,
                                           num_labels=3, return_report=True,
                                           generator=torch.Generator().manual_seed(1))
    assert isinstance(head, bertedu.BertForSequenceClassification) and not head.training
    assert sorted(report.fresh) == ["classifier.bias", "classifier.weight"]
    torch.testing.assert_close(head.bert.embeddings.word_embeddings.weight,
                               backbone.bert.embeddings.word_embeddings.weight)
    bertedu.save_pretrained(head, tmp_path / "task")  # the head writes its own config fields
    again = bertedu.from_pretrained(tmp_path / "task", bertedu.BertForSequenceClassification)
    assert again.classifier.out_features == 3
    torch.testing.assert_close(again.classifier.weight, head.classifier.weight)
    with pytest.raises(TypeError, match="task heads"):
        bertedu.from_pretrained(tmp_path / "ckpt", num_labels=2)


def test_from_pretrained_says_what_to_do_with_a_file_or_a_hub_id(tmp_path):
    import bertedu

    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file: pass the checkpoint \\*directory\\*"):
        bertedu.from_pretrained(tmp_path / "model.safetensors")
    # offline (the tests run with HF_HUB_OFFLINE=1) and not cached: one line saying what to do
    with pytest.raises(FileNotFoundError, match="hub id it is not in the local cache.*go online once"):
        bertedu.from_pretrained("bertedu-test/not-a-cached-model")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bertedu.from_pretrained(tmp_path / "missing" / "deeper" / "folder")


@pytest.mark.parametrize("text, expected", [
    ("bert-base-uncased", True), ("google/bert_uncased_L-2_H-128_A-2", True), ("./ckpt", False),
    ("/abs/path", False), ("a/b/c", False), ("~/models/x", False), ("../x", False), ("config.json", False)])
def test_hub_id_recognition(text, expected):
    from bertedu.model.checkpoint import looks_like_hub_id

    assert looks_like_hub_id(text) is expected


def test_from_pretrained_fetches_a_hub_id_through_huggingface_hub(tmp_path, monkeypatch):
    """A hub id goes to huggingface_hub.snapshot_download (stubbed: no network in tests) and the snapshot
    folder it returns is loaded; its errors become one clear line."""
    import huggingface_hub
    from huggingface_hub import errors as hub_errors

    import bertedu

    model = bertedu.BertModel(bertedu.BertConfig(vocab_size=99, hidden_size=36, num_hidden_layers=1,
                                                 num_attention_heads=3, intermediate_size=37))
    bertedu.save_pretrained(model, tmp_path / "snapshot")
    calls = []

    def fake_download(repo_id, allow_patterns=None, **kwargs):
        calls.append((repo_id, tuple(allow_patterns)))
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    loaded = bertedu.from_pretrained("someone/tiny-bert")
    assert calls and calls[0][0] == "someone/tiny-bert" and "config.json" in calls[0][1]
    torch.testing.assert_close(loaded.embeddings.word_embeddings.weight, model.embeddings.word_embeddings.weight)

    def missing(repo_id, **kwargs):
        error = hub_errors.RepositoryNotFoundError.__new__(hub_errors.RepositoryNotFoundError)
        Exception.__init__(error, "404 Repository Not Found")  # (its __init__ wants an HTTP response)
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", missing)
    with pytest.raises(FileNotFoundError, match="neither a local directory nor a model on the Hugging Face hub"):
        bertedu.from_pretrained("someone/typo")

"""RoFormer: every class loaded from a transformers checkpoint matches transformers."""

import os

import keras
import numpy as np
import pytest
import transformers

import keras_models
from tests.helpers import assert_close, hf_outputs, np_out, random_ids, save_hf

PAD = 0
# Both variants cover each switch: a factorised embedding (E=24 -> H=32) with rotated values,
# and the plain E=H model without.
VARIANTS = {
    "proj_rotv": {"embedding_size": 24, "rotary_value": True},
    "plain": {},
}


def tiny_config(**overrides):
    config = dict(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=PAD,
        num_labels=3,
    )
    config.update(overrides)
    return transformers.RoFormerConfig(**config)


def batch(seq=7, rows=3, rng=None):
    rng = rng or np.random.default_rng(1)
    ids = random_ids(rng, (rows, seq), 1, 99, avoid=(PAD,))
    mask = np.ones_like(ids)
    ids[1, 5:] = PAD  # right padding
    mask[1, 5:] = 0
    ids[2, 3:] = PAD
    mask[2, 3:] = 0
    types = np.zeros_like(ids)
    types[0, 4:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    made = {}

    def get(name, **overrides):
        key = (name, tuple(sorted(overrides.items())))
        if key not in made:
            directory = tmp_path_factory.mktemp(name)
            model = save_hf(getattr(transformers, name), tiny_config(**overrides), directory)
            made[key] = (str(directory), model)
        return made[key]

    return get


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_backbone_parity(checkpoints, variant):
    overrides = VARIANTS[variant]
    directory, hf = checkpoints("RoFormerModel", **overrides)
    x = batch()
    backbone = keras_models.RoFormerBackbone.from_preset(directory)
    assert backbone.input_names == ("input_ids", "attention_mask", "token_type_ids")
    assert backbone.embedding_size == overrides.get("embedding_size", 32)
    assert backbone.rotary_value == overrides.get("rotary_value", False)
    ours = backbone(x)
    assert sorted(ours) == ["last_hidden_state"]  # no pooler
    assert_close(
        ours["last_hidden_state"], hf_outputs(hf, x).last_hidden_state, x["attention_mask"]
    )
    # Missing token types default to zeros, as in transformers.
    short = {"input_ids": x["input_ids"], "attention_mask": x["attention_mask"]}
    assert_close(
        backbone(short)["last_hidden_state"],
        hf_outputs(hf, short).last_hidden_state,
        x["attention_mask"],
    )


HEADS = [
    "RoFormerForQuestionAnswering",
    "RoFormerForTokenClassification",
    "RoFormerForSequenceClassification",
    "RoFormerForMaskedLM",
    "RoFormerForCausalLM",
]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("name", HEADS)
def test_head_parity_and_loss(checkpoints, name, variant):
    # One layer keeps the per-model compile of `evaluate` cheap; the backbone tests stack two.
    overrides = dict(VARIANTS[variant], num_hidden_layers=1)
    if name.endswith("CausalLM"):
        overrides["is_decoder"] = True
    directory, hf = checkpoints(name, **overrides)
    x = batch()
    model = getattr(keras_models, name).from_preset(directory)
    ours = model(x)
    rng = np.random.default_rng(2)
    if name.endswith("QuestionAnswering"):
        # Row 2's end position is out of range: ignored, as in transformers.
        labels = {"start_positions": np.array([1, 2, 0]), "end_positions": np.array([3, 4, 40])}
        theirs = hf_outputs(hf, x, **labels)
        assert_close(ours["start_logits"], theirs.start_logits, x["attention_mask"])
        assert_close(ours["end_logits"], theirs.end_logits, x["attention_mask"])
    elif name.endswith("SequenceClassification"):
        assert model.head_activation == "gelu"
        labels = {"labels": np.array([0, 2, 1])}
        theirs = hf_outputs(hf, x, **labels)
        assert_close(ours["logits"], theirs.logits)
    else:
        width = 99 if "LM" in name else 3
        label_ids = rng.integers(0, width, size=x["input_ids"].shape)
        label_ids[x["attention_mask"] == 0] = -100
        labels = {"labels": label_ids}
        theirs = hf_outputs(hf, x, **labels)
        assert_close(ours["logits"], theirs.logits, x["attention_mask"])
        assert np_out(theirs.logits).shape[-1] == width
    if name.endswith("CausalLM"):
        # is_decoder=True: changing the last token leaves the earlier logits alone.
        changed = {k: v.copy() for k, v in x.items()}
        changed["input_ids"][:, -1] = changed["input_ids"][:, -1] % 98 + 1
        before = keras.ops.convert_to_numpy(ours["logits"])[:, :-1]
        after = keras.ops.convert_to_numpy(model(changed)["logits"])[:, :-1]
        np.testing.assert_allclose(after, before, atol=1e-6)
    model.compile()
    loss = model.evaluate(x, labels, verbose=0, batch_size=3)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_multiple_choice_parity(checkpoints, variant):
    directory, hf = checkpoints("RoFormerForMultipleChoice", **VARIANTS[variant])
    rng = np.random.default_rng(3)
    x = {k: np.stack([v, v[::-1]]) for k, v in batch(rng=rng).items()}  # [2, 3, 7]
    model = keras_models.RoFormerForMultipleChoice.from_preset(directory)
    assert model.pooling == "last"
    labels = np.array([2, 0])
    theirs = hf_outputs(hf, x, labels=labels)
    assert_close(model(x)["logits"], theirs.logits)
    model.compile()
    loss = model.evaluate(x, labels, verbose=0, batch_size=2)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)


@pytest.mark.parametrize(
    "problem_type,num_labels",
    [("regression", 1), ("multi_label_classification", 3)],
)
def test_sequence_classification_problem_types(tmp_path, problem_type, num_labels):
    config = tiny_config(num_labels=num_labels, problem_type=problem_type, num_hidden_layers=1)
    hf = save_hf(transformers.RoFormerForSequenceClassification, config, tmp_path)
    x = batch()
    rng = np.random.default_rng(4)
    if problem_type == "regression":
        labels = rng.normal(size=(3,)).astype("float32")
    else:
        labels = (rng.random((3, num_labels)) > 0.5).astype("float32")
    theirs = hf_outputs(hf, x, labels=labels)
    model = keras_models.RoFormerForSequenceClassification.from_preset(tmp_path)
    assert model.problem_type == problem_type
    assert_close(model(x)["logits"], theirs.logits)
    model.compile()
    np.testing.assert_allclose(
        model.evaluate(x, labels, verbose=0, batch_size=3), float(theirs.loss), atol=1e-5
    )


def test_odd_sizes_long_sequence_and_left_padding(tmp_path):
    # 530 positions: the rotary angles past 512 must still match transformers' float64 table.
    config = tiny_config(
        hidden_size=24,
        num_attention_heads=3,
        intermediate_size=19,
        num_hidden_layers=1,
        embedding_size=10,
        rotary_value=True,
        max_position_embeddings=600,
    )
    hf = save_hf(transformers.RoFormerModel, config, tmp_path)
    rng = np.random.default_rng(5)
    ids = random_ids(rng, (2, 530), 1, 99, avoid=(PAD,))
    mask = np.ones_like(ids)
    ids[0, :4] = PAD
    mask[0, :4] = 0
    ids[1, 517:] = PAD
    mask[1, 517:] = 0
    x = {"input_ids": ids, "attention_mask": mask}
    ours = keras_models.RoFormerBackbone.from_preset(tmp_path)(x)
    assert_close(ours["last_hidden_state"], hf_outputs(hf, x).last_hidden_state, mask)


def test_wrong_rotary_table_is_refused(tmp_path):
    import torch

    config = tiny_config(num_hidden_layers=1)
    model = transformers.RoFormerModel(config).eval()
    with torch.no_grad():
        model.encoder.embed_positions.weight[5, 0] += 0.5
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="embed_positions"):
        keras_models.RoFormerBackbone.from_preset(tmp_path)


def test_keras_preset_round_trip(tmp_path, checkpoints):
    directory, _ = checkpoints("RoFormerForMaskedLM", **VARIANTS["proj_rotv"])
    model = keras_models.RoFormerForMaskedLM.from_preset(directory)
    x = batch()
    expected = keras.ops.convert_to_numpy(model(x)["logits"])
    model.save_to_preset(tmp_path / "mlm")
    loaded = keras_models.RoFormerForMaskedLM.from_preset(tmp_path / "mlm")
    assert loaded.backbone.rotary_value and loaded.backbone.embedding_size == 24
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)["logits"]), expected, atol=1e-6)
    path = os.path.join(tmp_path, "mlm.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(x)["logits"]), expected, atol=1e-6
    )


def test_presets_are_registered():
    names = [p.name for p in keras_models.list_presets(family="roformer", embedded=False)]
    assert names == [
        "roformer_chinese_base",
        "roformer_chinese_char_base",
        "roformer_chinese_small",
    ]


def test_input_longer_than_the_rotary_table_is_refused(checkpoints):
    directory, _ = checkpoints("RoFormerModel", **VARIANTS["plain"])
    backbone = keras_models.RoFormerBackbone.from_preset(directory)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        backbone(np.ones((1, 65), "int32"))


def test_hub_download_falls_back_to_pytorch_weights(tmp_path, monkeypatch):
    # junnyu's RoFormer repositories hold pytorch_model.bin and no safetensors.
    import huggingface_hub

    from keras_models.presets.registry import download

    calls = []

    def fake_snapshot_download(repo_id, allow_patterns):
        calls.append(allow_patterns)
        if any("pytorch_model" in p for p in allow_patterns):
            (tmp_path / "pytorch_model.bin").write_bytes(b"")
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert download("junnyu/roformer_chinese_base") == str(tmp_path)
    assert len(calls) == 2 and "pytorch_model*.bin" in calls[1]
    (tmp_path / "model.safetensors").write_bytes(b"")
    calls.clear()
    download("junnyu/roformer_chinese_base")
    assert len(calls) == 1  # safetensors present: no PyTorch download

"""RoFormer: every class loaded from a transformers checkpoint matches transformers."""

import os

import keras
import numpy as np
import pytest
import transformers

import keras_models
from tests.families import FAMILIES
from tests.harness import (
    checkpoint_fixture,
    choices,
    encoder_batch,
    run_backbone_test,
    run_call_options_test,
    run_multiple_choice_test,
    run_problem_type_test,
    run_task_test,
)
from tests.helpers import assert_close, hf_outputs, random_ids, save_hf

SPEC = FAMILIES["roformer"]
PAD = SPEC.pad
# Both variants cover each switch: a factorised embedding (E=24 -> H=32) with rotated values,
# and the plain E=H model without.
VARIANTS = {
    "proj_rotv": {"embedding_size": 24, "rotary_value": True},
    "plain": {},
}


checkpoints = checkpoint_fixture(SPEC)


def batch(rng=None):
    return encoder_batch(SPEC, rng=rng)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_backbone_parity(checkpoints, variant):
    overrides = VARIANTS[variant]
    x = batch()
    run = run_backbone_test(SPEC, checkpoints, x, **overrides)
    backbone, hf = run.model, run.hf
    assert backbone.input_names == ("input_ids", "attention_mask", "token_type_ids")
    assert backbone.embedding_size == overrides.get("embedding_size", 32)
    assert backbone.rotary_value == overrides.get("rotary_value", False)
    assert sorted(run.ours) == ["last_hidden_state"]  # no pooler
    # Missing token types default to zeros, as in transformers.
    short = {"input_ids": x["input_ids"], "attention_mask": x["attention_mask"]}
    assert_close(
        backbone(short)["last_hidden_state"],
        hf_outputs(hf, short).last_hidden_state,
        x["attention_mask"],
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("head,overrides", SPEC.heads, ids=[h[0] for h in SPEC.heads])
def test_head_parity_and_loss(checkpoints, head, overrides, variant):
    # One layer keeps the per-model compile of `evaluate` cheap; the backbone tests stack two.
    overrides = dict(VARIANTS[variant], num_hidden_layers=1, **overrides)
    x = batch()
    run = run_task_test(SPEC, checkpoints, head, x, **overrides)
    if head == "SequenceClassification":
        assert run.model.head_activation == "gelu"
    if head == "CausalLM":
        # is_decoder=True: changing the last token leaves the earlier logits alone.
        changed = {k: v.copy() for k, v in x.items()}
        changed["input_ids"][:, -1] = changed["input_ids"][:, -1] % 98 + 1
        before = keras.ops.convert_to_numpy(run.ours["logits"])[:, :-1]
        after = keras.ops.convert_to_numpy(run.model(changed)["logits"])[:, :-1]
        np.testing.assert_allclose(after, before, atol=1e-6)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_multiple_choice_parity(checkpoints, variant):
    x = choices(batch(rng=np.random.default_rng(3)))
    run = run_multiple_choice_test(SPEC, checkpoints, x, **VARIANTS[variant])
    assert run.model.pooling == "last"


@pytest.mark.parametrize(
    "problem_type,num_labels",
    [("regression", 1), ("multi_label_classification", 3)],
)
def test_sequence_classification_problem_types(tmp_path, problem_type, num_labels):
    x = batch()
    run_problem_type_test(SPEC, tmp_path, x, problem_type, num_labels, num_hidden_layers=1)


def test_odd_sizes_long_sequence_and_left_padding(tmp_path):
    # 530 positions: the rotary angles past 512 must still match transformers' float64 table.
    config = SPEC.config(
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

    config = SPEC.config(num_hidden_layers=1)
    model = transformers.RoFormerModel(config).eval()
    with torch.no_grad():
        model.encoder.embed_positions.weight[5, 0] += 0.5
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="embed_positions"):
        keras_models.RoFormerBackbone.from_preset(tmp_path)


def test_keras_preset_round_trip(tmp_path, checkpoints):
    directory, _ = checkpoints("MaskedLM", **VARIANTS["proj_rotv"])
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
    directory, _ = checkpoints("Model", **VARIANTS["plain"])
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


def test_call_options(checkpoints):
    # The factorised variant: `inputs_embeds` has the table's width (24), not hidden_size.
    overrides = dict(VARIANTS["proj_rotv"], num_hidden_layers=1, num_labels=2)
    run_call_options_test(
        SPEC, checkpoints, "QuestionAnswering", batch(), "start_logits", **overrides
    )

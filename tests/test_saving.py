"""`.keras` files (also across backends), Keras presets and checkpoint errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import transformers

import keras_models
from tests.helpers import save_hf
from tests.test_core_inputs import IDS, MASK, small_backbone, to_np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def mc_model():
    return keras_models.RobertaForMultipleChoice(small_backbone())


def test_keras_file_round_trip(tmp_path, mc_model):
    x = np.stack([IDS, IDS[::-1]])
    path = str(tmp_path / "mc.keras")
    mc_model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is keras_models.RobertaForMultipleChoice
    np.testing.assert_allclose(to_np(loaded(x)["logits"]), to_np(mc_model(x)["logits"]), atol=1e-6)
    assert loaded.get_config()["backbone"]["config"]["hidden_size"] == 16


def test_keras_file_loads_on_another_backend(tmp_path):
    model = keras_models.RobertaForSequenceClassification(
        small_backbone(add_pooling_layer=False), num_labels=3
    )
    path = str(tmp_path / "cls.keras")
    model.save(path)
    expected = to_np(model([IDS, MASK])["logits"])
    np.save(tmp_path / "ids.npy", IDS)
    np.save(tmp_path / "mask.npy", MASK)
    script = (
        "import sys, numpy as np, keras, keras_models\n"
        f"m = keras.saving.load_model({path!r})\n"
        f"ids = np.load({str(tmp_path / 'ids.npy')!r}); mask = np.load({str(tmp_path / 'mask.npy')!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, keras.ops.convert_to_numpy(m([ids, mask])['logits']))\n"
    )
    other = {"jax": "torch", "torch": "tensorflow", "tensorflow": "jax"}[keras.backend.backend()]
    env = {**os.environ, "KERAS_BACKEND": other, "PYTHONPATH": ROOT}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=ROOT)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)


def test_preset_round_trip_and_cross_loading(tmp_path):
    task = keras_models.RobertaForQuestionAnswering(small_backbone(add_pooling_layer=False))
    task.save_to_preset(tmp_path / "qa")
    loaded = keras_models.RobertaForQuestionAnswering.from_preset(tmp_path / "qa")
    np.testing.assert_allclose(
        to_np(loaded(IDS)["start_logits"]), to_np(task(IDS)["start_logits"]), atol=1e-6
    )
    # The backbone of a task preset, and a new task on it with a fresh head.
    backbone = keras_models.RobertaBackbone.from_preset(tmp_path / "qa")
    np.testing.assert_allclose(
        to_np(backbone(IDS)["last_hidden_state"]),
        to_np(task.backbone(IDS)["last_hidden_state"]),
        atol=1e-6,
    )
    with pytest.warns(UserWarning, match="freshly initialised"):
        tagger = keras_models.RobertaForTokenClassification.from_preset(
            tmp_path / "qa", num_labels=4
        )
    assert tagger(IDS)["logits"].shape == (2, 6, 4)
    # Overrides reach the backbone (dtype) through the preset.
    half = keras_models.RobertaForQuestionAnswering.from_preset(tmp_path / "qa", dtype="bfloat16")
    assert half.backbone.dtype_policy.compute_dtype == "bfloat16"
    # Saving over an existing preset replaces it whole.
    task.save_to_preset(tmp_path / "qa")
    assert sorted(os.listdir(tmp_path / "qa")) == ["model.weights.h5", "preset.json"]


def test_newer_preset_format_is_refused(tmp_path):
    small_backbone().save_to_preset(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "preset.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "p" / "preset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format_version 99"):
        keras_models.RobertaBackbone.from_preset(tmp_path / "p")


def hf_tiny():
    return transformers.RobertaConfig(
        vocab_size=60,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=20,
        max_position_embeddings=20,
        num_labels=2,
    )


def test_task_from_base_checkpoint_gets_a_fresh_head(tmp_path):
    save_hf(transformers.RobertaModel, hf_tiny(), tmp_path)
    with pytest.warns(UserWarning, match="freshly initialised"):
        model = keras_models.RobertaForQuestionAnswering.from_preset(tmp_path)
    assert model(IDS)["start_logits"].shape == IDS.shape


def test_generic_task_resolves_the_family(tmp_path):
    save_hf(transformers.RobertaForSequenceClassification, hf_tiny(), tmp_path)
    model = keras_models.SequenceClassification.from_preset(tmp_path)
    assert type(model) is keras_models.RobertaForSequenceClassification


def _edit_checkpoint(directory, edit):
    from safetensors.numpy import load_file, save_file

    path = os.path.join(directory, "model.safetensors")
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda t: t.pop("embeddings.LayerNorm.weight"), "Missing weight 'embeddings.LayerNorm"),
        (
            lambda t: t.update(
                {"encoder.layer.7.output.dense.weight": np.zeros((2, 2), "float32")}
            ),
            "Unexpected weights",
        ),
        (lambda t: t.update({"pooler.dense.bias": np.zeros((3,), "float32")}), "has shape"),
    ],
    ids=["missing", "unexpected", "misshapen"],
)
def test_checkpoint_errors_name_the_weight(tmp_path, edit, match):
    save_hf(transformers.RobertaModel, hf_tiny(), tmp_path)
    _edit_checkpoint(tmp_path, edit)
    with pytest.raises(ValueError, match=match):
        keras_models.RobertaBackbone.from_preset(tmp_path)


def test_truncated_weights_and_wrong_family(tmp_path):
    save_hf(transformers.RobertaModel, hf_tiny(), tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="model.safetensors"):
        keras_models.RobertaBackbone.from_preset(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_type"] = "not-a-model"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="Unsupported model_type 'not-a-model'"):
        keras_models.RobertaBackbone.from_preset(tmp_path)


def test_unknown_preset_name():
    with pytest.raises(ValueError, match="Unknown preset"):
        keras_models.RobertaBackbone.from_preset("no_such_preset")

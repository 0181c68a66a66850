"""Keras' `quantize` on every family: the quantized model stays close to float32, and it saves
and loads (Keras presets; `.keras` files) to exactly the same outputs, `generate` included."""

import keras
import numpy as np
import pytest

import keras_models
from tests import tiny_models

IDS = np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]], "int32")


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _outputs(model, x):
    return {k: _numpy(v) for k, v in model(x).items()}


@pytest.mark.parametrize("family", sorted(tiny_models.TASKS))
def test_quantized_model_saves_and_loads(family, tmp_path):
    model = tiny_models.task(family, tiny_models.backbone(family))
    x = tiny_models.inputs(family, IDS)
    before = _outputs(model, x)
    model.quantize("int8")
    after = _outputs(model, x)
    assert any(getattr(layer, "quantization_mode", None) for layer in model._flatten_layers())
    for key, value in before.items():
        # int8 weights: close to float32, not equal.
        scale = np.abs(value).max() + 1e-6
        assert np.abs(after[key] - value).max() / scale < 0.05, key
    # (`.keras` files: test_quantized_generation_round_trip.)
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    again = type(model).from_preset(preset)
    assert any(getattr(layer, "quantization_mode", None) for layer in again._flatten_layers())
    for key, value in _outputs(again, x).items():
        np.testing.assert_array_equal(value, after[key])


@pytest.mark.parametrize("mode", ["int8", "float8", "int4"])
def test_quantized_generation_round_trip(mode, tmp_path):
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    model.quantize(mode)
    ids = np.array([[2, 11, 40, 7]], "int32")
    tokens = model.generate(ids, max_new_tokens=5, eos_token_id=[])
    path = str(tmp_path / "opt.keras")
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_array_equal(again.generate(ids, max_new_tokens=5, eos_token_id=[]), tokens)


def test_a_config_of_another_model_is_refused():
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    config = model.get_config()
    config["quantized_layers"] = {"0": ["not_a_layer", "int8"]}
    with pytest.raises(ValueError, match="not_a_layer"):
        keras_models.OPTForCausalLM.from_config(config)

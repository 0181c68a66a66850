"""Checkpoints load whole or not at all: an interrupted `save_to_preset` or `.keras` save
leaves the earlier file intact, missing weight files are named, a damaged load raises."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_models
from tests.tiny_models import backbone as make_backbone
from tests.tiny_models import config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDS = np.array([[0, 5, 6, 7, 2], [0, 8, 9, 2, 1]], "int32")

# Builds the same tiny RoBERTa with other weights and saves it over the preset; the weights
# writer announces itself, then hangs, so the test can kill the process in the middle.
KILLED_SAVE = """
import sys, time, keras, numpy as np
import keras_models
from tests.tiny_models import backbone
preset, marker = sys.argv[1], sys.argv[2]
model = backbone("roberta")
model.set_weights([w + 1.0 for w in model.get_weights()])
def slow_save_weights(self, path, *args, **kwargs):
    with open(path, "wb") as f:
        f.write(b"half a weights file")
    open(marker, "w").close()
    time.sleep(600)
keras.Model.save_weights = slow_save_weights
model.save_to_preset(preset)
"""


def _files(directory):
    return {
        name: open(os.path.join(directory, name), "rb").read()
        for name in sorted(os.listdir(directory))
    }


def _out(model):
    return keras.ops.convert_to_numpy(model(IDS)["last_hidden_state"])


def test_killed_save_to_preset_leaves_the_earlier_preset(tmp_path):
    model = make_backbone("roberta")
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    before = _files(preset)
    marker = str(tmp_path / "writing")
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, preset, marker],
        cwd=ROOT,
        # The writer is plain Python on every backend; the numpy backend starts fastest.
        env={**os.environ, "PYTHONPATH": ROOT, "KERAS_BACKEND": "numpy"},
    )
    try:
        deadline = time.time() + 240
        while not os.path.exists(marker):
            assert process.poll() is None, "the saving process ended before writing"
            assert time.time() < deadline, "the saving process never started writing"
            time.sleep(0.1)
        # The new weights are being written into a temporary sibling, not into the preset.
        assert [n for n in os.listdir(tmp_path) if n.startswith(".preset-")]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert _files(preset) == before
    loaded = keras_models.RobertaBackbone.from_preset(preset)
    np.testing.assert_array_equal(_out(loaded), _out(model))
    # A later save over the same preset still works (the leftover temporary is ignored).
    model.save_to_preset(preset)
    assert _files(preset) == before


def test_keras_save_is_atomic(tmp_path, monkeypatch):
    model = keras_models.RobertaForQuestionAnswering(make_backbone("roberta"))
    path = str(tmp_path / "model.keras")
    model.save(path)
    before = open(path, "rb").read()
    real_save = keras.Model.save

    def interrupted(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    monkeypatch.setattr(keras.Model, "save", real_save)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["model.keras"]  # no temporary left behind
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(IDS)["start_logits"]),
        keras.ops.convert_to_numpy(model(IDS)["start_logits"]),
        atol=1e-6,
    )
    # A finished save replaces the file.
    model.backbone.embeddings.word_embeddings.embeddings.assign(
        model.backbone.embeddings.word_embeddings.embeddings + 1.0
    )
    model.save(path)
    assert open(path, "rb").read() != before
    assert os.listdir(tmp_path) == ["model.keras"]


def test_missing_and_damaged_weight_files_are_named_and_nothing_loads(tmp_path):
    preset = str(tmp_path / "preset")
    make_backbone("roberta").save_to_preset(preset)
    weights = os.path.join(preset, "model.weights.h5")
    data = open(weights, "rb").read()
    with open(weights, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model.weights.h5"):
        keras_models.RobertaBackbone.from_preset(preset)
    with pytest.raises(ValueError, match="model.weights.h5"):
        keras_models.RobertaForQuestionAnswering.from_preset(preset)
    os.remove(weights)
    with pytest.raises(ValueError, match="model.weights.h5 is missing"):
        keras_models.RobertaBackbone.from_preset(preset)
    # A Hugging Face directory with a config and no weights, and one whose index lists a
    # missing shard.
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(
        json.dumps({"model_type": "roberta", "vocab_size": config("roberta")["vocab_size"]})
    )
    with pytest.raises(ValueError, match="No weights in .*model.safetensors"):
        keras_models.RobertaBackbone.from_preset(str(hf))
    (hf / "model.safetensors.index.json").write_text(
        '{"weight_map": {"embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors"}}'
    )
    with pytest.raises(ValueError, match="model-00001-of-00002.safetensors .* is missing"):
        keras_models.RobertaBackbone.from_preset(str(hf))

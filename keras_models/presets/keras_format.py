"""The Keras preset format: `preset.json` (class and config) plus `model.weights.h5`."""

import json
import os

import keras

from keras_models.presets.atomic import atomic_directory, write_files

FORMAT_VERSION = 1
PRESET_FILE = "preset.json"
WEIGHTS_FILE = "model.weights.h5"


def is_keras_preset(directory):
    return os.path.exists(os.path.join(directory, PRESET_FILE))


def save_preset(model, preset_dir, extra_files=None):
    """Writes `model` to `preset_dir` atomically: a temporary sibling is renamed into place, so
    an interrupted save leaves any earlier preset intact.

    Args:
        model: a backbone or task.
        preset_dir: the destination directory.
        extra_files: optional dict of file name -> source path to copy in, or bytes to write
            (tokenizer and preprocessor files).
    """
    with atomic_directory(preset_dir, prefix=".preset-") as tmp:
        with open(os.path.join(tmp, PRESET_FILE), "w") as f:
            json.dump(
                {
                    "format_version": FORMAT_VERSION,
                    "library": "keras_models",
                    "keras_version": keras.__version__,
                    "model": keras.saving.serialize_keras_object(model),
                },
                f,
                indent=2,
            )
        model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
        write_files(tmp, extra_files or {})


def read_preset_config(preset_dir):
    path = os.path.join(preset_dir, PRESET_FILE)
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Could not read the preset file {path}: {error}") from error
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {version!r}; this keras_models reads versions up to "
            f"{FORMAT_VERSION}. Upgrade keras_models to load it."
        )
    return data["model"]


def build_from_preset_config(model_config):
    return keras.saving.deserialize_keras_object(model_config)


def load_preset_weights(model, preset_dir):
    path = os.path.join(preset_dir, WEIGHTS_FILE)
    if not os.path.exists(path):
        raise ValueError(f"The preset weights file {path} is missing.")
    try:
        model.load_weights(path)
    except Exception as error:  # h5py and Keras raise many types for a damaged file
        raise ValueError(f"Could not load the preset weights {path}: {error}") from error

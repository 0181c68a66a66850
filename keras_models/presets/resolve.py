"""Where a preset lives: a registered name, `hf://owner/name` or a directory, resolved to a
local directory; and reading a Hugging Face `config.json` there."""

import json
import os

from keras_models.presets import keras_format, keras_hub_format
from keras_models.presets.registry import PRESETS, download
from keras_models.progress import check_verbose

HF_CONFIG = "config.json"


def resolve_preset(preset, verbose=None):
    """`(directory, from_hub)` for a registered name, `hf://owner/name` or a directory.

    `verbose` switches the hub download's progress bars (see `keras_models.progress`); it is
    checked here, so every `from_preset` refuses a bad value before doing any work.
    """
    check_verbose(verbose)
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(
            f"`preset` must be a name, a directory or 'hf://owner/name'; got {preset!r}."
        )
    preset = os.fspath(preset)
    if os.path.isdir(preset):
        if keras_hub_format.is_keras_hub_preset(preset):
            return keras_hub_format.as_transformers_checkpoint(preset), False
        return preset, False
    if preset.startswith("hf://"):
        return download(preset[len("hf://") :], verbose), True
    if preset in PRESETS:
        # An embedded preset is a small directory in the package: converted on each load.
        return PRESETS[preset].resolve(verbose), not PRESETS[preset].embedded
    raise ValueError(
        f"Unknown preset {preset!r}: not a registered name (see keras_models.list_presets()), "
        "not an existing directory, and not 'hf://owner/name'."
    )


def read_hf_config(directory):
    """The `config.json` of a Hugging Face checkpoint directory; it must name `model_type`."""
    path = os.path.join(directory, HF_CONFIG)
    if not os.path.exists(path):
        raise ValueError(
            f"{directory} is neither a Keras preset ({keras_format.PRESET_FILE}) nor a Hugging "
            f"Face checkpoint ({HF_CONFIG})."
        )
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Could not read {path}: {error}") from error
    if "model_type" not in config:
        raise ValueError(f"{path} has no `model_type`, so its family is unknown.")
    return config

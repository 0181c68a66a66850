"""Export to the Hugging Face (transformers) format.

`export_to_transformers` writes what `save_pretrained` writes: `config.json`, the weights as
`model.safetensors` (sharded, with `model.safetensors.index.json`, above `max_shard_size`),
`generation_config.json` for generative models and the tokenizer files. The weights come from
the family's weight table read in reverse (`Converter.checkpoint_weights`), the same table that
imports checkpoints. The directory is written under a temporary name and renamed into place, so
an interrupted export leaves no half-written checkpoint.
"""

import inspect
import json
import os
import re

import keras
import numpy as np

from keras_models.presets.atomic import atomic_directory, write_files
from keras_models.presets.families import get_family
from keras_models.progress import check_verbose, progress_bar

_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(size):
    """Bytes of `size`: an int, or a string such as `"5GB"`, `"500MB"` or `"2GiB"`."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 0:
        return int(size)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]I?B|B)\s*", str(size).upper())
    if not match:
        raise ValueError(
            f"`max_shard_size` must be a positive number of bytes or a string like '5GB', "
            f"'500MB' or '2GiB'; got {size!r}."
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def hf_architecture(model):
    """transformers' class name of `model` (`RobertaBackbone` -> `RobertaModel`)."""
    name = type(model).__name__
    return name[: -len("Backbone")] + "Model" if name.endswith("Backbone") else name


def check_expressible(model, converter, config):
    """Refuses a task built with a setting that config.json cannot carry: the head that
    transformers' fields (`config`) rebuild must be configured as `model` is. The ValueError
    names the argument, before anything is written."""
    if not hasattr(model, "backbone"):
        return
    kwargs = converter.task_kwargs(type(model), config)
    rebuilt = type(model)(backbone=model.backbone, **kwargs).get_config()
    for name, value in model.get_config().items():
        # generation_config.json carries the generation settings.
        skipped = ("backbone", "name", "generation_config")
        if name not in skipped and rebuilt.get(name) != value:
            raise ValueError(
                f"`{name}={value!r}` of {type(model).__name__} has no transformers config "
                f"field (a model rebuilt from config.json has `{name}={rebuilt.get(name)!r}`); "
                "rebuild the model without it to export."
            )


def hf_config(model, converter):
    """config.json of `model`: its `config` fields under transformers' names, with the
    variables' dtype and transformers' class name. Constructor arguments that transformers'
    config has no field for are left out when at the value transformers hard-codes, and
    refused otherwise."""
    config = model.config.to_dict()
    backbone = getattr(model, "backbone", model)
    defaults = inspect.signature(type(backbone).__init__).parameters
    config.pop("add_pooling_layer", None)  # transformers' constructor argument, not a field
    for name in converter.keras_only_arguments:
        value, fixed = config.pop(name, None), defaults[name].default
        if value != fixed:
            raise ValueError(
                f"`{name}={value!r}` of {type(backbone).__name__} has no transformers config "
                f"field (transformers fixes it at {fixed!r}), so the export could not be "
                "loaded as this model."
            )
    config["architectures"] = [hf_architecture(model)]
    config["dtype"] = keras.backend.standardize_dtype(model.dtype_policy.variable_dtype)
    if "id2label" in config:
        config["id2label"] = {str(k): v for k, v in config["id2label"].items()}
    return config


def generation_config(model):
    """generation_config.json of a generative model (its `generation_config`, with the
    backbone's start-token ids where it sets none), else None."""
    config = getattr(model, "generation_config", None)
    if config is None:
        return None
    fields = config.to_dict()
    for name in ("bos_token_id", "decoder_start_token_id"):
        value = getattr(model.backbone, name, None)
        if value is not None:
            fields.setdefault(name, value)
    return fields


def _shards(weights, limit):
    """Weight names grouped greedily into shards of at most `limit` bytes (a larger tensor
    gets a shard of its own)."""
    shards, current, size = [], [], 0
    for name, value in weights.items():
        if current and size + value.nbytes > limit:
            shards.append(current)
            current, size = [], 0
        current.append(name)
        size += value.nbytes
    if current:
        shards.append(current)
    return shards


def write_weights(weights, directory, max_shard_size, verbose=None):
    """Writes `weights` as `model.safetensors`, or as shards plus their index json, with a
    progress bar per file written (`verbose`: see `keras_models.progress`)."""
    from safetensors.numpy import save_file

    weights = {k: np.ascontiguousarray(v) for k, v in weights.items()}
    shards = _shards(weights, parse_size(max_shard_size))
    noun = "file" if len(shards) == 1 else "files"
    bar = progress_bar(len(shards), verbose, f"Writing {len(shards)} weight {noun}", "file")
    if len(shards) == 1:
        save_file(weights, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
        bar.add(1)
        return
    weight_map = {}
    for index, names in enumerate(shards, 1):
        file = f"model-{index:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: weights[k] for k in names}, os.path.join(directory, file), {"format": "pt"})
        weight_map.update(dict.fromkeys(names, file))
        bar.add(1)
    index = {
        "metadata": {"total_size": int(sum(v.nbytes for v in weights.values()))},
        "weight_map": weight_map,
    }
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)


def export_to_transformers(model, path, max_shard_size="5GB", verbose=None):
    """Writes `model` (a backbone or a task) as a transformers checkpoint directory at `path`.

    An existing directory at `path` is replaced only once the new one is complete.

    Args:
        model: a backbone or task of one of the families.
        path: the checkpoint directory to write.
        max_shard_size: the largest weight file (bytes, or `"5GB"`, `"500MB"`...); above it the
            weights are split into shards with an index, as `save_pretrained` does.
        verbose: progress bars per weight group gathered and per weight file written: `None`
            (default) on a terminal only, `1` always, `2` one line per step, `0` none (see
            `keras_models.progress`).

    Raises:
        ValueError: for a setting transformers cannot express, a bad `max_shard_size` or a
            bad `verbose`.
    """
    check_verbose(verbose)
    backbone = getattr(model, "backbone", model)
    family = get_family(backbone.model_type)
    config = hf_config(model, family.converter)
    check_expressible(model, family.converter, config)
    parse_size(max_shard_size)
    converter = family.converter
    bar = progress_bar(
        converter.weight_groups(model),
        verbose,
        f"Exporting {type(model).__name__} to {os.fspath(path)}",
        unit_name="weight group",
    )
    weights = converter.checkpoint_weights(model, progress=bar)
    files = {"config.json": json.dumps(config, indent=2).encode("utf-8")}
    generation = generation_config(model)
    if generation is not None:
        files["generation_config.json"] = json.dumps(generation, indent=2).encode("utf-8")
    if getattr(model, "tokenizer", None) is not None:
        files.update(model.tokenizer.save_files())

    with atomic_directory(path, prefix=".export-") as tmp:
        write_weights(weights, tmp, max_shard_size, verbose)
        write_files(tmp, files)
    return os.path.abspath(os.fspath(path))

"""LoRA: low-rank adapters on a backbone's projections, their weights, and PEFT adapters.

`enable_lora` freezes the backbone and gives the target `Dense` layers Keras' LoRA factors
(`kernel + A @ B * alpha / rank`; `A` `[in, rank]`, `B` `[rank, out]`, `B` starting at zero so
the outputs do not change). The targets' biases stay trainable, as Keras' `Dense.enable_lora`
leaves them (PEFT's `bias="lora_only"`), and a task's head stays trainable (PEFT's
`modules_to_save`). Everything trainable afterwards is what `save_lora_weights` writes.

A PEFT adapter stores the same numbers in torch's layout: `lora_A.weight = A.T`,
`lora_B.weight = B.T`, `lora_alpha = alpha`, the biases as `{module}.base_layer.bias` and the
head under its own module names. transformers' module names come from the family's weight
table, so they are those `export_to_transformers` writes.
"""

import json
import os

import numpy as np
from keras import ops

#: The attention query and value projections (KerasHub's and PEFT's usual default).
DEFAULT_TARGETS = ("query", "value")
_LORA_FILE = ".lora.safetensors"


def _numpy(variable):
    return np.asarray(ops.convert_to_numpy(variable))


def enable_lora(backbone, rank, target_layer_names=None, lora_alpha=None):
    """See `Backbone.enable_lora`."""
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ValueError(f"`rank` must be a positive integer, got {rank!r}.")
    if lora_alpha is not None and not (isinstance(lora_alpha, (int, float)) and lora_alpha > 0):
        raise ValueError(f"`lora_alpha` must be a positive number, got {lora_alpha!r}.")
    if getattr(backbone, "lora_settings", None):
        raise ValueError("LoRA is already enabled on this backbone.")
    targets = tuple(target_layer_names or DEFAULT_TARGETS)
    layers = [layer for layer in backbone._flatten_layers(include_self=False) if layer.weights]
    chosen = [layer for layer in layers if layer.name in targets and hasattr(layer, "enable_lora")]
    found = {layer.name for layer in chosen}
    missing = [name for name in targets if name not in found]
    if missing:
        names = sorted({layer.name for layer in layers if hasattr(layer, "enable_lora")})
        raise ValueError(
            f"`target_layer_names` {missing} match no layer that takes LoRA; the backbone's "
            f"are {names}."
        )
    backbone.trainable = True
    for layer in layers:
        layer.trainable = False
    for layer in chosen:
        layer.trainable = True
        layer.enable_lora(rank, lora_alpha=lora_alpha)
    backbone.lora_settings = {
        "rank": rank,
        "lora_alpha": float(lora_alpha if lora_alpha is not None else rank),
        "target_layer_names": list(targets),
    }


def _trainable(model):
    """`{index in model.weights: variable}` of the trainable variables: indices name the
    variables of a rebuilt model the same way, whatever Keras named its layers."""
    return {str(i): v for i, v in enumerate(model.weights) if v.trainable}


def _require_lora(model):
    settings = getattr(getattr(model, "backbone", model), "lora_settings", None)
    if not settings:
        raise ValueError("LoRA is not enabled: call `enable_lora(rank)` first.")
    return settings


def _lora_path(path):
    path = os.fspath(path)
    if not path.endswith(_LORA_FILE):
        raise ValueError(f"The LoRA weights file name must end with {_LORA_FILE!r}, got {path!r}.")
    return path


def save_lora_weights(model, path):
    """See `Backbone.save_lora_weights`."""
    from safetensors.numpy import save_file

    settings = _require_lora(model)
    variables = _trainable(model)
    weights = {k: _numpy(v) for k, v in variables.items()}
    metadata = {
        "lora": json.dumps(settings),
        "paths": json.dumps({k: v.path for k, v in variables.items()}),
    }
    save_file(weights, _lora_path(path), metadata=metadata)


def load_lora_weights(model, path):
    """See `Backbone.load_lora_weights`."""
    from safetensors import safe_open

    settings = _require_lora(model)
    with safe_open(_lora_path(path), framework="numpy") as f:
        saved = json.loads(f.metadata()["lora"])
        if saved != settings:
            raise ValueError(
                f"{path} holds LoRA weights for {saved}, but this model has {settings}: call "
                "`enable_lora` with the same settings first."
            )
        variables = _trainable(model)
        if set(f.keys()) != set(variables):
            raise ValueError(
                f"{path} holds {len(f.keys())} trainable tensors, this model has "
                f"{len(variables)}: it was saved from another architecture or head."
            )
        for key, variable in variables.items():
            value = f.get_tensor(key)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"{path}: {variable.path} has shape {tuple(variable.shape)}, the file "
                    f"{tuple(value.shape)}."
                )
            variable.assign(value)


#: peft's `task_type` per task head.
_PEFT_TASKS = {
    "sequence_classification": "SEQ_CLS",
    "token_classification": "TOKEN_CLS",
    "question_answering": "QUESTION_ANS",
    "causal_lm": "CAUSAL_LM",
    "seq2seq_lm": "SEQ_2_SEQ_LM",
}


def export_lora_adapter(model, path, converter):
    """See `Task.export_lora_adapter`."""
    from safetensors.numpy import save_file

    from keras_models.presets.weight_table import expand

    settings = _require_lora(model)
    backbone = getattr(model, "backbone", model)
    frozen = {id(v) for v in backbone.weights}
    tensors, modules, head = {}, set(), {}
    for layer, table, prefix in converter._export_tables(model):
        for row, target, names in expand(layer, table, prefix):
            if layer is not backbone:
                # The head (PEFT's `modules_to_save`); tied rows read the base model's table.
                if id(target) not in frozen and _trains(target):
                    head.update(
                        (keys[0], value) for keys, value in row.export(layer, target, names)
                    )
            elif getattr(target, "lora_enabled", False):
                module = f"base_model.model.{names[0]}"
                # Full module names: PEFT matches a name by suffix, and a short one such as
                # `dense` would also catch the layers left out.
                modules.add(names[0])
                tensors[f"{module}.lora_A.weight"] = _numpy(target.lora_kernel_a).T
                tensors[f"{module}.lora_B.weight"] = _numpy(target.lora_kernel_b).T
                if getattr(target, "bias", None) is not None:
                    tensors[f"{module}.base_layer.bias"] = _numpy(target.bias)
    heads = sorted({key.split(".")[0] for key in head})
    tensors.update({f"base_model.model.{k}": v for k, v in head.items()})
    config = {
        "peft_type": "LORA",
        "task_type": _PEFT_TASKS.get(getattr(model, "head", None), "FEATURE_EXTRACTION"),
        "r": settings["rank"],
        "lora_alpha": settings["lora_alpha"],
        "lora_dropout": 0.0,
        "target_modules": sorted(modules),
        "bias": "lora_only",
        "modules_to_save": heads or None,
        "fan_in_fan_out": False,
        "inference_mode": True,
        "base_model_name_or_path": None,
    }
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "adapter_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()},
        os.path.join(path, "adapter_model.safetensors"),
        metadata={"format": "pt"},
    )
    return os.path.abspath(path)


def _trains(target):
    """Whether `target` (a layer or a variable of the head) has trainable weights: a buffer
    such as Pegasus' `final_logits_bias` is no module PEFT could save."""
    if hasattr(target, "trainable_weights"):
        return bool(target.trainable_weights)
    return bool(getattr(target, "trainable", False))

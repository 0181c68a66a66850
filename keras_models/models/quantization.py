"""Quantized models saved and loaded: which layers Keras' `quantize` changed, kept in the config.

A model is rebuilt from its config before its weights load, so a quantized layer must be
quantized again first (its int8 / int4 / float8 variables must exist to receive the saved
values). Backbones and tasks record, as the `quantized_layers` constructor argument, the
position (in `_flatten_layers` order), name and mode of each quantized layer they own.

On torch, int8 `Dense` layers run their product on torch's int8 kernel (`use_int8_kernels`):
Keras' own path there multiplies in int32, slower than float32 on a CPU.
"""

import keras

from keras_models import torch_fast_paths


def own_layers(model):
    """The layers of `model`, a task's backbone layers left out (the backbone records its own)."""
    backbone = getattr(model, "backbone", None)
    skip = set()
    if backbone is not None and backbone is not model:
        skip = {id(layer) for layer in backbone._flatten_layers()}
    return [layer for layer in model._flatten_layers(include_self=False) if id(layer) not in skip]


def quantized_layers(model):
    """`{position: [name, mode]}` of the quantized layers `model` owns (None when none is)."""
    found = {
        str(i): [layer.name, layer.quantization_mode]
        for i, layer in enumerate(own_layers(model))
        if getattr(layer, "quantization_mode", None)
    }
    return found or None


def restore_quantization(model, recorded):
    """Quantizes again the layers `recorded` by `quantized_layers` (their values come from the
    saved weights)."""
    if not recorded:
        return
    layers = own_layers(model)
    for position, (name, mode) in recorded.items():
        index = int(position)
        if index >= len(layers) or layers[index].name != name:
            raise ValueError(
                f"`quantized_layers` names layer {name!r} at position {index}, which this "
                f"{type(model).__name__} does not have there: the config is of another model."
            )
        layers[index].quantize(mode)
    use_int8_kernels(model)


def use_int8_kernels(model):
    """On torch, gives every int8 `Dense` layer of `model` `torch_fast_paths.int8_dense_call`
    (the same outputs as Keras' call, from an int8 kernel). Other backends: nothing to do."""
    if keras.backend.backend() != "torch":
        return
    for layer in model._flatten_layers():
        dense = isinstance(layer, keras.layers.Dense)
        if dense and layer.quantization_mode == "int8" and "_int8_call" not in vars(layer):
            layer._int8_call = torch_fast_paths.int8_dense_call(layer, layer._int8_call)

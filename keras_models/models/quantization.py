"""Quantized models saved and loaded: which layers Keras' `quantize` changed, kept in the config.

A model is rebuilt from its config before its weights load, so a quantized layer must be
quantized again first (its int8 / int4 / float8 variables must exist to receive the saved
values). Backbones and tasks record, as the `quantized_layers` constructor argument, the path
and mode of each quantized layer they own (`{"decoder_layer_0/fc1": "int8", ...}`: the same on
every backend, whose layer orders differ; configs written before, `{position: [name, mode]}`,
still load on the backend that wrote them).

A quantized model built from its config (`from_config`: Keras presets, `.keras` files) is
built by `lean_construction`: its variables are created without values (Keras defers them
inside a `StatelessScope`), then each recorded layer gets its float values and is quantized
in turn, so the float32 model never exists whole: peak memory is one float layer more than the
quantized model, not the float32 model. An int8 tied table (`ReversibleEmbedding`, the largest
layer) gets its int8 variables directly and never float values.

int8 `Dense` layers run their product on each backend's fast int8 kernel (`use_int8_kernels`,
`layers/int8_products.py`): on torch, `torch._int_mm` and inside traces fbgemm's prepacked
product (Keras' own path there multiplies in int32, slower than float32 on a CPU); on jax and
tensorflow, XLA's, with a single row computed as two (one row makes XLA keep 32-bit copies of
the kernels). On tensorflow an int8 model's `jit_compile="auto"` is XLA
(`InputNormalizingModel._resolve_auto_jit_compile`).

Keras' `Layer.__delattr__` runs a full `gc.collect()` for every variable a layer drops, and
quantizing drops each float kernel; `collecting_once` makes that one collection at the end.
"""

import contextlib
import contextvars
import gc

import keras

from keras_models.layers.int8_products import int8_dense_call


def own_layers(model):
    """The layers of `model`, a task's backbone layers left out (the backbone records its own)."""
    backbone = getattr(model, "backbone", None)
    skip = set()
    if backbone is not None and backbone is not model:
        skip = {id(layer) for layer in backbone._flatten_layers()}
    return [layer for layer in model._flatten_layers(include_self=False) if id(layer) not in skip]


def quantized_layers(model):
    """`{path: mode}` of the quantized layers `model` owns (None when none is). The mode is
    named as in the layer's Keras dtype policy: int4 with its block size (`"int4/128"`), on
    which the shapes of the layer's variables depend."""
    found = {
        layer.path: layer.dtype_policy.name.split("_from_")[0]
        for layer in own_layers(model)
        if getattr(layer, "quantization_mode", None)
    }
    return found or None


# The `(model, recorded)` pairs whose quantization waits for the end of `lean_construction`.
_PENDING = contextvars.ContextVar("pending_quantization", default=None)


def restore_quantization(model, recorded):
    """Quantizes again the layers `recorded` by `quantized_layers` (their values come from the
    saved weights); inside `lean_construction`, once the model is built."""
    if not recorded:
        return
    pending = _PENDING.get()
    if pending is not None:
        pending.append((model, recorded))
        return
    _quantize(model, recorded)


@contextlib.contextmanager
def collecting_once():
    """Skips the garbage collections Keras runs while a model is quantized, then runs one.

    Keras collects once per dropped variable so that a device frees the buffer promptly; with
    TensorFlow, torch or transformers imported a collection takes 0.1-0.3 s here, which made
    quantizing even a tiny model take seconds. Collections other code asks for in the meantime
    are skipped too (the one at the end covers them).
    """
    collect = gc.collect
    gc.collect = lambda generation=2: 0
    try:
        yield
    finally:
        gc.collect = collect
        gc.collect()


def _quantize(model, recorded):
    with collecting_once():
        _quantize_layers(model, recorded)
    use_int8_kernels(model)


def _quantize_layers(model, recorded):
    layers = own_layers(model)
    by_path = {layer.path: layer for layer in layers if layer.path}
    for key, value in recorded.items():
        if isinstance(value, str):
            layer, mode = by_path.get(key), value
            where = f"layer {key!r}"
        else:  # the older positional record: [name, mode]
            (name, mode), index = value, int(key)
            layer = layers[index] if index < len(layers) else None
            layer = layer if layer is not None and layer.name == name else None
            where = f"layer {name!r} at position {index}"
        if layer is None:
            raise ValueError(
                f"`quantized_layers` names {where}, which this {type(model).__name__} does not "
                "have: the config is of another model."
            )
        if mode == "int8" and _unset(layer, "_embeddings") and hasattr(layer, "build_int8_unset"):
            layer.build_int8_unset()  # a tied table: its float values would cost 4x the table
            continue
        _initialize(layer.variables)
        mode, _, block_size = mode.partition("/")  # "int4/128"; "int4" in older configs
        config = None
        if block_size:
            config = keras.quantizers.Int4QuantizationConfig(block_size=int(block_size))
        layer.quantize(mode, config=config)


def _unset(layer, name):
    """Whether `layer.<name>` is a variable `lean_construction` created without a value."""
    variable = getattr(layer, name, None)
    return isinstance(variable, keras.Variable) and variable._value is None


def _initialize(variables):
    """Gives variables created inside `lean_construction` their initial values."""
    for variable in variables:
        if variable._value is None:  # Keras' deferred variable (created in a StatelessScope)
            variable._deferred_initialize()


def has_quantized_layers(config):
    """Whether a model config (a task's includes its backbone's) records quantized layers."""
    if isinstance(config, dict):
        return bool(config.get("quantized_layers")) or any(
            has_quantized_layers(value) for value in config.values()
        )
    return False


def lean_construction(construct, config):
    """`construct()`, which builds a model from `config`. When the config records quantized
    layers, the float32 model never exists whole: see this module's docstring."""
    from keras.src.backend.common import global_state

    # Nothing to quantize, or a backbone built inside its task's lean construction.
    if not has_quantized_layers(config) or _PENDING.get() is not None:
        return construct()
    key = "uninitialized_variables"  # Keras' list of the variables a StatelessScope deferred
    before = list(global_state.get_global_attribute(key, None) or [])
    pending = []
    token = _PENDING.set(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = construct()
    finally:
        _PENDING.reset(token)
        # Ours are initialized below; the float kernels that quantization replaces, never.
        global_state.set_global_attribute(key, before)
    for owner, recorded in pending:
        _quantize(owner, recorded)
    _initialize(model.variables)
    return model


def use_int8_kernels(model):
    """Gives every int8 `Dense` layer of `model` `layers.int8_products.int8_dense_call`: the
    same outputs as Keras' call, on torch's int8 kernel, and on jax and tensorflow without
    XLA's 32-bit copies of the kernels at one row."""
    for layer in model._flatten_layers():
        dense = isinstance(layer, keras.layers.Dense)
        if dense and layer.quantization_mode == "int8" and "_int8_call" not in vars(layer):
            layer._int8_call = int8_dense_call(layer, layer._int8_call)

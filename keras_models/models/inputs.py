"""Turns a tensor, a list or a dict into the full input dict a model's graph expects."""

import keras
import numpy as np
from keras import ops

# Inputs holding ids (integers); masks may also be bool or float.
MASK_NAMES = ("attention_mask", "decoder_attention_mask", "encoder_attention_mask")
#: Float inputs of another sequence (a decoder's encoder states, `[batch, src_len, width]`)
#: and the mask of that sequence: they share its length, not `input_ids`'.
STATES_MASK = {"encoder_hidden_states": "encoder_attention_mask"}
#: Inputs holding vectors that replace an id input's table lookup.
EMBEDS_FOR = {"inputs_embeds": "input_ids", "decoder_inputs_embeds": "decoder_input_ids"}
#: The keys and values of earlier tokens (a model's `past_key_values`): passed on as given;
#: the self-attention mask then covers those tokens too.
CACHE_INPUT = "past_key_values"


def past_length(inputs):
    """How many earlier tokens `inputs["past_key_values"]` holds (0 without)."""
    return cache_length(inputs.get(CACHE_INPUT))


def cache_length(past):
    """How many earlier tokens the cache `past` holds (0 for None): per layer, the keys come
    first, `[batch, heads, past_length, head_dim]`."""
    if past is None:
        return 0
    try:
        return int(past[0][0].shape[2])
    except (TypeError, IndexError, AttributeError) as error:
        raise ValueError(
            "`past_key_values` must be what a call with `use_cache=True` returned: per layer, a "
            "tuple of [batch, heads, past_length, head_dim] keys and values."
        ) from error


def _is_symbolic(value):
    return isinstance(value, keras.KerasTensor)


def _to_tensor(name, value):
    if _is_symbolic(value) or (hasattr(value, "dtype") and not isinstance(value, np.ndarray)):
        return value
    array = np.asarray(value)
    if array.dtype == object:
        raise ValueError(f"`{name}` must be a numeric array, got {type(value).__name__}.")
    return ops.convert_to_tensor(array)


def _dtype_name(value):
    return keras.backend.standardize_dtype(value.dtype)


def match_inputs(inputs, input_names, extra_names=(), kwargs=None):
    """Matches a tensor, list or dict (plus keyword inputs) to names; drops `None` values.

    Raises:
        ValueError: for an unknown name, a list that is too long or a name given twice.
    """
    accepted = tuple(input_names) + tuple(extra_names)
    if isinstance(inputs, dict):
        items = dict(inputs)
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) > len(input_names):
            raise ValueError(
                f"Got a list of {len(inputs)} inputs, but this model takes at most "
                f"{len(input_names)}, in this order: {list(input_names)}."
            )
        items = dict(zip(input_names, inputs))
    elif inputs is None:
        items = {}
    else:
        items = {"input_ids": inputs}
    for key, value in (kwargs or {}).items():
        if items.get(key) is not None:
            raise ValueError(f"`{key}` was given twice (in the inputs and as a keyword).")
        items[key] = value
    unknown = [key for key in items if key not in accepted]
    if unknown:
        cross = [k for k in unknown if k in STATES_MASK or k in STATES_MASK.values()]
        hint = (
            f" {cross} need a decoder built with cross-attention (`is_decoder=True`, "
            "`add_cross_attention=True`)."
            if cross
            else ""
        )
        raise ValueError(
            f"Unknown input name(s) {unknown}. Accepted names: {list(dict.fromkeys(accepted))}.{hint}"
        )
    for embeds, ids in EMBEDS_FOR.items():
        if items.get(embeds) is not None and items.get(ids) is not None:
            raise ValueError(f"Pass either `{ids}` or `{embeds}`, not both.")
    if items.get("input_ids") is None and items.get("inputs_embeds") is None:
        raise ValueError(
            f"`input_ids` is required. Pass a tensor, a list starting with `input_ids`, or a "
            f"dict with the key `input_ids` (or `inputs_embeds`); accepted names: "
            f"{list(input_names)}."
        )
    return {key: value for key, value in items.items() if value is not None}


def check_input(name, value, rank):
    """Checks the rank and dtype of one model input (array or tensor); returns its dtype name."""
    shape = tuple(value.shape)
    if len(shape) != rank:
        raise ValueError(f"`{name}` must have rank {rank} ({_rank_text(rank)}), got shape {shape}.")
    if any(dim == 0 for dim in shape):
        raise ValueError(
            f"`{name}` is empty (shape {shape}); every batch, choice and sequence axis needs at "
            "least one entry."
        )
    dtype = _dtype_name(value)
    if name in MASK_NAMES:
        if not (dtype == "bool" or "int" in dtype or "float" in dtype):
            raise ValueError(f"`{name}` must be a 0/1 mask, got dtype {dtype}.")
    elif "int" not in dtype:
        raise ValueError(
            f"`{name}` must hold integer ids, got dtype {dtype}. Accepted: int32/int64 ids."
        )
    return dtype


def normalize_inputs(inputs, input_names, rank, extra_names=(), kwargs=None):
    """Matches `inputs` to `input_names` and validates each value.

    Args:
        inputs: a tensor (taken as `input_ids`), a list/tuple in `input_names` order, or a dict.
        input_names: the accepted input names, in the documented positional order.
        rank: the rank every input must have (2, or 3 for multiple choice).
        extra_names: other accepted dict keys (labels), returned separately.
        kwargs: keyword inputs (`model(input_ids=...)`), merged into the dict.

    Returns:
        `(inputs, extras)`: two dicts without `None` values; inputs are int32 tensors.
    """
    items = match_inputs(inputs, input_names, extra_names, kwargs)
    model_inputs, extras = {}, {}
    for key, value in items.items():
        if key in extra_names:
            extras[key] = value
            continue
        if key == CACHE_INPUT:
            model_inputs[key] = value
            continue
        if key in STATES_MASK:
            model_inputs[key] = _embeds_tensor(key, value, rank)
            continue
        if key in EMBEDS_FOR:
            value = _embeds_tensor(key, value, rank)
            # The id input's place is kept by zeros of its shape: defaults (masks, positions)
            # are computed from it, and the forward pass reads the vectors instead.
            model_inputs[EMBEDS_FOR[key]] = ops.zeros(value.shape[:-1], "int32")
            model_inputs[key] = value
            continue
        value = _to_tensor(key, value)
        if check_input(key, value, rank) != "int32":
            value = ops.cast(value, "int32")
        model_inputs[key] = value
    check_shapes(model_inputs)
    return model_inputs, extras


def _embeds_tensor(name, value, rank):
    value = _to_tensor(name, value)
    shape = tuple(value.shape)
    if len(shape) != rank + 1 or "float" not in _dtype_name(value):
        raise ValueError(
            f"`{name}` must be a float tensor of rank {rank + 1} (the id input's shape plus the "
            f"embedding width), got {_dtype_name(value)} of shape {shape}."
        )
    if name in EMBEDS_FOR and any(dim is None for dim in shape):
        raise ValueError(
            f"`{name}` is taken in eager calls (with known shapes); build the model's graph on "
            "`input_ids`."
        )
    return value


def check_shapes(inputs):
    """Every input must have the shape of `input_ids` (`decoder_*` inputs: of
    `decoder_input_ids`, and the batch of `input_ids`; an encoder-states mask: of its states;
    the attention mask of a cached call also covers the cached positions); unknown (symbolic)
    dimensions are not compared."""

    # Only static sizes are compared: a traced export names its dynamic axes per input.
    def differ(shape, expected):
        return any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(shape, expected)
        )

    # With earlier tokens cached, the self-attention mask covers them too.
    past_mask = "decoder_attention_mask" if "decoder_input_ids" in inputs else "attention_mask"
    masks = {mask: states for states, mask in STATES_MASK.items()}
    for name, value in inputs.items():
        if name in EMBEDS_FOR or name == CACHE_INPUT:
            continue
        shape = tuple(value.shape)
        if name in STATES_MASK or name in masks:
            reference = masks.get(name, "input_ids")
            width = 2 if name in masks else 1
            if reference in inputs and differ(shape[:width], tuple(inputs[reference].shape)):
                raise ValueError(
                    f"`{name}` has shape {shape}, but `{reference}` has shape "
                    f"{tuple(inputs[reference].shape)}; their first {width} axes must match."
                )
            continue
        if name.startswith("decoder_") and "input_ids" in inputs:
            batch = tuple(inputs["input_ids"].shape)[:-1]
            if differ(shape[:-1], batch):
                raise ValueError(
                    f"`{name}` has shape {shape}, but `input_ids` has shape "
                    f"{tuple(inputs['input_ids'].shape)}; their batch axes must match."
                )
        reference = "decoder_input_ids" if name.startswith("decoder_") else "input_ids"
        if reference not in inputs or name == reference:
            continue
        expected = tuple(inputs[reference].shape)
        past = past_length(inputs) if name == past_mask else 0
        if past and expected[-1] is not None:
            expected = expected[:-1] + (expected[-1] + past,)
            if differ(shape, expected):
                raise ValueError(
                    f"`{name}` has shape {shape}; with `past_key_values` it covers the {past} "
                    f"cached tokens and `{reference}`: shape {expected}."
                )
        if differ(shape, expected):
            raise ValueError(
                f"`{name}` has shape {shape}, but `{reference}` has shape {expected}; they must "
                "match."
            )


def is_concrete(value):
    """True for an eager value whose numbers can be read on the host (not a symbolic tensor,
    a JAX tracer or a TensorFlow graph tensor)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    if _is_symbolic(value):
        return False
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return not isinstance(value, jax.core.Tracer)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly() and not isinstance(value, tf.__internal__.CompositeTensor)
    if backend == "torch":
        import torch

        # A traced function (an ONNX export) keeps no host check: the example values would
        # be checked instead of the served ones. `torch.export` (the dynamo ONNX exporter)
        # runs on fake tensors, which have no values to read.
        return not (torch.jit.is_tracing() or torch.compiler.is_exporting())
    return True


def check_lengths(inputs, max_lengths):
    """Refuses a sequence axis (the last one) longer than `max_lengths[name]`; unknown
    (symbolic) lengths pass."""
    for name, limit in max_lengths.items():
        if name not in inputs:
            continue
        length = inputs[name].shape[-1]
        if isinstance(length, int) and length > limit:
            raise ValueError(
                f"`{name}` is too long: {length} positions, but this model's position table "
                f"holds {limit} (`max_position_embeddings`; lengths 1 to {limit} are accepted). "
                f"Shorten `{name}`."
            )


def check_limits(inputs, limits, given=()):
    """Checks concrete id values against `limits` (name -> (low, high), high exclusive).

    JAX and XLA clamp an out-of-range embedding index silently while torch raises; this check
    gives all three backends the same clear error. Of the computed defaults only position ids
    are checked (the others, such as RoCBert's "not given" fill, are in range by construction).

    Args:
        inputs: dict of input name -> concrete value.
        limits: dict of input name -> (lowest allowed, one past the highest allowed).
        given: the names the caller passed (the others were computed defaults).
    """
    for name, (low, high) in limits.items():
        if name not in inputs or (name not in given and name != "position_ids"):
            continue
        values = np.asarray(keras.ops.convert_to_numpy(inputs[name]))
        if not values.size:
            continue
        smallest, largest = int(values.min()), int(values.max())
        if low <= smallest and largest < high:
            continue
        bad = largest if largest >= high else smallest
        if name == "position_ids" and name not in given:
            raise ValueError(
                f"The sequence is too long: length {values.shape[-1]} needs position {bad}, but "
                f"the largest position of this model is {high - 1}. Shorten `input_ids`."
            )
        raise ValueError(
            f"`{name}` holds {bad}, outside the accepted range [{low}, {high}) of this model."
        )


def check_data(x, input_names, rank, extra_names=()):
    """Host-side check of `fit`/`evaluate`/`predict` data before any compiled step runs.

    Only in-memory data (arrays, lists and dicts of arrays) is checked here; data pipelines
    come here one batch at a time as Keras draws them (`models/pipelines.py`).
    """
    if not _in_memory(x):
        return {}
    items = match_inputs(x, input_names, extra_names)
    for key, value in items.items():
        if key in STATES_MASK:
            _embeds_tensor(key, _as_array(value), rank)
        elif key not in extra_names:
            check_input(key, _as_array(value), rank)
    check_shapes({k: _as_array(v) for k, v in items.items() if k not in extra_names})
    return items


def _in_memory(x):
    if isinstance(x, dict):
        return all(_is_array_like(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return all(_is_array_like(v) for v in x)
    return _is_array_like(x)


def _is_array_like(value):
    return (
        value is None
        or isinstance(value, (np.ndarray, list))
        or (hasattr(value, "shape") and hasattr(value, "dtype"))
    )


def _as_array(value):
    return np.asarray(value) if isinstance(value, list) else value


def _rank_text(rank):
    return "[batch, num_choices, seq]" if rank == 3 else "[batch, seq]"

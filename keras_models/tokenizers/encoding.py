"""What a tokenizer call returns: a `BatchEncoding` of numpy arrays, tensors or lists.

`return_tensors` picks the form, as in transformers: `"np"` (numpy), `"tf"` (TensorFlow),
`"pt"` (PyTorch), `"jax"` (JAX) or None (Python lists). A tensor library is imported only when
its tensors are asked for, so the jax and torch paths never import TensorFlow. Ids and masks
are int32, the dtype Keras models take (transformers gives int64).
"""

import importlib

import numpy as np

from keras_models.attribute_dict import AttributeDict, register_attribute_dict

RETURN_TENSORS_CHOICES = "'np', 'tf', 'pt', 'jax' or None"
# The module each tensor type comes from, and the library's name for messages.
_TENSOR_MODULES = {
    "tf": ("tensorflow", "TensorFlow"),
    "pt": ("torch", "PyTorch"),
    "jax": ("jax.numpy", "JAX"),
}


@register_attribute_dict
class BatchEncoding(AttributeDict):
    """A tokenizer's output: a dict of model inputs whose keys are also attributes.

    `inputs.input_ids` is `inputs["input_ids"]`, and `model(**inputs)` passes every entry as
    the model input of that name, as with transformers' `BatchEncoding`. Keras reads it as the
    dict it is (`model(inputs)`, `model.predict(inputs)`, `model.fit(inputs, ...)`).

    Examples:
    >>> enc = BatchEncoding(input_ids=[[0, 5, 2]], attention_mask=[[1, 1, 1]])
    >>> enc.input_ids == enc["input_ids"]
    True
    """


def check_return_tensors(return_tensors):
    """The tensor type asked for (`"np"`, `"tf"`, `"pt"`, `"jax"` or None).

    transformers' `TensorType` members are accepted by value.

    Raises:
        ValueError: for any other value.
    """
    value = getattr(return_tensors, "value", return_tensors)
    if value is not None and not (isinstance(value, str) and value in ("np", *_TENSOR_MODULES)):
        raise ValueError(
            f"`return_tensors` must be one of {RETURN_TENSORS_CHOICES}; got {return_tensors!r}."
        )
    return value


def _tensor_converter(return_tensors):
    """A function turning an int32 numpy array into a tensor of the type asked for."""
    if return_tensors == "np":
        return lambda array: array
    module_name, library = _TENSOR_MODULES[return_tensors]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"`return_tensors={return_tensors!r}` needs {library}, which is not installed; "
            f"`return_tensors` accepts {RETURN_TENSORS_CHOICES} ('tf', 'pt' and 'jax' with "
            f"their library installed)."
        ) from error
    if return_tensors == "pt":
        return module.from_numpy
    if return_tensors == "tf":
        return module.convert_to_tensor
    return module.asarray


def stack_rows(rows, extra=()):
    """The rows as one int32 array `[rows, length, *extra]`, or the list of rows when their
    lengths differ (a ragged batch: lists for `return_tensors=None`, else an error later)."""
    lengths = {len(row) for row in rows}
    if len(lengths) > 1:
        return list(rows)
    width = lengths.pop() if lengths else 0
    if not rows:
        return np.zeros((0, 0, *extra), dtype=np.int32)
    return np.asarray(rows, dtype=np.int32).reshape(len(rows), width, *extra)


def _as_array(name, value, return_tensors):
    if isinstance(value, np.ndarray):
        return value
    lengths = [len(row) for row in value]
    raise ValueError(
        f"The sequences have different lengths ({min(lengths)} to {max(lengths)} tokens), so "
        f"`{name}` cannot be one tensor (`return_tensors={return_tensors!r}`): pass "
        "`padding=True` (or 'max_length'), or `return_tensors=None` for lists."
    )


def _as_lists(name, value):
    rows = [np.asarray(row).tolist() for row in value]
    if name == "offset_mapping":  # transformers gives (start, end) tuples
        rows = [[tuple(span) for span in row] for row in rows]
    return rows


def batch_encoding(outputs, return_tensors, unbatch=False):
    """The `BatchEncoding` of a tokenizer call.

    Args:
        outputs: `{name: int32 array [batch, seq, ...] or list of ragged rows}`.
        return_tensors: the checked `return_tensors`.
        unbatch: drop the batch axis of the lists (a single text with `return_tensors=None`,
            as transformers does).

    Raises:
        ValueError: a ragged batch asked for as tensors, or a tensor library not installed.
    """
    if return_tensors is None:
        data = {name: _as_lists(name, value) for name, value in outputs.items()}
        if unbatch:
            data = {name: rows[0] for name, rows in data.items()}
        return BatchEncoding(data)
    arrays = {name: _as_array(name, value, return_tensors) for name, value in outputs.items()}
    convert = _tensor_converter(return_tensors)
    return BatchEncoding({name: convert(array) for name, array in arrays.items()})

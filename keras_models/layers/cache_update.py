"""Writing the current step into a preallocated decoding buffer (a key/value cache, an id
buffer)."""

import keras
from keras import ops

from keras_models import torch_fast_paths


def write_along(buffer, axis, index, values):
    """`buffer` with `values` written at `index...index + n` along `axis` (`n` the size of
    `values` there; every other dimension of `values` matches `buffer`).

    On jax and tensorflow this is `ops.slice_update`, which their compilers turn into an
    in-place write inside a decode loop. On torch, where `slice_update` clones the whole
    buffer (and with a tensor `index` builds a scatter over every element of `values`), the
    buffer is written in place and returned: a decode step then costs the size of the step,
    not of the cache. Callers must treat the `buffer` they passed as consumed.

    Args:
        buffer: the tensor to write into.
        axis: the axis `index` counts along.
        index: first position, a Python int or a scalar integer tensor.
        values: the tensor to write.

    Returns:
        The updated buffer.

    Examples:
    >>> buffer = ops.zeros((2, 4))
    >>> ops.convert_to_numpy(write_along(buffer, 1, 2, ops.ones((2, 1)))).tolist()
    [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    """
    buffer = ops.convert_to_tensor(buffer)
    values = ops.cast(values, buffer.dtype)
    if keras.backend.backend() == "torch":
        return torch_fast_paths.write_in_place(buffer, axis, index, values)
    start = [0] * len(buffer.shape)
    start[axis] = index
    return ops.slice_update(buffer, start, values)


def read_slots(buffer, slots):
    """`buffer[b, slots[b, j]]`: the values of `buffer` (`[batch, length]`) at the integer
    `slots` (`[batch, n]`), for reading the current positions out of a per-slot buffer at a
    tensor `cache_index` (a slice there cannot be exported from torch: `torch.narrow` reads a
    tensor start as data).

    `ops.take_along_axis`; on torch `torch.gather`, as `torch.take_along_dim` (Keras' torch
    `take_along_axis`) makes `torch.export` fix the batch size.

    Examples:
    >>> import numpy as np
    >>> buffer = np.array([[10, 11, 12, 13], [20, 21, 22, 23]])
    >>> ops.convert_to_numpy(read_slots(buffer, np.array([[1, 2], [2, 3]]))).tolist()
    [[11, 12], [22, 23]]
    """
    buffer = ops.convert_to_tensor(buffer)
    slots = ops.convert_to_tensor(slots)
    if keras.backend.backend() == "torch":
        import torch

        return torch.gather(buffer, 1, slots.long())
    return ops.take_along_axis(buffer, slots, axis=1)


def cross_attention_cache(blocks, encoder_hidden_states, encoder_attention_mask=None):
    """The cross-attention part of a decode cache, computed once from the encoder states:
    `{"cross": per-block (keys, values), "encoder_mask": int32 [batch, src_len]}` (the mask is
    ones when not given). `blocks` have `compute_cross_attention_cache`."""
    if encoder_attention_mask is None:
        shape = ops.shape(encoder_hidden_states)
        encoder_attention_mask = ops.ones((shape[0], shape[1]), dtype="int32")
    return {
        "cross": tuple(b.compute_cross_attention_cache(encoder_hidden_states) for b in blocks),
        "encoder_mask": ops.cast(encoder_attention_mask, "int32"),
    }

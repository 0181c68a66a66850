"""Default position-id rules of the families, written with `keras.ops` so they also run on
symbolic `keras.Input` tensors."""

from keras import ops


def padding_aware_position_ids(input_ids, pad_token_id, past_length=0):
    """RoBERTa's rule: real tokens count from `pad_token_id + 1`, padding gets `pad_token_id`.

    Works for left and right padding and for any leading batch axes (e.g. multiple choice).

    Args:
        input_ids: integer ids, `[..., seq]`.
        pad_token_id: the padding id.
        past_length: number of cached positions before this chunk.

    Examples:
    >>> import numpy as np
    >>> ids = np.array([[0, 5, 6, 2, 1, 1], [1, 1, 0, 7, 8, 2]])
    >>> np.asarray(padding_aware_position_ids(ids, 1)).tolist()
    [[2, 3, 4, 5, 1, 1], [1, 1, 2, 3, 4, 5]]
    """
    mask = ops.cast(ops.not_equal(input_ids, pad_token_id), "int32")
    positions = (ops.cumsum(mask, axis=-1) + past_length) * mask
    return positions + pad_token_id


def absolute_position_ids(input_ids, past_length=0):
    """`arange(past_length, past_length + seq)` broadcast to the shape of `input_ids`.

    Written as a cumulative sum so it also works on symbolic inputs of unknown length.

    Examples:
    >>> import numpy as np
    >>> np.asarray(absolute_position_ids(np.zeros((2, 3), "int32"), past_length=4)).tolist()
    [[4, 5, 6], [4, 5, 6]]
    """
    ones = ops.ones_like(ops.cast(input_ids, "int32"))
    return ops.cumsum(ones, axis=-1) - 1 + past_length


def mask_position_ids(attention_mask):
    """OPT's rule: `cumsum(mask) * mask - 1`, so real tokens count from 0 and padding is -1.

    Examples:
    >>> import numpy as np
    >>> np.asarray(mask_position_ids(np.array([[0, 0, 1, 1, 1]], "int32"))).tolist()
    [[-1, -1, 0, 1, 2]]
    """
    mask = ops.cast(attention_mask, "int32")
    return ops.cumsum(mask, axis=-1) * mask - 1


def position_range(length):
    """`arange(0, length)` as int32, for a Python int, a tensor or a symbolic dimension.

    A symbolic dimension (the dynamic axis of a jax export) takes a cumulative sum of ones:
    jax2onnx gives `arange` of a symbolic length a length of its own, which then does not
    broadcast against the axis it was read from (and it cannot convert a one-argument
    `arange` at all, hence `arange(0, length)`). The values are the same either way.

    Examples:
    >>> import numpy as np
    >>> np.asarray(position_range(4)).tolist()
    [0, 1, 2, 3]
    """
    if isinstance(length, int) or ops.is_tensor(length):
        return ops.arange(0, length, dtype="int32")
    return ops.cumsum(ops.ones((length,), "int32")) - 1

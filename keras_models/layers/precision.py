"""What runs in 16 bits under a mixed dtype policy.

Under `mixed_bfloat16` or `mixed_float16` only the matrix products run in the 16-bit compute
dtype: the `Dense` projections, attention and the tied LM head's reverse projection. Embedding
lookups and their sums, LayerNorms, dropout and the residual stream stay in float32, as
`torch.autocast` leaves them in transformers. A block's output is then a float32 sum, and the
16-bit rounding does not pile up along the residual stream from layer to layer: on a
RoBERTa-base-shaped model with random weights (batch 8 x 128), the largest difference of
`last_hidden_state` from float32 went from 0.090 (every layer in bfloat16) to 0.026, the same as
transformers under `torch.autocast(dtype=torch.bfloat16)`.
"""

import keras


def full_precision(policy):
    """The policy of a layer that stays in full precision under `policy`.

    Args:
        policy: a dtype policy or its name (`None`: the global policy).

    Returns:
        The policy of the variable dtype when `policy` is mixed, else `policy` itself.

    Examples:
    >>> full_precision("mixed_bfloat16").name, full_precision("bfloat16").name
    ('float32', 'bfloat16')
    """
    policy = keras.dtype_policies.get(policy)
    if policy.compute_dtype == policy.variable_dtype:
        return policy
    return keras.dtype_policies.get(policy.variable_dtype)

"""Int8 products on each backend's fast kernel, with the same int32 sums everywhere.

XLA on a CPU (jax, and tensorflow's `jit_compile`) multiplies int8 tensors on its int8 kernel
from two rows on. A single row (batch-1 decoding) it computes in 32 bits: inside a decode loop
it converts the int8 kernels to 32 bits once, before the loop, and keeps those copies for the
whole loop, so an int8 model used as much memory as a float32 one and was no faster. Measured
on 24 OPT-125m-sized kernels in a 64-step jax loop: one row 10.3 ms a step and 250 MB of
32-bit copies; the same row computed as two rows 5.4 ms and no copies (float32: 7.1 ms).

- `Dense` layers (`int8_dense_call`): a single row goes in twice and the first result comes
  back. Integer sums are exact, so the outputs are Keras' own.
- The tied LM head (`int8_matmul_transposed`): a single row multiplies as `table @ row`. Two
  rows against the vocabulary table were slower in the decode loop (OPT-125m: 23 against 46
  tokens a second), and `row @ table.T` kept a 32-bit copy of the table.
- tensorflow outside `jit_compile` (`predict`, `fit`): the products run under XLA all the
  same (`_on_xla`). TensorFlow's own int8 `MatMul` is slower than its float32 one: a
  RoBERTa-base-shaped 2-layer encoder at 8 x 128 took 688 ms in int8, 135 ms under XLA, 180 ms
  in float32.
- torch: `torch._int_mm` (`torch_fast_paths`), at any number of rows; inside traces, fbgemm's
  product from a prepacked kernel where its sums are exact.
"""

import math

import keras
from keras import ops

from keras_models import torch_fast_paths


def static_sizes(sizes):
    """`sizes` as Python ints, or None when one is symbolic or unknown.

    A `torch.jit.trace` reads sizes as 0-d tensors, to record them; its replays are keyed by
    shape (`torch_fast_paths`), so there they are constants too."""
    if keras.backend.backend() == "torch":
        import torch

        if torch.jit.is_tracing():
            return tuple(int(d) for d in sizes)
    sizes = tuple(sizes)
    return sizes if all(isinstance(d, int) for d in sizes) else None


def one_row_as_two(function, x):
    """`function(x)` for a row-wise `function` of `x` `[..., k]`; a single row (all leading
    sizes 1, known statically) goes in twice and the first result comes back."""
    lead = static_sizes(x.shape[:-1])
    if lead is None or math.prod(lead) != 1:
        return function(x)
    row = ops.reshape(x, (1, x.shape[-1]))
    result = function(ops.concatenate([row, row], axis=0))[:1]
    return ops.reshape(result, lead + tuple(result.shape[1:]))


def _on_xla(function):
    """`function` compiled by XLA on tensorflow, inside a traced graph (`predict`, `fit`,
    `generate`; eager calls run it as it is). TensorFlow's own int8 `MatMul` (what runs
    outside `jit_compile`) is slower than its float32 one: [1024, 768] x [768, 3072] takes
    82 ms, 18 ms under XLA, 28 ms in float32."""
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    compiled = tf.function(function, jit_compile=True)

    def run(*args, **kwargs):
        if tf.executing_eagerly():  # an eager call would compile every layer at every shape
            return function(*args, **kwargs)
        # Keras' tensorflow variables are not tensors to `tf.function`: read their values.
        return compiled(*[tf.convert_to_tensor(arg) for arg in args], **kwargs)

    return run


def _column_product(table, x):
    return ops.matmul(table, ops.reshape(x, (x.shape[-1], 1)))


_xla_column_product = _on_xla(_column_product)
_xla_product = _on_xla(ops.matmul)


def quantized_matmul_transposed(hidden, table):
    """`(quantized @ table.T, scale)` for `quantized, scale` Keras' `abs_max_quantize` of
    `hidden` per row, with `table` int8 `[n, k]`: the exact sums, as int32 (or float32)."""
    if keras.backend.backend() == "torch":
        return torch_fast_paths.quantized_product(hidden, ops.transpose(table))
    quantized, scale = keras.quantizers.abs_max_quantize(hidden, axis=-1)
    return int8_matmul_transposed(quantized, table), scale


def int8_matmul_transposed(x, table):
    """`x @ table.T` of int8 `x` `[..., k]` and `table` `[n, k]`, as int32 (jax and
    tensorflow)."""
    lead = static_sizes(x.shape[:-1])
    if lead is not None and math.prod(lead) == 1:
        return ops.reshape(_xla_column_product(table, x), lead + (table.shape[0],))
    return _xla_product(x, ops.transpose(table))


def int8_dense_call(layer, keras_call):
    """The `_int8_call` of an int8 `keras.layers.Dense`: Keras' own (`keras_call`), a single
    row computed as two on jax and tensorflow, compiled by XLA on tensorflow; on torch,
    `torch_fast_paths.int8_dense_call`."""
    if keras.backend.backend() == "torch":
        return torch_fast_paths.int8_dense_call(layer, keras_call)
    compiled = _on_xla(keras_call)

    def call(inputs, training=None):
        return one_row_as_two(lambda rows: compiled(rows, training=training), inputs)

    call.keras_call = keras_call
    return call

"""Fixed sinusoidal position embeddings (Marian / Pegasus layout: all sines, then all cosines)."""

import keras
import numpy as np
from keras import ops

from keras_models.layers.position_ids import position_range


def sinusoidal_table(num_positions, dim):
    """The `[num_positions, dim]` half-split sinusoid table, as transformers builds it.

    Column `i < ceil(dim / 2)` holds `sin(p / 10000^(2i / dim))` and column `ceil(dim / 2) + i`
    holds `cos(p / 10000^(2i / dim))` (not interleaved). It is computed in float64 and then
    rounded to float32, so it equals the table stored in Hugging Face checkpoints bit for bit.

    Examples:
    >>> [round(float(v), 3) for v in sinusoidal_table(3, 4)[1]]
    [0.841, 0.01, 0.54, 1.0]
    """
    positions = np.arange(num_positions, dtype=np.float64)[:, None]
    exponents = 2 * (np.arange(dim) // 2) / dim
    angles = positions / np.power(10000, exponents)
    split = (dim + 1) // 2
    table = np.empty((num_positions, dim), dtype=np.float64)
    table[:, :split] = np.sin(angles[:, 0::2])
    table[:, split:] = np.cos(angles[:, 1::2])
    return table.astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_models")
class SinusoidalPositionEmbedding(keras.layers.Layer):
    """Adds nothing, learns nothing: returns the rows of a fixed sinusoid table for the
    positions `start_index, start_index + 1, ...` of a sequence.

    The table is a non-trainable variable (`embeddings`, `[max_positions, dim]`) so that it
    follows the dtype policy and can be checked against a checkpoint's stored copy.

    Args:
        max_positions: rows of the table.
        dim: width of the table.

    Call arguments:
        inputs: any `[batch, seq, ...]` tensor; only its length `seq` is read.
        start_index: position of the first element (the cache index when decoding).
        position_ids: optional `[batch, seq]` rows to take instead (indices into the table, as
            transformers' Flax Pegasus takes `position_ids`).

    Returns:
        `[seq, dim]` position embeddings (broadcast them over the batch); `[batch, seq, dim]`
        with `position_ids`.

    Examples:
    >>> import numpy as np
    >>> layer = SinusoidalPositionEmbedding(16, 8)
    >>> layer(np.zeros((2, 5, 8), "float32")).shape
    (5, 8)
    """

    def __init__(self, max_positions, dim, **kwargs):
        super().__init__(**kwargs)
        self.max_positions = max_positions
        self.dim = dim

    def build(self, inputs_shape=None):
        table = sinusoidal_table(self.max_positions, self.dim)
        self.embeddings = self.add_weight(
            shape=(self.max_positions, self.dim),
            initializer=lambda shape, dtype=None: ops.convert_to_tensor(table, dtype=dtype),
            trainable=False,
            name="embeddings",
        )
        self.built = True

    def reference_table(self):
        """The float32 numpy table this layer holds when untouched."""
        return sinusoidal_table(self.max_positions, self.dim)

    def call(self, inputs, start_index=0, position_ids=None):
        table = ops.cast(self.embeddings, self.compute_dtype)
        if position_ids is not None:
            return ops.take(table, ops.cast(position_ids, "int32"), axis=0)
        length = ops.shape(inputs)[1]
        positions = position_range(length) + ops.cast(start_index, "int32")
        return ops.take(table, positions, axis=0)

    def compute_output_spec(self, inputs, start_index=0, position_ids=None):
        if position_ids is not None:
            return keras.KerasTensor((*position_ids.shape, self.dim), dtype=self.compute_dtype)
        return keras.KerasTensor((inputs.shape[1], self.dim), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(max_positions=self.max_positions, dim=self.dim)
        return config

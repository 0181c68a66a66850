"""Rotary position embeddings (RoPE) for `[batch, seq, heads, head_dim]` tensors."""

import keras
import numpy as np
from keras import ops

from keras_models.layers.position_ids import position_range

LAYOUTS = ("interleaved", "half")


def rotary_angles(num_positions, head_dim, max_wavelength=10000.0):
    """The float64 angle table `[num_positions, head_dim // 2]`: `p / max_wavelength^(2i/d)`.

    Computed in float64 numpy (as transformers builds RoFormer's sinusoid table) so the float32
    values do not drift at large positions.
    """
    positions = np.arange(num_positions, dtype="float64")[:, None]
    exponents = 2.0 * np.arange(head_dim // 2, dtype="float64") / head_dim
    return positions / np.power(float(max_wavelength), exponents)[None, :]


def sinusoid_table(num_positions, head_dim, max_wavelength=10000.0):
    """`[sin | cos]` of `rotary_angles`, in float32: the layout of RoFormer's
    `encoder.embed_positions.weight` checkpoint buffer."""
    angles = rotary_angles(num_positions, head_dim, max_wavelength)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1).astype("float32")


@keras.saving.register_keras_serializable(package="keras_models")
class RotaryEmbedding(keras.layers.Layer):
    """Rotates each head vector by position-dependent angles (RoPE).

    Feature pairs are rotated by `p * theta_i`, with `theta_i = max_wavelength^(-2i/head_dim)`
    and `p` the absolute position. Two pairings exist:

    - `"interleaved"` (RoFormer, GPT-J): pair `i` is features `(2i, 2i + 1)`.
    - `"half"` (GPT-NeoX, LLaMA): pair `i` is features `(i, i + head_dim / 2)`.

    The sin and cos tables are computed once in float64 numpy for `max_position_embeddings`
    positions and cast to the compute dtype, as transformers does for RoFormer; positions past
    the table are out of range.

    Args:
        max_position_embeddings: number of positions in the table.
        max_wavelength: the base of the angle frequencies.
        layout: `"interleaved"` or `"half"`.

    Call arguments:
        inputs: `[batch, seq, heads, head_dim]` queries, keys or values; `head_dim` must be even.
        start_index: absolute position of the first element of `seq` (the cache length when
            decoding step by step); an int or a scalar tensor.

    Returns:
        The rotated tensor, same shape and dtype as `inputs`.

    Examples:
    >>> import numpy as np
    >>> rope = RotaryEmbedding(max_position_embeddings=16)
    >>> rope(np.ones((1, 5, 2, 8), "float32"), start_index=3).shape
    (1, 5, 2, 8)
    """

    def __init__(
        self, max_position_embeddings=2048, max_wavelength=10000.0, layout="interleaved", **kwargs
    ):
        super().__init__(**kwargs)
        if layout not in LAYOUTS:
            raise ValueError(f"`layout` must be one of {LAYOUTS}, got {layout!r}.")
        if int(max_position_embeddings) <= 0:
            raise ValueError(
                f"`max_position_embeddings` must be positive, got {max_position_embeddings!r}."
            )
        self.max_position_embeddings = int(max_position_embeddings)
        self.max_wavelength = float(max_wavelength)
        self.layout = layout
        self._sin = None
        self._cos = None

    def build(self, input_shape):
        head_dim = input_shape[-1]
        if len(input_shape) != 4 or head_dim is None or head_dim % 2:
            raise ValueError(
                "RotaryEmbedding takes `inputs` of shape [batch, seq, heads, head_dim] with an "
                f"even, known head_dim; got shape "
                f"{tuple(input_shape)}."
            )
        angles = rotary_angles(self.max_position_embeddings, head_dim, self.max_wavelength)
        # Each angle repeated for both features of its pair, in the layout's feature order.
        if self.layout == "interleaved":
            angles = np.repeat(angles, 2, axis=-1)
        else:
            angles = np.concatenate([angles, angles], axis=-1)
        # float32 like transformers' table, cast to the compute dtype in `call`.
        self._sin = np.sin(angles).astype("float32")
        self._cos = np.cos(angles).astype("float32")
        self.built = True

    def _rotate(self, x):
        """The partner of each feature, signed: `x'[i] = x[i] cos + rotate(x)[i] sin`."""
        if self.layout == "interleaved":
            even, odd = x[..., 0::2], x[..., 1::2]
            return ops.reshape(ops.stack([-odd, even], axis=-1), ops.shape(x))
        first, second = ops.split(x, 2, axis=-1)
        return ops.concatenate([-second, first], axis=-1)

    def call(self, inputs, start_index=0):
        seq_len = ops.shape(inputs)[1]
        positions = position_range(seq_len) + ops.cast(start_index, "int32")
        dtype = inputs.dtype
        # [seq, head_dim] -> [1, seq, 1, head_dim] against [batch, seq, heads, head_dim].
        sin = ops.take(ops.convert_to_tensor(self._sin), positions, axis=0)[None, :, None, :]
        cos = ops.take(ops.convert_to_tensor(self._cos), positions, axis=0)[None, :, None, :]
        sin, cos = ops.cast(sin, dtype), ops.cast(cos, dtype)
        return inputs * cos + self._rotate(inputs) * sin

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            max_position_embeddings=self.max_position_embeddings,
            max_wavelength=self.max_wavelength,
            layout=self.layout,
        )
        return config

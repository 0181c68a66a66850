"""RotaryEmbedding against a direct numpy computation, and inside attention with a cache."""

import keras
import numpy as np
import pytest

from keras_models.layers import MultiHeadAttention, RotaryEmbedding


def numpy_rope(x, start, layout, base=10000.0):
    """Rotates each feature pair of `x` `[batch, seq, heads, d]` in float64, pair by pair."""
    x = x.astype("float64")
    d = x.shape[-1]
    out = np.empty_like(x)
    for t in range(x.shape[1]):
        p = start + t
        for i in range(d // 2):
            theta = p / base ** (2 * i / d)
            c, s = np.cos(theta), np.sin(theta)
            a, b = (2 * i, 2 * i + 1) if layout == "interleaved" else (i, i + d // 2)
            out[:, t, :, a] = x[:, t, :, a] * c - x[:, t, :, b] * s
            out[:, t, :, b] = x[:, t, :, b] * c + x[:, t, :, a] * s
    return out


@pytest.mark.parametrize("layout", ["interleaved", "half"])
@pytest.mark.parametrize("start", [0, 437])
def test_matches_numpy_past_512_positions(layout, start):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 600, 3, 16)).astype("float32")
    layer = RotaryEmbedding(max_position_embeddings=1536, layout=layout)
    ours = keras.ops.convert_to_numpy(layer(x, start_index=start))
    expected = numpy_rope(x, start, layout)
    assert np.max(np.abs(ours - expected)) <= 1e-6
    # The far positions are where a float32 angle computation would drift.
    assert start + x.shape[1] > 1000 or start == 0


def test_layouts_differ_and_position_zero_is_identity():
    x = np.random.default_rng(1).normal(size=(1, 4, 2, 8)).astype("float32")
    inter = keras.ops.convert_to_numpy(RotaryEmbedding(16)(x))
    half = keras.ops.convert_to_numpy(RotaryEmbedding(16, layout="half")(x))
    np.testing.assert_allclose(inter[:, 0], x[:, 0], atol=1e-7)
    assert np.max(np.abs(inter[:, 1:] - half[:, 1:])) > 1e-2


def test_tensor_start_index_and_relative_scores():
    rng = np.random.default_rng(2)
    q = rng.normal(size=(1, 1, 1, 8)).astype("float32")
    k = rng.normal(size=(1, 1, 1, 8)).astype("float32")
    layer = RotaryEmbedding(64)

    def score(pq, pk):
        rq = layer(q, start_index=keras.ops.convert_to_tensor(pq, "int32"))
        rk = layer(k, start_index=pk)
        return float(keras.ops.convert_to_numpy(keras.ops.sum(rq * rk)))

    # RoPE scores depend only on the relative distance.
    np.testing.assert_allclose(score(5, 2), score(40, 37), atol=1e-5)
    assert abs(score(5, 2) - score(5, 4)) > 1e-3


def test_get_config_round_trip_and_errors():
    layer = RotaryEmbedding(max_position_embeddings=100, max_wavelength=500.0, layout="half")
    clone = RotaryEmbedding.from_config(layer.get_config())
    assert (clone.max_position_embeddings, clone.max_wavelength, clone.layout) == (
        100,
        500.0,
        "half",
    )
    x = np.random.default_rng(3).normal(size=(2, 5, 2, 6)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x, start_index=3)),
        numpy_rope(x, 3, "half", 500.0),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="layout"):
        RotaryEmbedding(layout="gptj")
    with pytest.raises(ValueError, match="head_dim"):
        RotaryEmbedding(16)(np.ones((1, 3, 2, 5), "float32"))
    with pytest.raises(ValueError, match="head_dim"):
        RotaryEmbedding(16)(np.ones((3, 4), "float32"))


def test_cached_decoding_matches_full_sequence():
    """Keys (and values) are rotated before they enter the cache, at `position_offset` = the
    cache length, so step-by-step attention equals attention over the whole sequence."""
    rng = np.random.default_rng(4)
    batch, length, heads, head_dim = 2, 6, 2, 4
    x = rng.normal(size=(batch, length, heads * head_dim)).astype("float32")
    attention = MultiHeadAttention(
        heads, head_dim, rotary_embedding=RotaryEmbedding(32), rotary_value=True
    )
    causal = np.tril(np.ones((length, length), "bool"))[None]
    full = keras.ops.convert_to_numpy(attention(x, attention_mask=causal))

    cache = tuple(np.zeros((batch, heads, length, head_dim), "float32") for _ in range(2))
    steps = []
    for start, end in ((0, 3), (3, 4), (4, 5), (5, 6)):
        mask = np.broadcast_to(causal[:, start:end], (batch, end - start, length))
        out, cache = attention(
            x[:, start:end],
            attention_mask=mask,
            cache=cache,
            cache_index=start,
            position_offset=start,
        )
        steps.append(keras.ops.convert_to_numpy(out))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_attention_serialization_keeps_rotary():
    attention = MultiHeadAttention(2, 4, rotary_embedding=RotaryEmbedding(32), rotary_value=True)
    x = np.random.default_rng(5).normal(size=(1, 5, 8)).astype("float32")
    expected = keras.ops.convert_to_numpy(attention(x))
    clone = MultiHeadAttention.from_config(attention.get_config())
    clone.build((1, 5, 8))
    clone.set_weights(attention.get_weights())
    assert isinstance(clone.rotary_embedding, RotaryEmbedding) and clone.rotary_value
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), expected, atol=1e-6)

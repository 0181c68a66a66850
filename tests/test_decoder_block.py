"""TransformerDecoderBlock: cached decoding equals the full pass, cross-attention cache, config."""

import keras
import numpy as np
import pytest

from keras_models.layers import TransformerDecoderBlock


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("normalize_first", [True, False])
@pytest.mark.parametrize("cross", [False, True])
def test_cached_steps_equal_full_pass(normalize_first, cross):
    rng = np.random.default_rng(0)
    block = TransformerDecoderBlock(
        12, 3, 20, normalize_first=normalize_first, use_cross_attention=cross
    )
    x = rng.normal(size=(2, 5, 12)).astype("float32")
    enc = rng.normal(size=(2, 4, 12)).astype("float32")
    enc_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], "int32")
    pad = np.array([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], "int32")  # left padding in row 0
    kwargs = dict(encoder_hidden_states=enc, encoder_attention_mask=enc_mask) if cross else {}
    full = _numpy(block(x, attention_mask=pad, **kwargs))
    # Without cross-attention inputs the block must not silently match the cross result.
    if cross:
        assert not np.allclose(full, _numpy(block(x, attention_mask=pad)))
    max_len = 7
    cache = block.init_cache(2, max_len)
    step_kwargs = {}
    if cross:
        step_kwargs = dict(
            cross_attention_cache=block.compute_cross_attention_cache(enc),
            encoder_attention_mask=enc_mask,
        )
    mask = np.zeros((2, max_len), "int32")
    mask[:, :5] = pad
    # Prefill 3 tokens, then one token at a time.
    out, cache = block(x[:, :3], attention_mask=mask, cache=cache, cache_index=0, **step_kwargs)
    outs = [_numpy(out)]
    for i in range(3, 5):
        out, cache = block(
            x[:, i : i + 1], attention_mask=mask, cache=cache, cache_index=i, **step_kwargs
        )
        outs.append(_numpy(out))
    stepped = np.concatenate(outs, axis=1)
    keep = pad.astype(bool)
    np.testing.assert_allclose(stepped[keep], full[keep], atol=1e-5)
    assert [c.shape for c in cache] == [(2, 3, max_len, 4)] * 2


def test_config_round_trip_and_switches():
    block = TransformerDecoderBlock(
        8, 2, 16, hidden_act="gelu", use_bias=False, layer_norm_affine=False, layer_norm_eps=1e-6
    )
    block(np.ones((1, 3, 8), "float32"))
    # No biases and no LayerNorm parameters: only the 4 attention kernels and 2 FFN kernels.
    assert len(block.weights) == 6
    clone = TransformerDecoderBlock.from_config(block.get_config())
    clone(np.ones((1, 3, 8), "float32"))
    clone.set_weights(block.get_weights())
    x = np.random.default_rng(1).normal(size=(1, 3, 8)).astype("float32")
    np.testing.assert_allclose(_numpy(clone(x)), _numpy(block(x)), atol=1e-6)


def test_functional_use_and_causality():
    inputs = keras.Input((None, 8))
    outputs = TransformerDecoderBlock(8, 2, 16)(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(2).normal(size=(1, 4, 8)).astype("float32")
    y = x.copy()
    y[:, 3] += 1.0  # changing the last token must not change earlier outputs
    a, b = _numpy(model(x)), _numpy(model(y))
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert not np.allclose(a[:, 3], b[:, 3])


def test_bad_sizes():
    with pytest.raises(ValueError, match="num_attention_heads"):
        TransformerDecoderBlock(10, 3, 16)


def test_dropout_only_in_training():
    block = TransformerDecoderBlock(8, 2, 16, dropout=0.5, activation_dropout=0.5)
    x = np.random.default_rng(3).normal(size=(2, 4, 8)).astype("float32")
    a, b = _numpy(block(x)), _numpy(block(x, training=False))
    np.testing.assert_allclose(a, b)
    assert not np.allclose(_numpy(block(x, training=True)), a)

"""Each shared layer works alone in a functional model and round-trips its config."""

import keras
import numpy as np
import pytest

from keras_models import layers


def roundtrip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return clone


def test_attention_matches_a_numpy_reference():
    layer = layers.MultiHeadAttention(num_heads=2, head_dim=3)
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]])
    out = keras.ops.convert_to_numpy(layer(x, attention_mask=mask[:, None, :]))
    w = {
        d.name: (keras.ops.convert_to_numpy(d.kernel), keras.ops.convert_to_numpy(d.bias))
        for d in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense)
    }

    def proj(name, v):
        return v @ w[name][0] + w[name][1]

    q, k, v = (proj(n, x).reshape(2, 4, 2, 3) for n in ("query", "key", "value"))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(3)
    scores = np.where(mask[:, None, None, :] == 1, scores, -1e30)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    ref = proj("output", np.einsum("bhqk,bkhd->bqhd", probs, v).reshape(2, 4, 6))
    np.testing.assert_allclose(out, ref, atol=1e-5)
    roundtrip(layer)


def test_attention_cache_step_equals_full_attention():
    layer = layers.MultiHeadAttention(num_heads=2, head_dim=4)
    x = np.random.default_rng(1).normal(size=(1, 5, 8)).astype("float32")
    causal = np.tril(np.ones((5, 5), "int32"))[None]
    full = keras.ops.convert_to_numpy(layer(x, attention_mask=causal))
    cache = (np.zeros((1, 2, 5, 4), "float32"), np.zeros((1, 2, 5, 4), "float32"))
    outs = []
    for t in range(5):
        out, cache = layer(
            x[:, t : t + 1], attention_mask=causal[:, t : t + 1], cache=cache, cache_index=t
        )
        outs.append(keras.ops.convert_to_numpy(out))
    np.testing.assert_allclose(np.concatenate(outs, 1), full, atol=1e-5)
    # The stacked layout of earlier versions is refused with the expected one named.
    with pytest.raises(
        ValueError, match=r"`cache` must be a pair \(keys, values\).*\(2, 1, 2, 5, 4\)"
    ):
        layer(x[:, :1], cache=np.zeros((2, 1, 2, 5, 4), "float32"), cache_index=0)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_block_in_a_functional_model(normalize_first):
    block = layers.TransformerEncoderBlock(8, 2, 16, normalize_first=normalize_first)
    inputs = keras.Input((None, 8))
    mask = keras.Input((None,), dtype="int32")
    model = keras.Model(
        [inputs, mask], block(inputs, attention_mask=keras.ops.expand_dims(mask, 1))
    )
    x = np.random.default_rng(2).normal(size=(2, 3, 8)).astype("float32")
    assert model([x, np.ones((2, 3), "int32")]).shape == (2, 3, 8)
    clone = roundtrip(block)
    assert clone.normalize_first is normalize_first


def test_heads_and_embeddings_in_functional_models():
    ids = keras.Input((None,), dtype="int32")
    emb = layers.TransformerEmbeddings(20, 8, max_position_embeddings=10, type_vocab_size=2)
    hidden = emb(
        ids,
        token_type_ids=keras.ops.zeros_like(ids),
        position_ids=layers.padding_aware_position_ids(ids, 1),
    )
    start, end = layers.SpanHead()(hidden)
    logits = layers.MaskedLMHead(emb.word_embeddings)(hidden)
    cls = layers.ClassificationHead(3, hidden_size=8)(hidden[:, 0, :])
    model = keras.Model(ids, [start, end, logits, cls])
    out = model(np.array([[0, 4, 5, 1]]))
    assert [tuple(o.shape) for o in out] == [(1, 4), (1, 4), (1, 4, 20), (1, 3)]
    for layer in (emb, layers.SpanHead(), layers.ClassificationHead(3, hidden_size=8)):
        roundtrip(layer)


def test_choice_head_and_position_rules():
    scores = layers.ChoiceHead()(np.ones((6, 4), "float32"), np.ones((2, 3, 5), "int32"))
    assert scores.shape == (2, 3)
    ids = np.array([[0, 5, 6, 2, 1, 1], [1, 1, 0, 7, 8, 2]])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layers.padding_aware_position_ids(ids, 1, past_length=3)),
        [[5, 6, 7, 8, 1, 1], [1, 1, 5, 6, 7, 8]],
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layers.mask_position_ids(np.array([[0, 0, 1, 1]]))),
        [[-1, -1, 0, 1]],
    )


def test_dtype_policy_is_honoured():
    # Mixed: the matmuls run in bfloat16, the residual stream and LayerNorms in float32.
    block = layers.TransformerEncoderBlock(8, 2, 16, dtype="mixed_bfloat16")
    x = np.ones((1, 3, 8), "float32")
    out = block(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert keras.backend.standardize_dtype(block.attention(x).dtype) == "bfloat16"
    assert block.output_layer_norm.compute_dtype == "float32"
    assert block.attention.query_dense.kernel.dtype == "float32"
    # Not mixed: everything in the policy's dtype.
    block = layers.TransformerEncoderBlock(8, 2, 16, dtype="bfloat16")
    out = block(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_drops_at_its_rate_and_keeps_the_mean(rate):
    layer = layers.Dropout(rate)
    x = np.ones((1000, 1000), "float32")
    out = np.asarray(keras.ops.convert_to_numpy(layer(x, training=True)))
    dropped = out == 0
    assert abs(dropped.mean() - rate) < 3e-3
    np.testing.assert_allclose(out[~dropped], 1.0 / (1.0 - rate), rtol=1e-4)
    assert abs(out.mean() - 1.0) < 5e-3
    # Rows and columns are independent draws, and two calls draw anew.
    assert dropped.mean(axis=0).std() < 0.05 and dropped.mean(axis=1).std() < 0.05
    again = np.asarray(keras.ops.convert_to_numpy(layer(x, training=True))) == 0
    assert abs((again != dropped).mean() - 2 * rate * (1 - rate)) < 5e-3
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)  # inference


def test_dropout_gradient_is_its_mask():
    if keras.backend.backend() != "torch":
        pytest.skip("the fast mask exists on torch only; elsewhere it is Keras' dropout")
    import torch

    x = torch.ones((64, 64), requires_grad=True)
    out = layers.Dropout(0.25)(x, training=True)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.detach().numpy())


def test_seeded_dropout_is_keras_dropout():
    x = np.ones((50, 50), "float32")
    ours = layers.Dropout(0.3, seed=7)(x, training=True)
    theirs = keras.layers.Dropout(0.3, seed=7)(x, training=True)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs)
    )


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the cut is torch's only")
def test_torch_cached_attention_reads_only_the_written_slots_also_in_a_trace():
    import torch
    from torch.profiler import ProfilerActivity, profile

    from keras_models import torch_fast_paths

    layer = layers.MultiHeadAttention(num_heads=2, head_dim=4)
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(2, 1, 8)), dtype=torch.float32)
    layer(x)

    def example(index):
        keys, values = (
            torch.tensor(rng.normal(size=(2, 2, 9, 4)), dtype=torch.float32) for _ in "kv"
        )
        mask = torch.tensor(np.arange(9) <= index).expand(2, 1, 9)
        return x, keys, values, torch.tensor(index), mask

    def step(x, keys, values, index, mask):
        return layer(x, attention_mask=mask, cache=(keys, values), cache_index=index)[0]

    # One trace (as decoding records it), replayed at other positions: the cut follows.
    variables = list(layer.variables)
    weights = torch_fast_paths.weights_of(variables)
    with torch.no_grad():
        feed, replay = torch_fast_paths.trace_with_weights(
            variables, step, example(3), weights, {}, transpose=True
        )
    for index in (1, 6):
        args = example(index)
        copies = [a.clone() for a in args]
        # Scores are returned for every slot, so this reference attends over all of them.
        want, _, scores = layer(
            copies[0],
            attention_mask=copies[4],
            cache=tuple(copies[1:3]),
            cache_index=index,
            return_attention_scores=True,
        )
        assert tuple(scores.shape) == (2, 2, 1, 9)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            got = replay(feed(weights), args)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), atol=1e-6)
        read = [
            e.input_shapes[1]
            for e in prof.events()
            if e.name == "aten::scaled_dot_product_attention"
        ]
        assert read == [[2, 2, index + 1, 4]]


def test_torch_attention_equals_keras_attention_on_strided_keys():
    """`torch_fast_paths.dot_product_attention` (no copies of strided keys and values) gives
    Keras' values, rows that see no key included."""
    if keras.backend.backend() != "torch":
        pytest.skip("torch's own")
    import torch

    from keras_models import torch_fast_paths

    rng = np.random.default_rng(3)
    for dtype in (torch.float32, torch.bfloat16):
        cache = torch.tensor(rng.normal(size=(2, 3, 7, 4)), dtype=dtype)
        key = cache.transpose(1, 2)[:, :5]  # strided, as a cut cache is
        value = cache.flip(-1).transpose(1, 2)[:, :5]
        query = torch.tensor(rng.normal(size=(2, 2, 3, 4)), dtype=dtype)
        mask = torch.tensor(rng.random((2, 1, 2, 5)) < 0.6)
        mask[0, :, 1] = False  # a row with no visible key
        got = torch_fast_paths.dot_product_attention(query, key, value, mask, 0.5)
        want = keras.ops.dot_product_attention(query, key, value, mask=mask, scale=0.5)
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_reversible_embedding_projects_few_rows_table_first_also_in_a_torch_trace():
    from keras_models.layers.embeddings import ReversibleEmbedding

    layer = ReversibleEmbedding(10, 4)
    layer.build()
    hidden = np.random.default_rng(0).normal(size=(2, 1, 4)).astype("float32")
    table = keras.ops.convert_to_numpy(layer.embeddings)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(hidden, reverse=True)), hidden @ table.T, atol=1e-6
    )
    if keras.backend.backend() != "torch":
        return
    import torch

    # A trace reads sizes as tensors; the few-rows orientation must still be the one recorded.
    def project(h):  # the table bound to a plain tensor, as the model traces bind weights
        with keras.StatelessScope(state_mapping=[(layer.variables[0], torch.tensor(table))]):
            return layer(h, reverse=True)

    trace = torch.jit.trace(project, (torch.tensor(hidden),))
    traced = trace(torch.tensor(hidden)).numpy()
    products = [n for n in trace.graph.nodes() if n.kind() == "aten::matmul"]
    assert [list(n.inputsAt(0).type().sizes()) for n in products] == [[10, 4]]
    np.testing.assert_allclose(traced, hidden @ table.T, atol=1e-6)

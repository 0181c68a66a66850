"""`predict` / `predict_on_batch` compute what an eager call computes, for every family.

On torch they replay a `torch.jit.trace` of the graph (`keras_models/torch_fast_paths.py`):
these tests catch a trace that froze a value it should read anew (ids, masks, weights) or a
signature mix-up. On JAX and TensorFlow they check Keras' own predict path the same way.
"""

import keras
import numpy as np
import pytest

import keras_models
from tests.families import FAMILIES
from tests.tiny_models import backbone, inputs, labels, task


def _np(nest):
    return {k: np.asarray(keras.ops.convert_to_numpy(v), "float32") for k, v in nest.items()}


def _assert_same(predicted, eager, atol=1e-5):
    assert sorted(predicted) == sorted(eager)
    for name in eager:
        np.testing.assert_allclose(predicted[name], eager[name], atol=atol, err_msg=name)


def _batch(family, seed, rows=3, length=6):
    rng = np.random.default_rng(seed)
    mask = np.ones((rows, length), "int32")
    mask[seed % rows, length - 1 - seed % 3 :] = 0  # padding that moves with the seed
    return inputs(family, rng.integers(3, 50, size=(rows, length)), attention_mask=mask)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_predict_matches_eager_calls(family):
    model = task(family, backbone(family))
    first, second = _batch(family, 0), _batch(family, 1)
    # Same shapes, other ids and padding: a replay must not reuse the first call's values.
    for x in (first, second, first):
        _assert_same(_np(model.predict_on_batch(x)), _np(model(x)))
    # Another length and batch size: a new signature.
    x = _batch(family, 2, rows=2, length=4)
    _assert_same(_np(model.predict_on_batch(x)), _np(model(x)))
    # Weights set after the first predict are used.
    model.set_weights([w * 1.5 for w in model.get_weights()])
    _assert_same(_np(model.predict_on_batch(first)), _np(model(first)))
    # `predict` over batches, the last one smaller.
    x = _batch(family, 3, rows=5)
    predicted = model.predict(x, batch_size=2, verbose=0)
    _assert_same(_np(predicted), _np(model(x)))


def test_predict_of_backbones_and_multiple_choice():
    model = backbone("roberta")
    x = _batch("roberta", 0)
    _assert_same(_np(model.predict_on_batch(x)), _np(model(x)))
    choice = keras_models.RobertaForMultipleChoice(model)
    rng = np.random.default_rng(0)
    x = {"input_ids": rng.integers(3, 50, size=(2, 3, 5)).astype("int32")}
    _assert_same(_np(choice.predict_on_batch(x)), _np(choice(x)))


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the traces exist on torch only")
def test_torch_traces_are_kept_per_signature_and_bounded():
    from keras_models import torch_fast_paths as torch_inference

    model = backbone("roberta")
    for length in range(3, 3 + torch_inference.MAX_TRACES + 2):
        model.predict_on_batch(_batch("roberta", 0, length=length))
    assert len(torch_inference._TRACES[model]) == torch_inference.MAX_TRACES
    model.predict_on_batch(_batch("roberta", 1, length=4 + torch_inference.MAX_TRACES))
    assert len(torch_inference._TRACES[model]) == torch_inference.MAX_TRACES


# The 16-bit weight copies are torch's (every family there); on JAX and TensorFlow this checks
# Keras' own compiled predict, the same for every family (whose graphs compile in
# test_predict_matches_eager_calls): one family there.
BFLOAT16_FAMILIES = sorted(FAMILIES) if keras.backend.backend() == "torch" else ["opt"]


@pytest.mark.parametrize("family", BFLOAT16_FAMILIES)
def test_mixed_bfloat16_predict_matches_eager_calls_as_weights_change(family):
    # On torch the trace feeds 16-bit copies of the weights, kept between calls: every change
    # of a weight (set, assigned in place, trained) must reach the next call, to the bit.
    # XLA's compiled predict may round a bfloat16 value differently from the eager ops (one
    # unit in the last place); the weight changes below move the outputs far more than that.
    atol = 1e-5 if keras.backend.backend() == "torch" else 3e-2
    model = task(family, backbone(family, dtype="mixed_bfloat16"))
    x = _batch(family, 0)

    def check():
        _assert_same(_np(model.predict_on_batch(x)), _np(model(x)), atol)

    check()
    model.set_weights([w * 1.5 for w in model.get_weights()])
    check()
    kernel = next(v for v in model.trainable_variables if v.path.endswith("kernel"))
    kernel.assign(kernel * -1.0)  # one variable, in place
    check()
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.train_on_batch(x, labels(family, x))
    check()


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the traces exist on torch only")
def test_torch_traces_reuse_16_bit_weights_until_they_change():
    import torch

    from keras_models import torch_fast_paths as torch_inference

    model = task("opt", backbone("opt", dtype="mixed_bfloat16"))
    x = _batch("opt", 0)
    model.predict_on_batch(x)
    casts = torch_inference.cast_cache(model)
    # Every kernel, and the embedding table for the tied LM head (read in float32 by the
    # lookup, in bfloat16 by the head), has its copy.
    kernels = [v for v in model.variables if v.path.endswith("kernel")]
    table = next(v for v in model.variables if v.path == "embed_tokens/embeddings")
    assert all((id(v), torch.bfloat16) in casts for v in kernels + [table])
    first = {key: entry[-1] for key, entry in casts.items()}
    model.predict_on_batch(_batch("opt", 1))
    assert all(casts[key][-1] is copy for key, copy in first.items())
    kernels[0].assign(kernels[0] * 2.0)
    model.predict_on_batch(x)
    changed = [key for key, copy in first.items() if casts[key][-1] is not copy]
    assert changed == [(id(kernels[0]), torch.bfloat16)]


@pytest.mark.parametrize("family", ["opt", "pegasus"])
def test_mixed_bfloat16_generation_sees_new_weights(family):
    model = task(family, backbone(family, dtype="mixed_bfloat16"))
    other = task(family, backbone(family, dtype="mixed_bfloat16"))
    prompt = {"input_ids": np.array([[5, 6, 7, 8]], "int32")}

    def generate(m):
        return m.generate(prompt, max_new_tokens=6, eos_token_id=[])

    before = generate(model)
    model.set_weights(other.get_weights())
    after = generate(model)
    np.testing.assert_array_equal(after, generate(other))
    assert not np.array_equal(before, after)  # the check above could not pass on stale weights


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the traces exist on torch only")
def test_torch_trace_keeps_casts_that_are_written_in_place():
    import torch

    from keras_models import torch_fast_paths as torch_inference

    def fn(weights, flat):
        read = weights[0].to(torch.float32).to(torch.bfloat16)  # a no-op conversion first
        written = weights[1].to(torch.bfloat16)
        written.add_(1.0)  # a copy fed from the cache must not be written into
        return [read @ flat[0], written, weights[1] * 2.0]

    weights = [torch.ones(3, 3), torch.ones(3)]
    example = (weights, [torch.ones(3, 2, dtype=torch.bfloat16)])
    trace = torch.jit.trace(fn, example, check_trace=False)  # not run before the rewrite
    assert torch_inference._read_in_half(trace.graph) == [(0, torch.bfloat16)]
    extended = weights + [weights[0].to(torch.bfloat16)]
    read, written, doubled = trace(extended, [torch.full((3, 2), 2.0, dtype=torch.bfloat16)])
    assert read.dtype == torch.bfloat16 and float(read[0, 0]) == 6.0
    assert float(written[0]) == 2.0 and float(doubled[0]) == 2.0


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the traces exist on torch only")
def test_torch_trace_reads_transposed_16_bit_kernels():
    import torch

    from keras_models import torch_fast_paths as torch_inference

    def fn(weights, flat):
        kernel = weights[0].to(torch.float32)  # a no-op conversion first
        half = weights[1].to(torch.bfloat16)
        return [flat[0] @ kernel, flat[1] @ half]

    rng = np.random.default_rng(0)
    weights = [torch.tensor(rng.normal(size=(3, 5)), dtype=torch.float32) for _ in range(2)]
    one = torch.tensor(rng.normal(size=(1, 3)), dtype=torch.float32)
    args = [one, one.to(torch.bfloat16)]
    trace = torch.jit.trace(fn, (weights, args), check_trace=False)  # not run before
    # The 16-bit product reads a transposed copy of its cast's copy; the float32 one is left
    # to oneDNN (`_read_onednn_packed`).
    assert torch_inference._read_in_half(trace.graph) == [(1, torch.bfloat16)]
    assert torch_inference._read_transposed(trace.graph) == [2]
    assert str(trace.graph).count("aten::t(") == 1
    half = weights[1].to(torch.bfloat16)
    fed = weights + [half, half.t().contiguous()]
    for got, want in zip(trace(fed, args), fn(weights, args)):
        np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the traces exist on torch only")
def test_torch_trace_runs_float32_products_on_onednn_with_bias_and_activation():
    import torch

    from keras_models import torch_fast_paths as torch_inference

    def fn(weights, flat):
        # No-op conversions, as Keras records them; the last one widens a bfloat16 weight.
        kernel, bias, table, narrow = (w.to(torch.float32) for w in weights)
        x, rows = flat
        dense = torch.nn.functional.gelu(x @ kernel + bias)  # a `Dense` with its activation
        shared = x @ kernel + bias  # its sum read twice: the activation stays apart
        relu = torch.relu(shared)
        head = (table @ rows.t()).t()  # the few-row tied head
        half = x.to(torch.bfloat16) @ kernel.to(torch.bfloat16)  # not float32: left alone
        # A kernel kept in another dtype (float8's, say) is not a float32 weight to pack.
        converted = x @ narrow
        return [dense, shared, relu, head, half, x @ kernel + bias * 2, converted]

    rng = np.random.default_rng(0)
    shapes = [(3, 5), (5,), (7, 3)]
    weights = [torch.tensor(rng.normal(size=s), dtype=torch.float32) for s in shapes]
    weights.append(torch.tensor(rng.normal(size=(3, 5)), dtype=torch.bfloat16))
    args = [
        torch.tensor(rng.normal(size=(2, 4, 3)), dtype=torch.float32),
        torch.tensor(rng.normal(size=(2, 3)), dtype=torch.float32),
    ]
    trace = torch.jit.trace(fn, (weights, args), check_trace=False)  # not run before
    # The layer's kernel as it is, and the table transposed (it is the head's `[out, in]`).
    assert torch_inference._read_onednn_packed(trace.graph) == [(0, True), (2, False)]
    nodes = [n for n in trace.graph.nodes() if n.kind() == "mkldnn::_linear_pointwise"]
    joined = [(n.inputsAt(2).type().kind(), n.inputsAt(3).toIValue()) for n in nodes]
    # gelu joined with the bias; the shared sum and `bias * 2` (not a weight) stay apart.
    assert sorted(joined) == sorted(
        [("TensorType", "gelu"), ("TensorType", "none")] + [("NoneType", "none")] * 2
    )
    kinds = [n.kind() for n in trace.graph.nodes()]
    assert "aten::gelu" not in kinds and kinds.count("aten::relu") == 1
    assert kinds.count("aten::matmul") == 2  # the 16-bit product and the converted kernel
    fed = weights + [
        torch_inference._onednn_pack(w, as_is)
        for w, as_is in [(weights[0], True), (weights[2], False)]
    ]
    for got, want in zip(trace(fed, args), fn(weights, args)):
        assert got.shape == want.shape and got.dtype == want.dtype
        tolerance = 1e-5 if got.dtype == torch.float32 else 1e-2  # another summation order
        np.testing.assert_allclose(
            got.float().numpy(), want.float().numpy(), rtol=tolerance, atol=tolerance / 10
        )


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the traces exist on torch only")
def test_torch_trace_drops_sizes_conversions_and_repeats_that_change_nothing():
    import torch

    from keras_models import torch_fast_paths as torch_inference

    def fn(weights, flat):
        kernel = weights[0].to("cpu").to(torch.float32)  # as Keras' convert_to_tensor records
        x = flat[0].reshape(flat[0].shape[0] * flat[0].shape[1], -1)  # sizes
        owned = x.to(torch.float32, copy=True)  # a real copy, written in place below
        before = owned.sum()
        owned.add_(1.0)
        after = owned.sum()  # the same operation as `before`, after a write: kept
        y = x * 2.0  # (`x` might be `owned`, which is written: its reads are all kept)
        twice = y.abs() + y.abs()  # recorded twice, run once
        return [x @ kernel, owned, x.to(torch.float64), before, after, twice]

    weights = [torch.ones(3, 5)]
    args = [torch.arange(12, dtype=torch.float32).reshape(2, 2, 3)]
    trace = torch.jit.trace(fn, (weights, args), check_trace=False)  # not run before
    torch_inference._drop_static_work(trace.graph)
    kinds = [node.kind() for node in trace.graph.nodes()]
    assert "aten::size" not in kinds
    assert kinds.count("aten::to") == 2  # the copy and the conversion to float64
    assert kinds.count("aten::abs") == 1
    assert kinds.count("aten::sum") == 2
    for got, want in zip(trace(weights, args), fn(weights, args)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert float(args[0][0, 0, 0]) == 0.0  # the copy was written, not the input


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the traces exist on torch only")
def test_torch_generation_reads_onednn_packed_kernels_until_they_change():
    import torch

    from keras_models import torch_fast_paths as torch_inference

    model = task("opt", backbone("opt"))
    other = task("opt", backbone("opt"))
    rng = np.random.default_rng(0)
    prompt = {"input_ids": rng.integers(3, 50, size=(4, 5)).astype("int32")}

    def generate(m):
        return m.generate(prompt, max_new_tokens=6, eos_token_id=[])

    batched = generate(model)
    rows = [
        model.generate({"input_ids": ids[None]}, max_new_tokens=6, eos_token_id=[])
        for ids in prompt["input_ids"]
    ]
    np.testing.assert_array_equal(batched, np.concatenate(rows))
    casts = torch_inference.cast_cache(model)
    kernels = [v for v in model.variables if v.path.endswith("kernel")]
    packed = [key for key in casts if key[1][0] == "onednn"]
    # Every layer's kernel as it is, and the tied head's table transposed.
    table = model.backbone.token_embedding.embeddings
    expected = [(id(v), ("onednn", True)) for v in kernels] + [(id(table), ("onednn", False))]
    assert sorted(packed) == sorted(expected)
    assert all(casts[key][-1].layout == torch._mkldnn for key in packed)
    # New weights are read: every copy is made again.
    first = {key: casts[key][-1] for key in packed}
    model.set_weights(other.get_weights())
    after = generate(model)
    np.testing.assert_array_equal(after, generate(other))
    assert not np.array_equal(batched, after)
    assert all(casts[key][-1] is not first[key] for key in packed)

"""Keras' `quantize` on every family: the quantized model stays close to float32, and it saves
and loads (Keras presets; `.keras` files) to exactly the same outputs, `generate` included."""

import gc
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_models
from keras_models.layers.embeddings import ReversibleEmbedding
from keras_models.models.quantization import use_int8_kernels
from tests import tiny_models

IDS = np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]], "int32")


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _outputs(model, x):
    return {k: _numpy(v) for k, v in model(x).items()}


@pytest.mark.parametrize("family", sorted(tiny_models.TASKS))
def test_quantized_model_saves_and_loads(family, tmp_path):
    model = tiny_models.task(family, tiny_models.backbone(family))
    x = tiny_models.inputs(family, IDS)
    before = _outputs(model, x)
    model.quantize("int8")
    after = _outputs(model, x)
    assert any(getattr(layer, "quantization_mode", None) for layer in model._flatten_layers())
    for key, value in before.items():
        # int8 weights: close to float32, not equal.
        scale = np.abs(value).max() + 1e-6
        assert np.abs(after[key] - value).max() / scale < 0.05, key
    # (`.keras` files: test_quantized_generation_round_trip.)
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    again = type(model).from_preset(preset)
    assert any(getattr(layer, "quantization_mode", None) for layer in again._flatten_layers())
    for key, value in _outputs(again, x).items():
        np.testing.assert_array_equal(value, after[key])


def _int4_config(mode):
    """`(mode, config)` for "int8", "int4" or "int4/<block size>" (-1: one scale a row)."""
    mode, _, block_size = mode.partition("/")
    if not block_size:
        return mode, None
    return mode, keras.quantizers.Int4QuantizationConfig(block_size=int(block_size))


@pytest.mark.parametrize("mode", ["int8", "float8", "int4"])
def test_quantized_generation_round_trip(mode, tmp_path):
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    model.quantize(mode)
    if mode != "float8":  # Keras' float8 is for `Dense` / `EinsumDense`, not embeddings
        assert model.backbone.token_embedding.quantization_mode == mode  # the tied head
    ids = np.array([[2, 11, 40, 7]], "int32")
    tokens = model.generate(ids, max_new_tokens=5, eos_token_id=[])
    path = str(tmp_path / "opt.keras")
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_array_equal(again.generate(ids, max_new_tokens=5, eos_token_id=[]), tokens)


@pytest.mark.parametrize("mode", ["int4/8", "int4/-1"])
def test_int4_block_size_survives_saving(mode, tmp_path):
    # The variables' shapes depend on the block size: a preset must record it.
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    model.quantize(*_int4_config(mode))
    assert model.backbone.get_config()["quantized_layers"]["decoder_layer_0/fc1"] == mode
    model.save_to_preset(str(tmp_path / "preset"))
    again = keras_models.OPTForCausalLM.from_preset(str(tmp_path / "preset"))
    ids = np.array([[2, 11, 40, 7]], "int32")
    np.testing.assert_array_equal(_outputs(again, ids)["logits"], _outputs(model, ids)["logits"])


def test_quantizing_and_loading_collect_garbage_once(tmp_path, monkeypatch):
    # Keras collects once per dropped float kernel (0.1-0.3 s each with torch imported).
    collections = []
    collect = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(1) or collect(*a))
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    model.quantize("int8")
    assert len(collections) == 1
    model.save_to_preset(str(tmp_path / "preset"))
    collections.clear()
    keras_models.OPTForCausalLM.from_preset(str(tmp_path / "preset"))
    assert len(collections) == 1


def test_a_config_of_another_model_is_refused():
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    config = model.get_config()
    config["quantized_layers"] = {"0": ["not_a_layer", "int8"]}  # the older positional form
    with pytest.raises(ValueError, match="not_a_layer"):
        keras_models.OPTForCausalLM.from_config(config)
    config["quantized_layers"] = {"decoder_layer_0/not_a_layer": "int8"}
    with pytest.raises(ValueError, match="decoder_layer_0/not_a_layer"):
        keras_models.OPTForCausalLM.from_config(config)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="one pair of backends is enough")
def test_a_quantized_preset_loads_on_another_backend_without_tensorflow(tmp_path):
    # Layer orders differ between backends; the record names layers by path.
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    model.quantize("int8")
    assert "decoder_layer_0/fc1" in model.backbone.get_config()["quantized_layers"]
    model.save_to_preset(str(tmp_path / "preset"))
    ids = np.array([[2, 11, 40, 7]], "int32")
    np.save(tmp_path / "logits.npy", _outputs(model, ids)["logits"])
    script = (
        "import sys, numpy as np, keras_models\n"
        "model = keras_models.OPTForCausalLM.from_preset(sys.argv[1] + '/preset')\n"
        "logits = model.predict_on_batch(np.array([[2, 11, 40, 7]], 'int32'))['logits']\n"
        "np.testing.assert_allclose(logits, np.load(sys.argv[1] + '/logits.npy'), atol=1e-5)\n"
        # Keras' serializer imports TensorFlow (400 MB) on any backend; the load must not.
        "assert 'tensorflow' not in sys.modules\n"
    )
    env = dict(os.environ, KERAS_BACKEND="torch")
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("mode", ["int8", "int4/-1", "int4/8"])
def test_quantized_tied_lm_head_matches_a_numpy_reference(mode):
    # (That `quantize` reaches the tied head of a model: test_quantized_generation_round_trip.)
    head = ReversibleEmbedding(40, 16, embeddings_initializer="glorot_uniform")
    head.build()
    mode, config = _int4_config(mode)
    head.quantize(mode, config=config)
    block_size = config.block_size if config else None
    # Six rows, and one (a batch-1 decoding step: its own path on every backend).
    for rows in ((2, 3), (1, 1)):
        hidden = np.random.default_rng(0).normal(size=rows + (head.output_dim,)).astype("float32")
        _check_head(head, hidden, mode, block_size)


def _check_head(head, hidden, mode, block_size):
    table, table_scale = _numpy(head._embeddings).astype("float32"), _numpy(head.embeddings_scale)
    if mode == "int4":  # two int4 values a byte, low nibble first
        low, high = (table.astype("int32") << 28) >> 28, (table.astype("int32") << 24) >> 28
        table = np.stack([low, high], axis=-1).reshape(len(table), -1)[:, : head.output_dim]
    if block_size == 8:  # asymmetric groups of 8 columns: `(q - zero) * scale`
        columns = np.arange(head.output_dim) // 8
        zero = _numpy(head.embeddings_zero)[:, columns]
        expected = hidden @ ((table - zero) * table_scale[:, columns]).T
    else:
        # Keras' scheme: rows of the table and of the hidden states scaled to [-127, 127].
        scale = 127.0 / (np.abs(hidden).max(axis=-1, keepdims=True) + keras.backend.epsilon())
        quantized = np.clip(np.round(hidden * scale), -127, 127)
        expected = (quantized @ table.T) / (scale * table_scale)
    np.testing.assert_allclose(_numpy(head(hidden, reverse=True)), expected, rtol=1e-5, atol=1e-5)


def test_int8_fast_paths_give_keras_own_int8_outputs():
    """torch's int8 kernels, and on jax / tensorflow a single row computed as two: the
    outputs of Keras' own int8 `Dense` call, at batch 2 and in batch-1 decoding (one row).
    Two models with the same weights, since every backend keeps its compiled `predict` and
    decode loop (torch: its traces) per model."""
    models = [keras_models.OPTForCausalLM(tiny_models.backbone("opt")) for _ in range(2)]
    for model in models:
        model.quantize("int8")
    ours, keras_own = models
    keras_own.set_weights(ours.get_weights())
    dense = [layer for layer in ours._flatten_layers() if isinstance(layer, keras.layers.Dense)]
    assert dense and all("_int8_call" in vars(layer) for layer in dense)
    for layer in keras_own._flatten_layers():
        if isinstance(layer, keras.layers.Dense):
            layer._int8_call = layer._int8_call.keras_call
    ids = np.array([[2, 11, 40, 7], [2, 5, 6, 9]], "int32")

    def run(model):
        logits = _numpy(model.predict_on_batch(ids)["logits"])
        # More rows than torch's fbgemm products take (`FBGEMM_FOR_ROWS`).
        many = _numpy(model.predict_on_batch(np.tile(ids, (1, 5)))["logits"])
        one_row = _numpy(model(ids[:1, :1])["logits"])
        # jax / tensorflow change only one-row products; torch's kernel runs at every size.
        sizes = (1, 2) if keras.backend.backend() == "torch" else (1,)
        tokens = [model.generate(ids[:n], max_new_tokens=5, eos_token_id=[]) for n in sizes]
        return logits, many, one_row, *tokens

    for fast, keras_value in zip(run(ours), run(keras_own)):
        np.testing.assert_array_equal(fast, keras_value)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's int8 kernels")
def test_torch_fbgemm_products_round_as_keras_quantizer_does():
    """On fbgemm, `quantized_product` gives the sums of Keras' `abs_max_quantize` values, also
    for values a hair from a rounding tie (fbgemm's own rounding moves those) and on ties."""
    import torch

    from keras_models import torch_fast_paths

    if not torch_fast_paths._fbgemm_exact():
        pytest.skip("fbgemm's int8 sums are not exact on this CPU: no fbgemm products here")
    # Ties of both parities, and values 3e-6 from them: below half a float32 step at 128
    # to 256, where fbgemm's own rounding of `x + 128` would put them on the tie.
    ties = torch.arange(-30.5, 31.0, 1.0)
    rows = torch.stack([ties, ties + 3e-6, ties - 3e-6, -ties, ties * 4])
    rows = torch.cat([rows, torch.full((5, 1), 127.0)], dim=1)  # the scale: 127 / 127
    kernel = torch.randint(
        -127, 128, (rows.shape[1], 6), generator=torch.Generator().manual_seed(0)
    )
    kernel = kernel.to(torch.int8)
    traced = torch.jit.trace(
        lambda x, k: torch_fast_paths.quantized_product(x, k)[0], (rows, kernel), check_trace=False
    )
    assert "quantized::linear_with_input_q_dq_qweight_dq_output_fp32" in str(traced.graph)
    quantized, _ = keras.quantizers.abs_max_quantize(rows, axis=-1)
    expected = (quantized.to(torch.int64) @ kernel.to(torch.int64)).to(torch.float32)
    np.testing.assert_array_equal(traced(rows, kernel).numpy(), expected.numpy())
    # More rows than `FBGEMM_FOR_ROWS` (a prompt's step) run on `torch._int_mm`: as fast
    # there, and with no kernel to pack. The sums are the same.
    many = rows.repeat(torch_fast_paths.FBGEMM_FOR_ROWS // 5 + 1, 1)
    traced = torch.jit.trace(
        lambda x, k: torch_fast_paths.quantized_product(x, k)[0], (many, kernel), check_trace=False
    )
    assert "quantized::linear" not in str(traced.graph)
    assert "aten::_int_mm" in str(traced.graph)
    repeated = expected.repeat(torch_fast_paths.FBGEMM_FOR_ROWS // 5 + 1, 1)
    np.testing.assert_array_equal(traced(many, kernel).numpy(), repeated.numpy())


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's int8 kernels")
def test_torch_int8_products_on_prepacked_fbgemm_kernels_give_the_same_outputs(monkeypatch):
    """Inside traces the int8 products run on fbgemm from kernels packed once per weight
    value, with the outputs of `torch._int_mm`; new weights are packed again and read."""
    from keras_models import torch_fast_paths

    if not torch_fast_paths._fbgemm_exact():
        pytest.skip(
            "fbgemm's int8 sums are not exact on this CPU (no VNNI), so every product runs on "
            "torch._int_mm (test_int8_fast_paths_give_keras_own_int8_outputs checks it)"
        )
    ids = np.array([[2, 11, 40, 7], [2, 5, 6, 9]], "int32")
    models = [keras_models.OPTForCausalLM(tiny_models.backbone("opt")) for _ in range(2)]
    for model in models:
        model.quantize("int8")
    models[1].set_weights(models[0].get_weights())

    def run(model):
        logits = _numpy(model.predict_on_batch(ids)["logits"])
        tokens = [model.generate(ids[:n], max_new_tokens=5, eos_token_id=[]) for n in (1, 2)]
        return logits, *tokens

    def packed(model):
        casts = torch_fast_paths.cast_cache(model)
        return {key: entry[-1] for key, entry in casts.items() if key[1][0] == "fbgemm"}

    fbgemm = run(models[0])
    int8 = [v for v in models[0].variables if v.dtype == "int8" and "positions" not in v.path]
    first = packed(models[0])
    # Each int8 kernel and the tied head's table (position rows are only looked up) packed
    # once, then read; the query, key and value kernels of a layer side by side.
    sets = sorted(sorted(key[0]) if isinstance(key[0], tuple) else [key[0]] for key in first)
    assert sorted(i for ids in sets for i in ids) == sorted(map(id, int8))
    side_by_side = [{v.path.split("/")[-2] for v in int8 if id(v) in ids} for ids in sets]
    assert [names for names in side_by_side if len(names) > 1] == [
        {"query", "key", "value"}
    ] * models[0].backbone.num_hidden_layers
    with monkeypatch.context() as patch:
        patch.setattr(torch_fast_paths, "_fbgemm_exact", lambda: False)
        for ours, int_mm in zip(fbgemm, run(models[1])):
            np.testing.assert_array_equal(ours, int_mm)
    # New weights: packed again, and the traces read them.
    other = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    other.quantize("int8")
    models[0].set_weights(other.get_weights())
    again = run(models[0])
    assert all(packed(models[0])[key] is not first[key] for key in first)
    for ours, expected in zip(again, run(other)):
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's int8 kernels")
def test_fbgemm_is_refused_where_its_sums_saturate(monkeypatch):
    """`_fbgemm_exact` refuses fbgemm where its sums are not exact (on CPUs without VNNI they
    saturate in 16 bits; mimicked here by clipping the products to 16 bits)."""
    from keras_models import torch_fast_paths

    product = torch_fast_paths._fbgemm_product
    monkeypatch.setattr(
        torch_fast_paths, "_fbgemm_product", lambda *args: product(*args).clamp(max=2**15 - 1)
    )
    torch_fast_paths._fbgemm_exact.cache_clear()
    try:
        assert torch_fast_paths._fbgemm_exact() is False
    finally:
        torch_fast_paths._fbgemm_exact.cache_clear()


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's int8 kernel")
def test_a_loaded_int8_preset_uses_torch_int8_kernels(tmp_path):
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    model.quantize("int8")
    model.save_to_preset(str(tmp_path))
    again = keras_models.OPTForCausalLM.from_preset(str(tmp_path))
    dense = [layer for layer in again._flatten_layers() if isinstance(layer, keras.layers.Dense)]
    assert dense and all("_int8_call" in vars(layer) for layer in dense)


def test_a_quantized_preset_loads_one_float_layer_at_a_time(tmp_path, monkeypatch):
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    model.quantize("int8")
    model.save_to_preset(str(tmp_path))
    variable_class = type(model.variables[0])
    counts = {"float kernels given values": 0, "layers quantized": 0}
    deferred_initialize = variable_class._deferred_initialize
    quantize = keras.layers.Dense.quantize

    def initialize(variable):
        # The tied table's float values are never made (`ReversibleEmbedding.build_int8_unset`).
        assert not (variable.path.endswith("embed_tokens/embeddings") and variable.dtype != "int8")
        if variable.path.endswith("kernel") and variable.dtype == "float32":
            counts["float kernels given values"] += 1
            # Never a second float layer before the previous one is quantized.
            assert counts["float kernels given values"] - counts["layers quantized"] <= 1
        return deferred_initialize(variable)

    def quantized(layer, *args, **kwargs):
        counts["layers quantized"] += 1
        return quantize(layer, *args, **kwargs)

    monkeypatch.setattr(variable_class, "_deferred_initialize", initialize)
    monkeypatch.setattr(keras.layers.Dense, "quantize", quantized)
    again = keras_models.OPTForCausalLM.from_preset(str(tmp_path))
    dense = [layer for layer in again._flatten_layers() if isinstance(layer, keras.layers.Dense)]
    # Every kernel was built without values and given them only when its layer was quantized.
    assert counts["float kernels given values"] == counts["layers quantized"] == len(dense)
    ids = np.array([[2, 11, 40, 7]], "int32")
    np.testing.assert_array_equal(_outputs(again, ids)["logits"], _outputs(model, ids)["logits"])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="what XLA is given, read once")
def test_a_single_int8_row_reaches_xla_as_a_product_it_runs_in_int8():
    """XLA computes a one-row int8 product in 32 bits, from 32-bit copies of the kernel it
    keeps through a decode loop: a `Dense` row goes in as two rows, the head's as a column."""
    import jax

    dense, head = _int8_dense_and_head()
    row = np.ones((1, 1, 16), "float32")
    for call, int8_operands in (
        (dense, [(2, 16), (16, 8)]),
        (lambda x: head(x, reverse=True), [(40, 16), (16, 1)]),
    ):
        products = [
            [tuple(v.aval.shape) for v in eqn.invars]
            for eqn in _equations(jax.make_jaxpr(call)(row).jaxpr)
            if eqn.primitive.name == "dot_general" and eqn.invars[0].aval.dtype == "int8"
        ]
        assert products == [int8_operands]


def _equations(jaxpr):
    """Every equation of `jaxpr`, those of the jaxprs inside it (custom gradients) included."""
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                yield from _equations(inner)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tensorflow's own int8 kernel")
def test_int8_products_run_under_xla_in_a_plain_tensorflow_graph():
    """Outside `jit_compile` (`predict`, `fit`) TensorFlow's own int8 `MatMul` is slower than
    float32; the int8 `Dense` and tied-head products are compiled by XLA there too."""
    import tensorflow as tf

    dense, head = _int8_dense_and_head()
    for call in (dense, lambda x: head(x, reverse=True)):
        graph = tf.function(call).get_concrete_function(tf.TensorSpec((4, 3, 16))).graph
        compiled = [
            op
            for op in graph.get_operations()
            if "_XlaMustCompile" in op.node_def.attr and op.get_attr("_XlaMustCompile")
        ]
        assert len(compiled) == 1
        plain = [op.type for op in graph.get_operations() if "MatMul" in op.type]
        assert not plain  # no product left outside the compiled call


def _int8_dense_and_head():
    """An int8 `Dense(8)` on 16 features (with this library's int8 call) and an int8 tied
    head of 40 rows of 16."""
    dense = keras.layers.Dense(8)
    dense.build((None, 16))
    head = ReversibleEmbedding(40, 16)
    head.build()
    for layer in (dense, head):
        layer.quantize("int8")
    use_int8_kernels(dense)
    return dense, head


def test_int8_models_run_under_xla_on_a_tensorflow_cpu_by_default():
    """`jit_compile="auto"` is Keras' own choice, except that an int8 model on tensorflow
    runs under XLA (Keras leaves XLA off on CPUs), also when it predicted before quantizing."""
    model = keras_models.OPTForCausalLM(tiny_models.backbone("opt"))
    keras_default = keras.Model._resolve_auto_jit_compile(model)
    model.predict_on_batch(np.array([[2, 11, 40, 7]], "int32"))
    assert model.jit_compile == keras_default
    model.quantize("int8")
    expected = True if keras.backend.backend() == "tensorflow" else keras_default
    assert model.jit_compile == expected
    model.compile(jit_compile=False)  # what a user sets stays
    assert model.jit_compile is False

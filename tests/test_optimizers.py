"""keras_models.optimizers.AdamW: the same updates as keras.optimizers.AdamW on every backend
(on torch through the fused kernel)."""

import keras
import numpy as np
import pytest

import keras_models


def _train(optimizer, steps=5):
    rng = np.random.default_rng(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="tanh", kernel_initializer="glorot_uniform"),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(3),
        ]
    )
    weights = [rng.normal(size=w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights(weights)
    model.compile(optimizer=optimizer, loss="mse")
    x = rng.normal(size=(16, 6)).astype("float32")
    y = rng.normal(size=(16, 3)).astype("float32")
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model.get_weights()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(learning_rate=0.05),
        dict(learning_rate=0.01, weight_decay=0.1, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
        dict(learning_rate=0.01, amsgrad=True),
    ],
)
def test_fused_adamw_equals_keras_adamw(kwargs):
    ours = _train(keras_models.optimizers.AdamW(**kwargs))
    reference = _train(keras.optimizers.AdamW(**kwargs))
    start = _train(keras.optimizers.AdamW(**kwargs), steps=0)
    for got, want, before in zip(ours, reference, start):
        assert np.abs(want - before).max() > 1e-3  # the weights did move
        # Float32 rounding differs with the order of the fused arithmetic.
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_fused_adamw_respects_exclusions_and_round_trips():
    optimizer = keras_models.optimizers.AdamW(0.05, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    reference = keras.optimizers.AdamW(0.05, weight_decay=0.5)
    reference.exclude_from_weight_decay(var_names=["bias"])
    for got, want in zip(_train(optimizer), _train(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is keras_models.optimizers.AdamW
    assert restored.get_config()["weight_decay"] == 0.5


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the fused kernel is torch's")
def test_torch_runs_the_fused_kernel(monkeypatch):
    import torch

    calls = []
    fused = torch._fused_adam_
    monkeypatch.setattr(torch, "_fused_adam_", lambda *a, **k: calls.append(1) or fused(*a, **k))
    _train(keras_models.optimizers.AdamW(0.01), steps=3)
    assert len(calls) == 3
    _train(keras_models.optimizers.AdamW(0.01, amsgrad=True), steps=1)  # Keras' own path
    assert len(calls) == 3


class UnfusedAdamW(keras.optimizers.AdamW):
    """Keras' AdamW under another class, which `compile` leaves alone."""


def test_compile_with_keras_adamw_gets_the_fused_update():
    from tests.tiny_models import backbone, inputs, labels, task

    # A sequence classifier: every weight gets a real gradient (a QA span bias gets none, since
    # softmax over positions ignores a constant, and its update would be rounding noise).
    family = "megatron_bert"
    x = inputs(family, [[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]])
    y = labels(family, x)
    results = {}
    # Elsewhere than torch `compile` keeps Keras' class, so there is nothing to train and compare.
    torch = keras.backend.backend() == "torch"
    for kind in ("string", "instance", "unfused"):
        keras.utils.set_random_seed(0)
        no_dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        model = task(family, backbone(family, **no_dropout))
        optimizer = {
            "string": "adamw",
            "instance": keras.optimizers.AdamW(learning_rate=0.001),
            "unfused": UnfusedAdamW(learning_rate=0.001),
        }[kind]
        model.compile(optimizer=optimizer)
        if kind == "instance":
            assert model.optimizer is optimizer  # the user's object, settings kept
        fused = type(model.optimizer) is keras_models.optimizers.AdamW
        assert fused == (kind != "unfused" and torch)
        if not torch:
            continue
        for _ in range(3):
            model.train_on_batch(x, y)
        results[kind] = model.get_weights()
    for name in results.keys() - {"unfused"}:
        for got, want in zip(results[name], results["unfused"]):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

"""`predict` / `predict_on_batch` compute what an eager call computes, for every family.

On torch they replay a `torch.jit.trace` of the graph (`keras_models/models/torch_inference.py`):
these tests catch a trace that froze a value it should read anew (ids, masks, weights) or a
signature mix-up. On JAX and TensorFlow they check Keras' own predict path the same way.
"""

import keras
import numpy as np
import pytest

import keras_models
from tests.families import FAMILIES
from tests.tiny_models import backbone, inputs, task


def _np(nest):
    return {k: np.asarray(keras.ops.convert_to_numpy(v), "float32") for k, v in nest.items()}


def _assert_same(predicted, eager):
    assert sorted(predicted) == sorted(eager)
    for name in eager:
        np.testing.assert_allclose(predicted[name], eager[name], atol=1e-5, err_msg=name)


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
    from keras_models.models import torch_inference

    model = backbone("roberta")
    for length in range(3, 3 + torch_inference.MAX_TRACES + 2):
        model.predict_on_batch(_batch("roberta", 0, length=length))
    assert len(torch_inference._TRACES[model]) == torch_inference.MAX_TRACES
    model.predict_on_batch(_batch("roberta", 1, length=4 + torch_inference.MAX_TRACES))
    assert len(torch_inference._TRACES[model]) == torch_inference.MAX_TRACES

"""mixed_bfloat16 and mixed_float16: close to float32 at inference, finite over 50 fit steps."""

import keras
import numpy as np
import pytest

import keras_models
from tests.test_core_inputs import small_backbone, to_np


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_inference_and_training(policy):
    reference = keras_models.RobertaForQuestionAnswering(small_backbone(add_pooling_layer=False))
    model = keras_models.RobertaForQuestionAnswering(
        small_backbone(add_pooling_layer=False, dtype=policy)
    )
    model.set_weights(reference.get_weights())
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 50, size=(16, 8)).astype("int32")
    ours = to_np(model(ids)["start_logits"]).astype("float32")
    np.testing.assert_allclose(ours, to_np(reference(ids)["start_logits"]), atol=5e-2)
    assert model.backbone.encoder_layers[0].attention.query_dense.kernel.dtype == "float32"
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    starts = np.full(16, 2, "int32")
    history = model.fit(ids, (starts, starts + 1), epochs=50, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]

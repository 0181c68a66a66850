"""torch training steps (`keras_models.torch_fast_paths.lean_training_step`): float32 products
on oneDNN with the gradients torch's own give, and table gradients written into the previous
step's buffer."""

import contextlib

import keras
import numpy as np
import pytest

from keras_models import torch_fast_paths
from tests.tiny_models import backbone, inputs, labels, task

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="the scope exists on the torch backend only"
)


def test_products_and_their_gradients_match_torch_matmul():
    import torch

    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(2, 5, 6)), dtype=torch.float32, requires_grad=True)
    kernel = torch.tensor(rng.normal(size=(6, 4)), dtype=torch.float32, requires_grad=True)
    upstream = torch.tensor(rng.normal(size=(2, 5, 4)), dtype=torch.float32)
    want = torch.matmul(x, kernel)
    want_grads = torch.autograd.grad(want, (x, kernel), upstream)
    with torch_fast_paths.lean_training_step():
        got = torch.matmul(x, kernel)
        # Not caught: 16-bit operands, and batched (3-D) kernels such as attention's.
        half = torch.matmul(x.bfloat16(), kernel.bfloat16())
        batched = torch.matmul(x, x.transpose(1, 2))
    assert "OnednnProduct" in type(got.grad_fn).__name__
    assert "OnednnProduct" not in type(half.grad_fn).__name__
    assert "OnednnProduct" not in type(batched.grad_fn).__name__
    got_grads = torch.autograd.grad(got, (x, kernel), upstream)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5)
    # Only the gradients asked for are computed.
    frozen = kernel.detach()
    with torch_fast_paths.lean_training_step():
        (grad_x,) = torch.autograd.grad(torch.matmul(x, frozen), (x,), upstream)
    np.testing.assert_allclose(grad_x.numpy(), want_grads[0].numpy(), rtol=1e-5, atol=1e-5)


def test_train_steps_run_in_the_scope_with_torch_own_results(monkeypatch):
    family = "roberta"
    x = inputs(family, [[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]])
    y = labels(family, x)
    entered = []

    def counted():
        entered.append(1)
        return scope()

    scope = torch_fast_paths.lean_training_step
    results = {}
    for name, replacement in (("onednn", counted), ("torch", contextlib.nullcontext)):
        monkeypatch.setattr(torch_fast_paths, "lean_training_step", replacement)
        keras.utils.set_random_seed(0)
        no_dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        model = task(family, backbone(family, **no_dropout))
        # SGD: the weights move by the gradients themselves (Adam's first steps move a weight
        # whose gradient is rounding noise by a full learning rate, either way).
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
        results[name] = (losses, model.get_weights())
    assert len(entered) == 3  # one scope per step
    np.testing.assert_allclose(results["onednn"][0], results["torch"][0], rtol=1e-5)
    for got, want in zip(results["onednn"][1], results["torch"][1]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_table_gradients_are_written_into_the_previous_step_buffer():
    family = "roberta"
    x = inputs(family, [[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]])
    y = labels(family, x)
    model = task(family, backbone(family))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    table = model.backbone.token_embedding.embeddings.value
    model.train_on_batch(x, y)
    # Its memory, kept alive (a reference to the tensor itself would make autograd copy it):
    # a new buffer could not be placed there.
    memory = table.grad.untyped_storage()
    model.train_on_batch(x, y)
    # The same buffer, now holding this step's gradient (its values: the test above).
    assert table.grad.untyped_storage().data_ptr() == memory.data_ptr()

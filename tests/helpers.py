"""Test helpers: tiny seeded transformers checkpoints and output comparison."""

import keras
import numpy as np

ATOL = 1e-5


def save_hf(model_cls, config, directory, seed=0):
    """Builds a seeded transformers model, randomises every parameter (so zero-initialised
    biases and LayerNorms are exercised too) and saves it with `save_pretrained`."""
    import torch

    torch.manual_seed(seed)
    model = model_cls(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "embed_positions" in name:
                continue
            param.add_(torch.randn_like(param) * 0.05)
    model.save_pretrained(directory)
    return model


def torch_inputs(inputs):
    import torch

    return {k: torch.tensor(np.asarray(v)) for k, v in inputs.items()}


def hf_outputs(model, inputs, **labels):
    import torch

    with torch.no_grad():
        out = model(**torch_inputs(inputs), **{k: torch.tensor(v) for k, v in labels.items()})
    return out


def np_out(value):
    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)


def assert_close(ours, theirs, mask=None, atol=ATOL):
    """Compares `[batch, seq, ...]` outputs on positions where `mask` is 1 (all if None)."""
    ours = np.asarray(keras.ops.convert_to_numpy(ours), dtype="float64")
    theirs = np_out(theirs).astype("float64")
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if mask is not None:
        keep = np.asarray(mask).astype(bool)
        ours, theirs = ours[keep], theirs[keep]
    diff = np.max(np.abs(ours - theirs)) if ours.size else 0.0
    assert diff <= atol, f"max abs diff {diff} > {atol}"


def random_ids(rng, shape, low, high, avoid=()):
    ids = rng.integers(low, high, size=shape)
    for value in avoid:
        ids[ids == value] = (value + 1) % high if (value + 1) % high not in avoid else low
    return ids.astype("int32")

"""Hugging Face activation names as Keras activations."""

import keras


@keras.saving.register_keras_serializable(package="keras_models")
def gelu_approximate(x):
    """The tanh approximation of GELU (HF `gelu_new`, `gelu_pytorch_tanh`)."""
    return keras.activations.gelu(x, approximate=True)


_HF_ACTIVATIONS = {
    "gelu": "gelu",  # Keras' default GELU is the exact erf form, as HF's "gelu".
    "relu": "relu",
    "tanh": "tanh",
    "silu": "silu",
    "swish": "silu",
    "sigmoid": "sigmoid",
    "linear": "linear",
    "gelu_new": gelu_approximate,
    "gelu_pytorch_tanh": gelu_approximate,
    "gelu_fast": gelu_approximate,
}


def get_activation(name):
    """Returns the Keras activation for a Hugging Face `hidden_act` name.

    Args:
        name: a Hugging Face activation name such as `"gelu"` or `"relu"`, or a callable.

    Examples:
    >>> get_activation("gelu")
    'gelu'
    """
    if callable(name):
        return name
    if name not in _HF_ACTIVATIONS:
        raise ValueError(f"Unsupported activation {name!r}; accepted: {sorted(_HF_ACTIVATIONS)}.")
    return _HF_ACTIVATIONS[name]

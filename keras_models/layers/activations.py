"""Hugging Face activation names as Keras activations."""

import keras


@keras.saving.register_keras_serializable(package="keras_models")
def gelu_approximate(x):
    """The tanh approximation of GELU (HF `gelu_new`, `gelu_pytorch_tanh`)."""
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="keras_models")
def quick_gelu(x):
    """HF `quick_gelu`: `x * sigmoid(1.702 x)`."""
    return keras.ops.multiply(x, keras.ops.sigmoid(keras.ops.multiply(1.702, x)))


@keras.saving.register_keras_serializable(package="keras_models")
def gelu_10(x):
    """HF `gelu_10`: the exact GELU clipped to [-10, 10]."""
    return keras.ops.clip(keras.activations.gelu(x, approximate=False), -10.0, 10.0)


@keras.saving.register_keras_serializable(package="keras_models")
def relu_squared(x):
    """HF `relu2`: `relu(x) ** 2`."""
    return keras.ops.square(keras.ops.relu(x))


@keras.saving.register_keras_serializable(package="keras_models")
def leaky_relu(x):
    """HF `leaky_relu`: torch's default slope of 0.01."""
    return keras.ops.leaky_relu(x, negative_slope=0.01)


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
    "gelu_accurate": gelu_approximate,
    "gelu_python": "gelu",
    "gelu_10": gelu_10,
    "quick_gelu": quick_gelu,
    "relu2": relu_squared,
    "relu6": "relu6",
    "leaky_relu": leaky_relu,
    "mish": "mish",
}


def get_activation(name, field="activation"):
    """Returns the Keras activation for a Hugging Face `hidden_act` name.

    Args:
        name: a Hugging Face activation name such as `"gelu"` or `"relu"`, or a callable.
        field: what `name` was given as, for the error message (`"hidden_act"`, ...).

    Examples:
    >>> get_activation("gelu")
    'gelu'
    """
    if callable(name):
        return name
    if name not in _HF_ACTIVATIONS:
        raise ValueError(f"Unsupported `{field}` {name!r}; accepted: {sorted(_HF_ACTIVATIONS)}.")
    return _HF_ACTIVATIONS[name]

"""Megatron-style sharding plans for `keras.distribution.ModelParallel`.

Every family is built from the shared layers, so one set of path rules covers them: attention
query/key/value and the first feed-forward kernel are split by columns (output features), the
attention output and second feed-forward kernel by rows (input features), so each pair needs a
single all-reduce. Embedding tables are split along the hidden axis. Everything else (biases of
row-split layers, LayerNorms, small heads) is replicated.
"""

import keras

# (regex fully matching variable.path, layout with "model" standing for the model-parallel axis)
_RULES = (
    (r"(.*/)?(word_embeddings|embed_tokens|shared|token_embedding)/embeddings", (None, "model")),
    (r"(.*/)?(query|key|value)/kernel", (None, "model")),
    (r"(.*/)?(query|key|value)/bias", ("model",)),
    (r"(.*/)?(attention|self_attn|encoder_attn)/output/kernel", ("model", None)),
    (r"(.*/)?(intermediate_dense|fc1)/kernel", (None, "model")),
    (r"(.*/)?(intermediate_dense|fc1)/bias", ("model",)),
    (r"(.*/)?(output_dense|fc2)/kernel", ("model", None)),
)


def transformer_layout_map(
    device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"
):
    """A `keras.distribution.LayoutMap` sharding the shared transformer layers.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh`.
        model_parallel_dim_name: the mesh axis that splits weights.
        data_parallel_dim_name: the mesh axis that splits batches (weights are replicated on it).
    """
    if model_parallel_dim_name not in device_mesh.axis_names:
        raise ValueError(
            f"`model_parallel_dim_name` {model_parallel_dim_name!r} is not an axis of the mesh "
            f"{device_mesh.axis_names}."
        )
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, layout in _RULES:
        layout_map[pattern] = tuple(
            model_parallel_dim_name if axis == "model" else axis for axis in layout
        )
    return layout_map

"""Multi-head attention on `keras.ops.dot_product_attention`."""

import keras
from keras import ops

from keras_models import torch_fast_paths
from keras_models.layers.cache_update import write_along
from keras_models.layers.dropout import Dropout


def _swap_positions_and_heads(x):
    """`[batch, len, heads, head_dim]` <-> `[batch, heads, len, head_dim]`.

    Caches are kept heads-first; `ops.dot_product_attention` takes positions first. On torch
    the swap is a view that the backend turns back into the contiguous heads-first tensor for
    its kernel without a copy; XLA folds it into the attention products."""
    return ops.transpose(x, (0, 2, 1, 3))


@keras.saving.register_keras_serializable(package="keras_models")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention with separate query, key, value and output projections.

    The projections are plain `Dense` layers (kernel `[in, heads * head_dim]`), so a Hugging Face
    `nn.Linear` maps onto them with a transpose. Scores go through
    `keras.ops.dot_product_attention`, which lets every backend use its fused kernel.

    Args:
        num_heads: number of attention heads.
        head_dim: size of each head.
        output_dim: width of the output projection; defaults to `num_heads * head_dim`.
        use_bias: whether the four projections have biases.
        dropout: dropout rate on the attention probabilities (training only).
        rotary_embedding: optional `RotaryEmbedding` applied to queries and keys of
            self-attention (and to values when `rotary_value` is True).
        rotary_value: rotate the values too (RoFormer's `rotary_value`).
        kernel_initializer: initializer of the projection kernels.

    Call arguments:
        inputs: the query sequence `[batch, q_len, dim]`.
        context: the key/value sequence for cross-attention; defaults to `inputs`.
        attention_mask: boolean or 0/1 mask broadcastable to `[batch, q_len, kv_len]`;
            1 means the key is visible.
        cache: optional key/value cache, a pair `(keys, values)` of `[batch, num_heads, max_len,
            head_dim]` tensors. When given, the current keys and values are written at
            `cache_index` (in place on torch, see `write_along`) and attention runs over the
            whole cache; the mask must then cover `max_len` keys. Heads come before positions,
            and keys and values are separate tensors, so that the attention products read the
            cache as it lies, without transposing or slicing it at every step.
        cache_index: position of the first current token inside the cache.
        position_offset: absolute position of the first query, for rotary embeddings.
        key_value: optional precomputed `(keys, values)`, each `[batch, num_heads, kv_len,
            head_dim]` (from `compute_key_value`), e.g. a cross-attention cache of encoder states
            computed once before decoding; `context` is then not projected.
        head_mask: optional `[num_heads]` (or `[batch, num_heads]`) factors multiplying each
            head's attention probabilities (transformers 4.x's `head_mask`).
        return_attention_scores: also return the attention probabilities
            `[batch, heads, q_len, kv_len]`.

    Both `head_mask` and `return_attention_scores` take the explicit softmax path; without
    them attention runs on the backend's fused kernel.

    Returns:
        The attention output, or `(output, cache)` when a cache was passed; with
        `return_attention_scores`, the probabilities are appended (`(output, probs)` or
        `(output, cache, probs)`).

    Examples:
    >>> import numpy as np
    >>> layer = MultiHeadAttention(num_heads=2, head_dim=4)
    >>> layer(np.ones((1, 3, 8), "float32")).shape
    (1, 3, 8)
    """

    def __init__(
        self,
        num_heads,
        head_dim,
        output_dim=None,
        use_bias=True,
        dropout=0.0,
        rotary_embedding=None,
        rotary_value=False,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.output_dim = output_dim
        self.use_bias = use_bias
        self.dropout = dropout
        self.rotary_value = rotary_value
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.rotary_embedding = rotary_embedding
        inner = num_heads * head_dim

        def dense(units, name):
            return keras.layers.Dense(
                units,
                use_bias=use_bias,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        self.query_dense = dense(inner, "query")
        self.key_dense = dense(inner, "key")
        self.value_dense = dense(inner, "value")
        self.output_dense = dense(output_dim or inner, "output")
        self.dropout_layer = Dropout(dropout, dtype=self.dtype_policy)

    def build(self, inputs_shape, context_shape=None):
        context_shape = context_shape or inputs_shape
        self.query_dense.build(inputs_shape)
        self.key_dense.build(context_shape)
        self.value_dense.build(context_shape)
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.num_heads * self.head_dim,))
        self.built = True

    def compute_key_value(self, context):
        """Projected keys and values of `context`: a pair of `[batch, heads, len, head_dim]`."""
        key = self._split_heads(self.key_dense(context))
        value = self._split_heads(self.value_dense(context))
        return _swap_positions_and_heads(key), _swap_positions_and_heads(value)

    def _split_heads(self, x):
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], shape[1], self.num_heads, self.head_dim))

    def call(
        self,
        inputs,
        context=None,
        attention_mask=None,
        cache=None,
        cache_index=0,
        position_offset=0,
        key_value=None,
        head_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        for name, pair in (("cache", cache), ("key_value", key_value)):
            if pair is not None and (not isinstance(pair, (tuple, list)) or len(pair) != 2):
                raise ValueError(
                    f"MultiHeadAttention: `{name}` must be a pair (keys, values) of "
                    f"[batch, {self.num_heads}, length, {self.head_dim}] tensors (see "
                    f"TransformerDecoderBlock.init_cache); got {type(pair).__name__}"
                    f"{'' if not hasattr(pair, 'shape') else f' of shape {tuple(pair.shape)}'}."
                )
        query = self._split_heads(self.query_dense(inputs))
        if key_value is not None:
            key, value = (_swap_positions_and_heads(x) for x in key_value)
            output, probs = self._attend(
                query, key, value, attention_mask, training, head_mask, return_attention_scores
            )
            output = self._merge_heads(output)
            return (output, probs) if return_attention_scores else output
        self_attention = context is None
        context = inputs if context is None else context
        key = self._split_heads(self.key_dense(context))
        value = self._split_heads(self.value_dense(context))
        if self.rotary_embedding is not None and self_attention:
            query = self.rotary_embedding(query, start_index=position_offset)
            key = self.rotary_embedding(key, start_index=position_offset)
            if self.rotary_value:
                value = self.rotary_embedding(value, start_index=position_offset)
        if cache is not None:
            # Writes in place, so a decode step costs its own keys and values, not the cache's.
            cache = tuple(
                write_along(past, 2, cache_index, _swap_positions_and_heads(current))
                for past, current in zip(cache, (key, value))
            )
            key, value = (_swap_positions_and_heads(x) for x in cache)
        explicit = return_attention_scores or head_mask is not None
        if cache is not None and not explicit and keras.backend.backend() == "torch":
            # Only the slots written so far; the rest are masked out. (The scores returned
            # with `return_attention_scores` keep every slot, as the other backends give.)
            key, value, attention_mask = torch_fast_paths.written_slots(
                cache_index + ops.shape(inputs)[1], key, value, attention_mask
            )
        output, probs = self._attend(
            query, key, value, attention_mask, training, head_mask, explicit
        )
        output = self._merge_heads(output)
        result = (output,) if cache is None else (output, cache)
        if return_attention_scores:
            result += (probs,)
        return result[0] if len(result) == 1 else result

    def _merge_heads(self, output):
        shape = ops.shape(output)
        output = ops.reshape(output, (shape[0], shape[1], self.num_heads * self.head_dim))
        return self.output_dense(output)

    def _attend(self, query, key, value, attention_mask, training, head_mask=None, explicit=False):
        """`(output, probs)`; `probs` is None on the fused path."""
        mask = None
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "bool")
            while len(mask.shape) < 3:
                mask = ops.expand_dims(mask, 1)
            mask = ops.expand_dims(mask, 1)  # [batch, 1 (heads), q_len, kv_len]
        scale = 1.0 / float(self.head_dim) ** 0.5
        # The fused kernels have no dropout on the probabilities, and XLA on CPU cannot
        # compile JAX's fused float16 attention; spell those cases out.
        explicit = (
            explicit
            or head_mask is not None
            or (training and self.dropout > 0)
            or (
                keras.backend.backend() == "jax"
                and keras.backend.standardize_dtype(query.dtype) == "float16"
            )
        )
        probs = None
        if explicit:
            scores = ops.cast(ops.einsum("bqhd,bkhd->bhqk", query, key), "float32") * scale
            if mask is not None:
                scores = ops.where(mask, scores, -1e9)
            probs = ops.cast(ops.softmax(scores, axis=-1), query.dtype)
            probs = self.dropout_layer(probs, training=training)
            if head_mask is not None:
                head_mask = ops.cast(head_mask, probs.dtype)
                if len(head_mask.shape) == 1:
                    head_mask = ops.expand_dims(head_mask, 0)
                probs = probs * head_mask[:, :, None, None]
            output = ops.einsum("bhqk,bkhd->bqhd", probs, value)
        elif keras.backend.backend() == "torch":
            output = torch_fast_paths.dot_product_attention(query, key, value, mask, scale)
        else:
            output = ops.dot_product_attention(query, key, value, mask=mask, scale=scale)
        if mask is None:
            return output, probs
        # A query that sees no key at all (a left-padding row of a causal model) gets a zero
        # output, as torch's fused attention gives; the backends' kernels would otherwise
        # differ (uniform average vs zero). Other rows are unaffected.
        visible = ops.any(mask, axis=-1)  # [batch, 1, q_len]
        visible = ops.expand_dims(ops.transpose(visible, (0, 2, 1)), -1)  # [batch, q_len, 1, 1]
        return output * ops.cast(visible, output.dtype), probs

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            output_dim=self.output_dim,
            use_bias=self.use_bias,
            dropout=self.dropout,
            rotary_embedding=(
                None
                if self.rotary_embedding is None
                else keras.saving.serialize_keras_object(self.rotary_embedding)
            ),
            rotary_value=self.rotary_value,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("rotary_embedding") is not None:
            config["rotary_embedding"] = keras.saving.deserialize_keras_object(
                config["rotary_embedding"]
            )
        return cls(**config)

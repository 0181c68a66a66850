"""Transformer encoder block, post-LN (BERT) or pre-LN (Megatron) placement, with the optional
cross-attention and key/value cache of the BERT-style decoders."""

import keras
from keras import ops

from keras_models.layers.activations import get_activation
from keras_models.layers.attention import MultiHeadAttention
from keras_models.layers.dropout import Dropout
from keras_models.layers.precision import full_precision


@keras.saving.register_keras_serializable(package="keras_models")
class TransformerEncoderBlock(keras.layers.Layer):
    """Self-attention plus feed-forward, with residuals and LayerNorms.

    Post-LN (`normalize_first=False`, BERT, RoBERTa, RoCBert, RoFormer):
    `x = LN(x + attn(x)); x = LN(x + ffn(x))`.
    Pre-LN (`normalize_first=True`, MegatronBERT): `x = x + attn(LN(x)); x = x + ffn(LN(x))`.

    With `use_cross_attention` (transformers' `crossattention` of a BERT-style decoder) a
    cross-attention sub-layer over `encoder_hidden_states` sits between the self-attention and
    the feed-forward, with its own output projection and LayerNorm, placed as the
    self-attention's: `x = LN_c(x + cross(x, enc))` (post-LN) or `x = x + cross(LN_c(x), enc)`
    (pre-LN). It has no rotary embedding (RoFormer rotates self-attention only).

    Args:
        hidden_size: model width.
        num_attention_heads: number of heads; `hidden_size` must divide evenly.
        intermediate_size: width of the feed-forward layer.
        hidden_act: feed-forward activation name (`"gelu"` is the exact erf GELU).
        layer_norm_eps: LayerNorm epsilon.
        hidden_dropout_prob: dropout after the attention output and the feed-forward output.
        attention_probs_dropout_prob: dropout on the attention probabilities.
        normalize_first: pre-LN when True, post-LN when False.
        rotary_embedding: optional rotary layer for the self-attention.
        rotary_value: whether the rotary layer also rotates values.
        kernel_initializer: initializer of every kernel.
        use_cross_attention: add the cross-attention sub-layer.
        clamp_float16: in float16, clip the block's output to the float16 range less 1000
            (transformers' Pegasus/Bart encoder layers do this to keep overflow from turning
            into inf).

    Call arguments:
        inputs: `[batch, seq, hidden_size]`.
        attention_mask: mask broadcastable to `[batch, seq, seq]`, 1 = visible key.
        head_mask: optional `[num_heads]` factors on each head's attention probabilities (of
            the cross-attention too, as transformers 4.x's BERT layers applied it).
        return_attention_scores: also return the attention probabilities
            `[batch, heads, seq, seq]`, as `(output, probs)`.
        encoder_hidden_states: `[batch, src_len, hidden_size]` states the cross-attention
            reads (only with `use_cross_attention`); without them the sub-layer is skipped, as
            in transformers.
        encoder_attention_mask: optional `[batch, src_len]` 0/1 mask of those states.
        cache: optional self-attention key/value cache, a pair of `[batch, heads, max_len,
            head_dim]` tensors (see `MultiHeadAttention`); `attention_mask` then covers the
            `max_len` keys.
        cache_index: cache slot (and rotary position) of the first current token.
        cross_key_value: optional precomputed cross-attention keys and values (from
            `compute_cross_attention_cache`), used in place of `encoder_hidden_states`.

    Returns:
        The output; with a cache and/or `return_attention_scores`, the tuple `(output,
        [cache], [probs], [cross_probs])` (the cache when one was given, the probabilities
        when asked for, the cross-attention ones when the cross-attention ran).

    Examples:
    >>> import numpy as np
    >>> block = TransformerEncoderBlock(8, 2, 16)
    >>> block(np.ones((2, 5, 8), "float32")).shape
    (2, 5, 8)
    """

    def __init__(
        self,
        hidden_size,
        num_attention_heads,
        intermediate_size,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        normalize_first=False,
        rotary_embedding=None,
        rotary_value=False,
        kernel_initializer="glorot_uniform",
        clamp_float16=False,
        use_cross_attention=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"`hidden_size` ({hidden_size}) must be a multiple of `num_attention_heads` "
                f"({num_attention_heads})."
            )
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.normalize_first = normalize_first
        self.rotary_value = rotary_value
        self.clamp_float16 = clamp_float16
        self.use_cross_attention = use_cross_attention
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        policy = self.dtype_policy
        full = full_precision(policy)  # LayerNorms, dropout and residual sums
        self.attention = MultiHeadAttention(
            num_attention_heads,
            hidden_size // num_attention_heads,
            output_dim=hidden_size,
            dropout=attention_probs_dropout_prob,
            rotary_embedding=rotary_embedding,
            rotary_value=rotary_value,
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="attention",
        )
        self.attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, dtype=full, name="attention_layer_norm"
        )
        self.cross_attention = self.cross_attention_layer_norm = None
        if use_cross_attention:
            self.cross_attention = MultiHeadAttention(
                num_attention_heads,
                hidden_size // num_attention_heads,
                output_dim=hidden_size,
                dropout=attention_probs_dropout_prob,
                kernel_initializer=self.kernel_initializer,
                dtype=policy,
                name="cross_attention",
            )
            self.cross_attention_layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_eps, dtype=full, name="cross_attention_layer_norm"
            )
        self.intermediate_dense = keras.layers.Dense(
            intermediate_size,
            activation=get_activation(hidden_act, field="hidden_act"),
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="intermediate_dense",
        )
        self.output_dense = keras.layers.Dense(
            hidden_size,
            kernel_initializer=self.kernel_initializer,
            dtype=policy,
            name="output_dense",
        )
        self.output_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, dtype=full, name="output_layer_norm"
        )
        self.dropout = Dropout(hidden_dropout_prob, dtype=full)

    @property
    def input_dtype(self):
        # The residual stream comes in and stays in full precision under a mixed policy
        # (see `keras_models.layers.precision`).
        return self.variable_dtype

    def build(self, inputs_shape, *args, **kwargs):
        self.attention.build(inputs_shape)
        self.attention_layer_norm.build(inputs_shape)
        if self.use_cross_attention:
            # The encoder states have the model's width (transformers refuses any other).
            self.cross_attention.build(inputs_shape)
            self.cross_attention_layer_norm.build(inputs_shape)
        self.output_layer_norm.build(inputs_shape)
        self.intermediate_dense.build(inputs_shape)
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_size,))
        self.built = True

    def call(
        self,
        inputs,
        attention_mask=None,
        head_mask=None,
        return_attention_scores=False,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        cache=None,
        cache_index=0,
        cross_key_value=None,
        training=None,
    ):
        extras = []  # (cache), (probs), (cross probs), in the documented order

        def self_attention(x):
            out = self.attention(
                x,
                attention_mask=attention_mask,
                cache=cache,
                cache_index=cache_index,
                position_offset=cache_index,
                head_mask=head_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
            if not isinstance(out, (tuple, list)):
                return out
            extras.extend(out[1:])
            return out[0]

        x = self._sublayer(inputs, self.attention_layer_norm, self_attention, training)
        cross = encoder_hidden_states is not None or cross_key_value is not None
        if cross and not self.use_cross_attention:
            raise ValueError(
                f"{self.name}: `encoder_hidden_states` need a block built with "
                "`use_cross_attention=True`."
            )
        if cross:
            cross_mask = None
            if encoder_attention_mask is not None:
                cross_mask = ops.expand_dims(ops.cast(encoder_attention_mask, "bool"), 1)

            def cross_attention(x):
                out = self.cross_attention(
                    x,
                    context=encoder_hidden_states,
                    attention_mask=cross_mask,
                    key_value=cross_key_value,
                    head_mask=head_mask,
                    return_attention_scores=return_attention_scores,
                    training=training,
                )
                if not return_attention_scores:
                    return out
                extras.append(out[1])
                return out[0]

            x = self._sublayer(x, self.cross_attention_layer_norm, cross_attention, training)
        if self.normalize_first:
            h = self.output_dense(self.intermediate_dense(self.output_layer_norm(x)))
            x = self._clamp(x + self.dropout(h, training=training))
        else:
            h = self.output_dense(self.intermediate_dense(x))
            x = self._clamp(self.output_layer_norm(x + self.dropout(h, training=training)))
        return (x, *extras) if extras else x

    def _sublayer(self, x, layer_norm, attention, training):
        """An attention sub-layer with its residual, pre-LN or post-LN."""
        if self.normalize_first:
            return x + self.dropout(attention(layer_norm(x)), training=training)
        return layer_norm(x + self.dropout(attention(x), training=training))

    def compute_cross_attention_cache(self, encoder_hidden_states):
        """Cross-attention keys and values of `encoder_hidden_states`, `[batch, heads, src_len,
        head_dim]` each, computed once before decoding."""
        if not self.use_cross_attention:
            raise ValueError(f"{self.name} was built without cross-attention.")
        return self.cross_attention.compute_key_value(encoder_hidden_states)

    def init_cache(self, batch_size, max_length, dtype=None):
        """An all-zero self-attention cache: keys and values, `[batch, heads, max_length,
        head_dim]` each."""
        head_dim = self.hidden_size // self.num_attention_heads
        shape = (batch_size, self.num_attention_heads, max_length, head_dim)
        return tuple(ops.zeros(shape, dtype=dtype or self.compute_dtype) for _ in range(2))

    def _clamp(self, x):
        if not self.clamp_float16 or keras.backend.standardize_dtype(x.dtype) != "float16":
            return x
        limit = 65504.0 - 1000.0  # float16 max less 1000, as transformers
        return ops.clip(x, -limit, limit)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            normalize_first=self.normalize_first,
            rotary_embedding=(
                None
                if self.attention.rotary_embedding is None
                else keras.saving.serialize_keras_object(self.attention.rotary_embedding)
            ),
            rotary_value=self.rotary_value,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            clamp_float16=self.clamp_float16,
            use_cross_attention=self.use_cross_attention,
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

"""Transformer encoder block, post-LN (BERT) or pre-LN (Megatron) placement."""

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
        clamp_float16: in float16, clip the block's output to the float16 range less 1000
            (transformers' Pegasus/Bart encoder layers do this to keep overflow from turning
            into inf).

    Call arguments:
        inputs: `[batch, seq, hidden_size]`.
        attention_mask: mask broadcastable to `[batch, seq, seq]`, 1 = visible key.
        head_mask: optional `[num_heads]` factors on each head's attention probabilities.
        return_attention_scores: also return the attention probabilities
            `[batch, heads, seq, seq]`, as `(output, probs)`.

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

    def build(self, inputs_shape):
        self.attention.build(inputs_shape)
        self.attention_layer_norm.build(inputs_shape)
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
        training=None,
    ):
        x = inputs
        attention_input = self.attention_layer_norm(x) if self.normalize_first else x
        h = self.attention(
            attention_input,
            attention_mask=attention_mask,
            head_mask=head_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            h, probs = h
        if self.normalize_first:
            x = x + self.dropout(h, training=training)
            h = self.output_dense(self.intermediate_dense(self.output_layer_norm(x)))
            x = self._clamp(x + self.dropout(h, training=training))
        else:
            x = self.attention_layer_norm(x + self.dropout(h, training=training))
            h = self.output_dense(self.intermediate_dense(x))
            x = self._clamp(self.output_layer_norm(x + self.dropout(h, training=training)))
        return (x, probs) if return_attention_scores else x

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

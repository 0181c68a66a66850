"""Transformer decoder block: causal self-attention with a key/value cache, optional
cross-attention over encoder states, and a feed-forward layer; pre-LN or post-LN."""

import keras
from keras import ops

from keras_models.layers.activations import get_activation
from keras_models.layers.attention import MultiHeadAttention
from keras_models.layers.cache_update import write_along
from keras_models.layers.dropout import Dropout
from keras_models.layers.position_ids import position_range
from keras_models.layers.precision import full_precision


def causal_attention_mask(query_length, key_length, query_offset=0, padding_mask=None):
    """A boolean `[batch or 1, query_length, key_length]` mask: query `i` (absolute position
    `query_offset + i`) sees key `j` when `j <= query_offset + i` and `padding_mask[j]` is 1.

    Args:
        query_length: number of queries.
        key_length: number of keys (the cache length when decoding with a cache).
        query_offset: absolute position of the first query (the cache index).
        padding_mask: optional `[batch, key_length]` 0/1 mask of visible keys.

    Examples:
    >>> causal_attention_mask(2, 3, query_offset=1).shape
    (1, 2, 3)
    """
    rows = ops.expand_dims(position_range(query_length) + query_offset, 1)
    cols = ops.expand_dims(position_range(key_length), 0)
    mask = ops.expand_dims(ops.greater_equal(rows, cols), 0)
    if padding_mask is not None:
        mask = ops.logical_and(mask, ops.expand_dims(ops.cast(padding_mask, "bool"), 1))
    return mask


def call_cache(blocks, batch_size, new_length, past=None):
    """Self-attention caches for a call that runs `new_length` tokens after the `past` ones.

    Args:
        blocks: the `TransformerDecoderBlock`s.
        batch_size: the batch size.
        new_length: how many tokens the call runs.
        past: None, or per block a tuple whose first two entries are the keys and values of
            the earlier tokens, `[batch, heads, past_length, head_dim]` (a `past_key_values`
            that a call with `use_cache=True` returned).

    Returns:
        `(caches, past_length)`: per block keys and values `[batch, heads, past_length +
        new_length, head_dim]` with the past written first, and the slot of the first new token.
    """
    past_length = 0 if past is None else int(past[0][0].shape[2])
    if past is not None and len(past) != len(blocks):
        raise ValueError(
            f"`past_key_values` holds {len(past)} layers; this model has {len(blocks)}."
        )
    caches = []
    for i, block in enumerate(blocks):
        layer = block.init_cache(batch_size, past_length + new_length)
        if past is not None:
            expected = (batch_size, block.num_attention_heads, past_length, block.head_dim)
            for tensor in past[i][:2]:
                if tuple(tensor.shape) != expected:
                    raise ValueError(
                        f"`past_key_values` of layer {i} has shape {tuple(tensor.shape)}; "
                        f"expected {expected} (batch, heads, past length, head size)."
                    )
            layer = tuple(write_along(buf, 2, 0, p) for buf, p in zip(layer, past[i][:2]))
        caches.append(layer)
    return tuple(caches), past_length


def run_decoder_blocks(
    blocks,
    x,
    attention_mask,
    cache=None,
    cache_index=0,
    cross_attention_cache=None,
    head_mask=None,
    cross_attn_head_mask=None,
    output_attentions=False,
    training=None,
    **cross,
):
    """Runs `x` through `blocks` in order, collecting what transformers can return.

    Args:
        blocks: the `TransformerDecoderBlock`s.
        x: `[batch, n, hidden]` input of the first block.
        attention_mask: the blocks' self-attention padding mask.
        cache: None, or one self-attention cache per block.
        cache_index: cache slot of the first of the `n` tokens.
        cross_attention_cache: None, or one pair of encoder keys and values per block.
        head_mask: None, or `[layers, heads]` factors on the self-attention probabilities.
        cross_attn_head_mask: None, or `[layers, heads]` factors on the cross-attention ones.
        output_attentions: collect the attention probabilities.
        training: whether dropout applies.
        **cross: `encoder_hidden_states` and `encoder_attention_mask`, passed to every block.

    Returns:
        A dict: `output` (of the last block), `inputs` (each block's input), `cache` (the
        updated caches, or None), `attentions` and `cross_attentions` (lists, empty unless
        asked for; the cross ones when the cross-attention ran).
    """
    explicit = output_attentions or head_mask is not None or cross_attn_head_mask is not None
    result = {"inputs": [], "cache": [], "attentions": [], "cross_attentions": []}
    for i, block in enumerate(blocks):
        result["inputs"].append(x)
        out = block(
            x,
            attention_mask=attention_mask,
            cache=None if cache is None else cache[i],
            cache_index=cache_index,
            cross_attention_cache=None
            if cross_attention_cache is None
            else cross_attention_cache[i],
            head_mask=None if head_mask is None else head_mask[i],
            cross_attn_head_mask=None if cross_attn_head_mask is None else cross_attn_head_mask[i],
            return_attention_scores=explicit,
            training=training,
            **cross,
        )
        if cache is None and not explicit:
            x = out
            continue
        x, rest = out[0], list(out[1:])
        if cache is not None:
            result["cache"].append(rest.pop(0))
        if explicit and output_attentions:
            result["attentions"].append(rest[0])
            result["cross_attentions"].extend(rest[1:])
    result["output"] = x
    result["cache"] = None if cache is None else tuple(result["cache"])
    return result


@keras.saving.register_keras_serializable(package="keras_models")
class TransformerDecoderBlock(keras.layers.Layer):
    """Causal self-attention, optional cross-attention and a feed-forward layer.

    Pre-LN (`normalize_first=True`; OPT-125m, Pegasus):
    `x = x + self_attn(LN(x)); x = x + cross_attn(LN(x), enc); x = x + ffn(LN(x))`.
    Post-LN (`normalize_first=False`; OPT-350m):
    `x = LN(x + self_attn(x)); x = LN(x + cross_attn(x, enc)); x = LN(x + ffn(x))`.

    Decoding: pass `cache` (keys and values, each `[batch, heads, max_len, head_dim]`, see
    `init_cache`) and `cache_index`; the current keys/values are written at `cache_index`,
    attention covers the whole cache and the block returns `(output, cache)`. Cross-attention keys/values of the
    encoder states are computed once with `compute_cross_attention_cache` and passed as
    `cross_attention_cache` on every step (they never change during decoding).

    Sub-layer names follow the Hugging Face decoder layers (`self_attn`, `self_attn_layer_norm`,
    `encoder_attn`, `encoder_attn_layer_norm`, `fc1`, `fc2`, `final_layer_norm`).

    Args:
        hidden_size: model width.
        num_attention_heads: attention heads; `hidden_size` must be a multiple.
        intermediate_size: feed-forward width.
        hidden_act: feed-forward activation (Hugging Face name).
        layer_norm_eps: LayerNorm epsilon.
        dropout: dropout after each attention output and after the feed-forward output.
        attention_dropout: dropout on the attention probabilities.
        activation_dropout: dropout after the feed-forward activation.
        normalize_first: pre-LN when True, post-LN when False.
        use_bias: biases of the attention projections and of the feed-forward layers.
        layer_norm_affine: whether the LayerNorms have a scale and an offset (OPT's
            `layer_norm_elementwise_affine`).
        use_cross_attention: add a cross-attention sub-layer over encoder states.
        kernel_initializer: initializer of every kernel.

    Call arguments:
        inputs: `[batch, seq, hidden_size]`.
        attention_mask: optional `[batch, key_len]` 0/1 padding mask of the self-attention keys
            (with a cache, `key_len` is the cache length). The causal mask is added here.
        encoder_hidden_states: `[batch, src_len, hidden_size]` for cross-attention.
        encoder_attention_mask: optional `[batch, src_len]` padding mask of the encoder states.
        cache: optional self-attention cache: keys and values, each
            `[batch, heads, max_len, head_dim]`.
        cache_index: position of the first current token in the cache.
        cross_attention_cache: optional encoder keys and values, each `[batch, heads, src_len,
            head_dim]`; replaces `encoder_hidden_states`.
        head_mask: optional `[num_heads]` factors on the self-attention probabilities.
        cross_attn_head_mask: optional `[num_heads]` factors on the cross-attention
            probabilities.
        return_attention_scores: also return the attention probabilities (the explicit
            softmax path): self-attention `[batch, heads, seq, key_len]` and, when the
            cross-attention runs, cross-attention `[batch, heads, seq, src_len]`.

    Returns:
        `[batch, seq, hidden_size]`; with a cache or `return_attention_scores`, the tuple
        `(output, [cache], [self_probs, [cross_probs]])`: the cache when one was given, then
        the probabilities when asked for (the cross ones when the cross-attention ran).

    Examples:
    >>> import numpy as np
    >>> block = TransformerDecoderBlock(8, 2, 16, use_cross_attention=True)
    >>> x, enc = np.ones((2, 5, 8), "float32"), np.ones((2, 3, 8), "float32")
    >>> block(x, encoder_hidden_states=enc).shape
    (2, 5, 8)
    >>> cache = block.init_cache(2, 6)
    >>> out, cache = block(x[:, :1], cache=cache, cache_index=0,
    ...                    cross_attention_cache=block.compute_cross_attention_cache(enc))
    >>> out.shape, [c.shape for c in cache]
    ((2, 1, 8), [(2, 2, 6, 4), (2, 2, 6, 4)])
    """

    def __init__(
        self,
        hidden_size,
        num_attention_heads,
        intermediate_size,
        hidden_act="relu",
        layer_norm_eps=1e-5,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        normalize_first=True,
        use_bias=True,
        layer_norm_affine=True,
        use_cross_attention=False,
        kernel_initializer="glorot_uniform",
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
        self.head_dim = hidden_size // num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.normalize_first = normalize_first
        self.use_bias = use_bias
        self.layer_norm_affine = layer_norm_affine
        self.use_cross_attention = use_cross_attention
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        policy = self.dtype_policy
        full = full_precision(policy)  # LayerNorms, dropout and residual sums

        def attention(name):
            return MultiHeadAttention(
                num_attention_heads,
                self.head_dim,
                output_dim=hidden_size,
                use_bias=use_bias,
                dropout=attention_dropout,
                kernel_initializer=self.kernel_initializer,
                dtype=policy,
                name=name,
            )

        def layer_norm(name):
            return keras.layers.LayerNormalization(
                epsilon=layer_norm_eps,
                center=layer_norm_affine,
                scale=layer_norm_affine,
                dtype=full,
                name=name,
            )

        def dense(units, name, activation=None):
            return keras.layers.Dense(
                units,
                activation=activation,
                use_bias=use_bias,
                kernel_initializer=self.kernel_initializer,
                dtype=policy,
                name=name,
            )

        self.self_attn = attention("self_attn")
        self.self_attn_layer_norm = layer_norm("self_attn_layer_norm")
        self.encoder_attn = None
        self.encoder_attn_layer_norm = None
        if use_cross_attention:
            self.encoder_attn = attention("encoder_attn")
            self.encoder_attn_layer_norm = layer_norm("encoder_attn_layer_norm")
        self.fc1 = dense(
            intermediate_size, "fc1", get_activation(hidden_act, field="activation_function")
        )
        self.fc2 = dense(hidden_size, "fc2")
        self.final_layer_norm = layer_norm("final_layer_norm")
        self.dropout_layer = Dropout(dropout, dtype=full)
        self.activation_dropout_layer = Dropout(activation_dropout, dtype=policy)
        self._convert_input_args = False  # `__call__` converts them

    @property
    def input_dtype(self):
        # The residual stream comes in and stays in full precision under a mixed policy
        # (see `keras_models.layers.precision`).
        return self.variable_dtype

    def __call__(self, *args, cache=None, cross_attention_cache=None, **kwargs):
        # Keras casts every float argument of a layer to its `input_dtype` (float32 here): the
        # 16-bit key/value caches would go to float32 and back to 16 bits in the attention at
        # every decoding step. They are passed on as they are; the rest is converted as Keras
        # would.
        def convert(x):
            return self.dtype_policy.convert_input(x, self.autocast, self.input_dtype)

        args, kwargs = keras.tree.map_structure(convert, (args, kwargs))
        return super().__call__(
            *args, cache=cache, cross_attention_cache=cross_attention_cache, **kwargs
        )

    def build(self, inputs_shape, *args, **kwargs):
        self.self_attn.build(inputs_shape)
        self.self_attn_layer_norm.build(inputs_shape)
        if self.use_cross_attention:
            self.encoder_attn.build(inputs_shape)
            self.encoder_attn_layer_norm.build(inputs_shape)
        self.fc1.build(inputs_shape)
        self.fc2.build(tuple(inputs_shape[:-1]) + (self.intermediate_size,))
        self.final_layer_norm.build(inputs_shape)
        self.built = True

    def init_cache(self, batch_size, max_length, dtype=None):
        """An all-zero self-attention cache: keys and values, `[batch, heads, max_length,
        head_dim]` each."""
        shape = (batch_size, self.num_attention_heads, max_length, self.head_dim)
        return tuple(ops.zeros(shape, dtype=dtype or self.compute_dtype) for _ in range(2))

    def compute_cross_attention_cache(self, encoder_hidden_states):
        """Encoder keys and values, `[batch, heads, src_len, head_dim]` each, computed once."""
        if not self.use_cross_attention:
            raise ValueError("This block was built without cross-attention.")
        return self.encoder_attn.compute_key_value(encoder_hidden_states)

    def _dropout(self, layer, x, training):
        # Skipped outright at inference: each layer call costs time in eager decoding (torch).
        if training and layer.rate > 0:
            return layer(x, training=training)
        return x

    def _residual(self, x, layer_norm, sublayer, training):
        # `ops.add`: a float32 stream plus a 16-bit sublayer output (mixed policies).
        if self.normalize_first:
            return ops.add(x, self._dropout(self.dropout_layer, sublayer(layer_norm(x)), training))
        return layer_norm(ops.add(x, self._dropout(self.dropout_layer, sublayer(x), training)))

    def call(
        self,
        inputs,
        attention_mask=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        cache=None,
        cache_index=0,
        cross_attention_cache=None,
        head_mask=None,
        cross_attn_head_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        query_length = ops.shape(inputs)[1]
        key_length = query_length if cache is None else ops.shape(cache[0])[2]
        mask = causal_attention_mask(query_length, key_length, cache_index, attention_mask)
        new_cache, scores = [], []

        def self_attention(x):
            out = self.self_attn(
                x,
                attention_mask=mask,
                cache=cache,
                cache_index=cache_index,
                head_mask=head_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
            return self._unpack(out, cache is not None, return_attention_scores, new_cache, scores)

        x = self._residual(inputs, self.self_attn_layer_norm, self_attention, training)
        if self.use_cross_attention and (
            encoder_hidden_states is not None or cross_attention_cache is not None
        ):
            cross_mask = None
            if encoder_attention_mask is not None:
                cross_mask = ops.expand_dims(ops.cast(encoder_attention_mask, "bool"), 1)

            def cross_attention(x):
                out = self.encoder_attn(
                    x,
                    context=encoder_hidden_states,
                    attention_mask=cross_mask,
                    key_value=cross_attention_cache,
                    head_mask=cross_attn_head_mask,
                    return_attention_scores=return_attention_scores,
                    training=training,
                )
                return self._unpack(out, False, return_attention_scores, new_cache, scores)

            x = self._residual(x, self.encoder_attn_layer_norm, cross_attention, training)

        def feed_forward(x):
            h = self._dropout(self.activation_dropout_layer, self.fc1(x), training)
            return self.fc2(h)

        x = self._residual(x, self.final_layer_norm, feed_forward, training)
        if cache is None and not return_attention_scores:
            return x
        return (x, *new_cache, *scores)

    @staticmethod
    def _unpack(out, has_cache, has_scores, new_cache, scores):
        """The attention output of `out`; its cache and probabilities go to the lists."""
        if not has_cache and not has_scores:
            return out
        if has_cache:
            new_cache.append(out[1])
        if has_scores:
            scores.append(out[-1])
        return out[0]

    def compute_output_spec(self, inputs, *args, return_attention_scores=False, **kwargs):
        if not return_attention_scores:
            return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        # The probabilities' shapes follow from the call itself (self- and cross-attention).
        return super().compute_output_spec(
            inputs, *args, return_attention_scores=return_attention_scores, **kwargs
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            activation_dropout=self.activation_dropout,
            normalize_first=self.normalize_first,
            use_bias=self.use_bias,
            layer_norm_affine=self.layer_norm_affine,
            use_cross_attention=self.use_cross_attention,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config

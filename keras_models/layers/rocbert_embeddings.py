"""RoCBert's multi-feature embeddings: word, glyph-shape and pronunciation ids."""

import keras
from keras import ops

from keras_models.layers.embeddings import TransformerEmbeddings
from keras_models.layers.position_ids import absolute_position_ids
from keras_models.layers.precision import full_precision


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertEmbeddings(TransformerEmbeddings):
    """Word, shape and pronunciation embeddings mixed as in transformers' `RoCBertEmbeddings`.

    Two ways of mixing the three id kinds, chosen by `concat_input`:

    - `concat_input=True`: `concat([word, shape, pron], -1)` (a disabled part is left out) goes
      through the `map_inputs_layer` Dense back to `hidden_size`, then token-type and position
      embeddings are added, then LayerNorm and dropout.
    - `concat_input=False`: `e = dropout(LN(word + type + pos))`; the shape and pronunciation
      embeddings are added to `e` only when enabled and given, and the sum is divided by the
      number of parts (so `shape_embed_dim` and `pronunciation_embed_dim` must equal
      `hidden_size` for an enabled part).

    Missing shape / pronunciation ids follow transformers: with `concat_input=True` row 0 of the
    table is looked up, with `concat_input=False` the part is left out of the average. A
    negative id means "not given" for that token, so a model whose graph always has these
    inputs can still express "missing" (the backbone fills `-1` for an id tensor not passed).

    Args:
        vocab_size: rows of the word table.
        hidden_size: width of the word, position and token-type tables and of the output.
        shape_vocab_size: rows of the glyph-shape table.
        shape_embed_dim: width of the glyph-shape table.
        pronunciation_vocab_size: rows of the pronunciation table.
        pronunciation_embed_dim: width of the pronunciation table.
        max_position_embeddings: rows of the (absolute) position table.
        type_vocab_size: rows of the token-type table.
        layer_norm_eps: LayerNorm epsilon.
        dropout: dropout rate after the LayerNorm.
        concat_input: concatenate and project (`True`) or average (`False`), see above.
        enable_shape: use the glyph-shape ids.
        enable_pronunciation: use the pronunciation ids.
        initializer_range: standard deviation of the truncated normal initializers.

    Call arguments:
        input_ids: `[batch, seq]` word ids.
        input_shape_ids: `[batch, seq]` glyph-shape ids, or `None`.
        input_pronunciation_ids: `[batch, seq]` pronunciation ids, or `None`.
        token_type_ids: `[batch, seq]`; zeros when `None`.
        position_ids: `[batch, seq]`; `0, 1, ...` when `None`.
        inputs_embeds: optional `[batch, seq, hidden_size]` vectors replacing the word lookup.

    Examples:
    >>> import numpy as np
    >>> layer = RoCBertEmbeddings(10, 8, shape_vocab_size=5, shape_embed_dim=4,
    ...     pronunciation_vocab_size=6, pronunciation_embed_dim=3, max_position_embeddings=16)
    >>> ids = np.array([[1, 2, 3]])
    >>> layer(ids, input_shape_ids=ids, input_pronunciation_ids=ids).shape
    (1, 3, 8)
    >>> layer.map_inputs_layer.kernel.shape  # word | shape | pronunciation -> hidden
    (15, 8)
    """

    def __init__(
        self,
        vocab_size,
        hidden_size,
        shape_vocab_size=24858,
        shape_embed_dim=512,
        pronunciation_vocab_size=910,
        pronunciation_embed_dim=768,
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        dropout=0.0,
        concat_input=True,
        enable_shape=True,
        enable_pronunciation=True,
        initializer_range=0.02,
        **kwargs,
    ):
        if not concat_input:
            for enabled, dim, name in (
                (enable_shape, shape_embed_dim, "shape_embed_dim"),
                (enable_pronunciation, pronunciation_embed_dim, "pronunciation_embed_dim"),
            ):
                if enabled and dim != hidden_size:
                    raise ValueError(
                        f"With `concat_input=False` the embeddings are added, so `{name}` must "
                        f"equal `hidden_size` ({hidden_size}); got {dim}."
                    )
        super().__init__(
            vocab_size,
            hidden_size,
            max_position_embeddings=max_position_embeddings,
            type_vocab_size=type_vocab_size,
            layer_norm_eps=layer_norm_eps,
            dropout=dropout,
            initializer_range=initializer_range,
            **kwargs,
        )
        self.hidden_size = hidden_size
        self.shape_vocab_size = shape_vocab_size
        self.shape_embed_dim = shape_embed_dim
        self.pronunciation_vocab_size = pronunciation_vocab_size
        self.pronunciation_embed_dim = pronunciation_embed_dim
        self.concat_input = concat_input
        self.enable_shape = enable_shape
        self.enable_pronunciation = enable_pronunciation
        policy = self.dtype_policy
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        # Both tables exist even when disabled: transformers always creates (and saves) them.
        self.shape_embed = keras.layers.Embedding(
            shape_vocab_size,
            shape_embed_dim,
            embeddings_initializer=init,
            dtype=full_precision(policy),
            name="shape_embed",
        )
        self.pronunciation_embed = keras.layers.Embedding(
            pronunciation_vocab_size,
            pronunciation_embed_dim,
            embeddings_initializer=init,
            dtype=full_precision(policy),
            name="pronunciation_embed",
        )
        self.map_inputs_layer = None
        if concat_input:
            self.map_inputs_layer = keras.layers.Dense(
                hidden_size, kernel_initializer=init, dtype=policy, name="map_inputs_layer"
            )

    def build(self, input_shape):
        super().build(input_shape)
        self.shape_embed.build(input_shape)
        self.pronunciation_embed.build(input_shape)
        if self.map_inputs_layer is not None:
            width = self.hidden_size
            width += self.shape_embed_dim if self.enable_shape else 0
            width += self.pronunciation_embed_dim if self.enable_pronunciation else 0
            self.map_inputs_layer.build(tuple(input_shape) + (width,))
        self.built = True

    def call(
        self,
        input_ids,
        input_shape_ids=None,
        input_pronunciation_ids=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        training=None,
    ):
        if token_type_ids is None:
            token_type_ids = ops.zeros_like(input_ids)
        if position_ids is None:
            position_ids = absolute_position_ids(input_ids)
        extras = []
        if self.enable_shape:
            extras.append((self.shape_embed, input_shape_ids))
        if self.enable_pronunciation:
            extras.append((self.pronunciation_embed, input_pronunciation_ids))
        if self.concat_input:
            words = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
            parts = [words]
            for table, ids in extras:
                # Missing ids look up row 0, as transformers does with its all-zero default.
                ids = ops.zeros_like(input_ids) if ids is None else ops.maximum(ids, 0)
                parts.append(table(ids))
            x = self.map_inputs_layer(ops.concatenate(parts, axis=-1))
            # `ops.add`: the projection's 16-bit output plus float32 tables (mixed policies).
            x = ops.add(x, self.token_type_embeddings(token_type_ids))
            x = x + self.position_embeddings(position_ids)
            x = self.layer_norm(x)
            return self.dropout_layer(x, training=training)
        x = self.embed(input_ids, token_type_ids, position_ids, inputs_embeds)
        x = self.dropout_layer(self.layer_norm(x), training=training)
        count = None
        for table, ids in extras:
            if ids is None:
                continue
            # A part is averaged in only where its ids are given (non-negative).
            given = ops.cast(ops.greater_equal(ids, 0), x.dtype)
            x = x + table(ops.maximum(ids, 0)) * given[..., None]
            count = given + 1 if count is None else count + given
        if count is None:
            return x
        return x / count[..., None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.hidden_size,)

    def get_config(self):
        config = keras.layers.Layer.get_config(self)
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            shape_vocab_size=self.shape_vocab_size,
            shape_embed_dim=self.shape_embed_dim,
            pronunciation_vocab_size=self.pronunciation_vocab_size,
            pronunciation_embed_dim=self.pronunciation_embed_dim,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            layer_norm_eps=self.layer_norm_eps,
            dropout=self.dropout,
            concat_input=self.concat_input,
            enable_shape=self.enable_shape,
            enable_pronunciation=self.enable_pronunciation,
            initializer_range=self.initializer_range,
        )
        return config

"""Token embeddings: a weight-tied reversible table and the BERT-style embedding sum."""

import math

import keras
from keras import ops

from keras_models.layers.dropout import Dropout
from keras_models.layers.int8_products import quantized_matmul_transposed, static_sizes
from keras_models.layers.precision import full_precision

# Up to this many rows (a decoding step), the reverse projection runs as `table @ hidden.T`:
# with few rows, CPU matmul kernels stream the large table faster in that orientation
# (measured on a 50272 x 768 table, 8 rows: 14.8 vs 23.0 ms on torch, 14.2 vs 15.7 ms on jax;
# from about 32 rows on the usual `hidden @ table.T` is as fast or faster).
_FEW_ROWS = 16


@keras.saving.register_keras_serializable(package="keras_models")
class ReversibleEmbedding(keras.layers.Embedding):
    """An `Embedding` that can also project hidden states back onto its vocabulary.

    `layer(ids)` looks ids up; `layer(hidden, reverse=True)` returns `hidden @ table.T`, the
    tied output projection of a language-model head.

    Examples:
    >>> import numpy as np
    >>> emb = ReversibleEmbedding(10, 4)
    >>> emb(np.array([[1, 2]])).shape, emb(np.ones((1, 2, 4)), reverse=True).shape
    ((1, 2, 4), (1, 2, 10))
    """

    def build(self, input_shape=None):
        if not self.built and not self.quantization_mode and not self.lora_rank:
            # Read as stored, not autocast: a mixed-policy lookup would otherwise cast the
            # whole table (50k x 768 for RoBERTa) to 16 bits at every call to take a few rows.
            self._embeddings = self.add_weight(
                shape=(self.input_dim, self.output_dim),
                initializer=self.embeddings_initializer,
                name="embeddings",
                regularizer=self.embeddings_regularizer,
                constraint=self.embeddings_constraint,
                autocast=False,
            )
            self.built = True
        super().build(input_shape)

    def quantize(self, mode=None, type_check=True, config=None):
        """Keras' `Embedding.quantize`; "int8" and "int4" quantize the tied LM head too.

        Keras' tables keep one scale per vocabulary row (int4 with a `block_size`: one per
        group of a row), which is one per output of the reverse projection. `reverse=True`
        then multiplies the int8 (or unpacked int4) rows by the hidden states quantized per
        row, as Keras' quantized `Dense` does, and scales the int32 sums back; a grouped int4
        table is dequantized first. Keras defines "float8" for `Dense` and `EinsumDense`
        only: it refuses it for embeddings with a warning, and the table stays as it is.
        """
        # Keras refuses subclasses by default; this one computes every mode Keras' table has.
        super().quantize(mode, type_check=False, config=config)

    def build_int8_unset(self):
        """What `quantize("int8")` leaves (the int8 table and its scales, the int8 dtype
        policy), without computing it from the float table, whose values are never needed: the
        lean load of a quantized preset (`models/quantization.py`) loads the int8 values next.
        Keras' quantization of OPT-125m's table from float32 values peaked at 4x the table
        (590 MB) on tensorflow, and giving it initial values at 3x.
        """
        self.quantization_config = None
        self._tracker.unlock()
        try:
            del self._embeddings  # never given values (a deferred variable)
            self.quantized_build((self.input_dim, self.output_dim), "int8")
        finally:
            self._tracker.lock()
        self.dtype_policy = keras.dtype_policies.get(f"int8_from_{self.dtype_policy.name}")

    # A quantized layer is called through these, not through `call`.
    def _int8_call(self, inputs, reverse=False, training=None):
        if not reverse:
            return super()._int8_call(inputs, training=training)
        return self._reverse_quantized(inputs, ops.convert_to_tensor(self._embeddings))

    def _int4_call(self, inputs, reverse=False, training=None):
        if not reverse:
            return super()._int4_call(inputs, training=training)
        rows = keras.quantizers.unpack_int4(self._embeddings, self._orig_output_dim, axis=-1)
        if getattr(self, "_int4_block_size", None) in (None, -1):
            return self._reverse_quantized(inputs, rows)
        # Grouped (asymmetric) int4: `(rows - zero) * scale`, each column reading its group's.
        groups = ops.cast(self.g_idx, "int32")
        zero = ops.cast(ops.take(self.embeddings_zero, groups, axis=-1), self.compute_dtype)
        scale = ops.cast(ops.take(self.embeddings_scale, groups, axis=-1), self.compute_dtype)
        table = ops.multiply(ops.subtract(ops.cast(rows, self.compute_dtype), zero), scale)
        hidden = ops.cast(inputs, self.compute_dtype)
        return self._add_lora(hidden, ops.matmul(hidden, ops.transpose(table)))

    def _reverse_quantized(self, inputs, rows):
        """`inputs @ table.T` from the integer `rows` of the table (scaled per row)."""
        hidden = ops.cast(inputs, self.compute_dtype)
        product, scale = quantized_matmul_transposed(hidden, rows)
        logits = ops.divide(
            ops.cast(product, self.compute_dtype),
            ops.multiply(scale, ops.cast(self.embeddings_scale, self.compute_dtype)),
        )
        return self._add_lora(hidden, logits)

    def _add_lora(self, hidden, logits):
        if not self.lora_enabled:
            return logits
        # The table is `quantized + (alpha / rank) * a @ b`.
        low = ops.matmul(hidden, ops.transpose(self.lora_embeddings_b))
        low = ops.matmul(low, ops.transpose(self.lora_embeddings_a))
        return ops.add(logits, (self.lora_alpha / self.lora_rank) * low)

    def call(self, inputs, reverse=False):
        if reverse:
            table = ops.cast(self.embeddings, self.compute_dtype)
            hidden = ops.cast(inputs, self.compute_dtype)
            lead = static_sizes(inputs.shape[:-1])
            # Static sizes only: an exported graph's sizes are symbolic (or None).
            if lead is not None and math.prod(lead) <= _FEW_ROWS:
                rows = ops.reshape(hidden, (math.prod(lead), inputs.shape[-1]))
                logits = ops.transpose(ops.matmul(table, ops.transpose(rows)))
                return ops.reshape(logits, lead + (self.input_dim,))
            return ops.matmul(hidden, ops.transpose(table))
        if self.quantization_mode or self.lora_rank:
            return super().call(inputs)
        ids = (
            inputs
            if "int" in keras.backend.standardize_dtype(inputs.dtype)
            else ops.cast(inputs, "int32")
        )
        return ops.take(self.embeddings, ids, axis=0)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return super().compute_output_shape(input_shape)

    def compute_output_spec(self, inputs, reverse=False):
        shape = self.compute_output_shape(inputs.shape, reverse=reverse)
        keras_lookup = self.quantization_mode or self.lora_rank  # Keras' call: compute dtype
        lookup_dtype = self.compute_dtype if keras_lookup else self.variable_dtype
        return keras.KerasTensor(shape, dtype=self.compute_dtype if reverse else lookup_dtype)


@keras.saving.register_keras_serializable(package="keras_models")
class TransformerEmbeddings(keras.layers.Layer):
    """Word + token-type + position embeddings, then LayerNorm, dropout and a projection.

    Each part is optional, so the layer covers RoBERTa and RoCBert (all parts), MegatronBERT (no
    LayerNorm) and RoFormer (no position table, an `embedding_size -> hidden_size` projection).

    Args:
        vocab_size: rows of the word table.
        embedding_size: width of the tables.
        max_position_embeddings: rows of the position table; 0 for none.
        type_vocab_size: rows of the token-type table; 0 for none.
        layer_norm_eps: LayerNorm epsilon; `None` for no LayerNorm.
        dropout: dropout rate after the (normalised) sum.
        projection_size: if set, a Dense projection to this width after the dropout.
        initializer_range: standard deviation of the truncated normal initializers.

    Call arguments:
        input_ids: `[batch, seq]` ids.
        token_type_ids: `[batch, seq]`, required when `type_vocab_size > 0`.
        position_ids: `[batch, seq]`, required when `max_position_embeddings > 0`.
        inputs_embeds: optional `[batch, seq, embedding_size]` vectors that replace the
            word-table lookup of `input_ids` (transformers' `inputs_embeds`).

    Examples:
    >>> import numpy as np
    >>> layer = TransformerEmbeddings(10, 4, max_position_embeddings=8, type_vocab_size=2)
    >>> ids = np.array([[1, 2, 3]])
    >>> layer(ids, token_type_ids=ids * 0, position_ids=np.array([[0, 1, 2]])).shape
    (1, 3, 4)
    """

    def __init__(
        self,
        vocab_size,
        embedding_size,
        max_position_embeddings=0,
        type_vocab_size=0,
        layer_norm_eps=1e-12,
        dropout=0.0,
        projection_size=None,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.layer_norm_eps = layer_norm_eps
        self.dropout = dropout
        self.projection_size = projection_size
        self.initializer_range = initializer_range
        policy = self.dtype_policy
        full = full_precision(policy)  # lookups, sums, LayerNorm and dropout
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.word_embeddings = ReversibleEmbedding(
            vocab_size,
            embedding_size,
            embeddings_initializer=init,
            dtype=policy,  # its reverse projection (an LM head) runs in the compute dtype
            name="word_embeddings",
        )
        self.position_embeddings = None
        if max_position_embeddings:
            self.position_embeddings = keras.layers.Embedding(
                max_position_embeddings,
                embedding_size,
                embeddings_initializer=init,
                dtype=full,
                name="position_embeddings",
            )
        self.token_type_embeddings = None
        if type_vocab_size:
            self.token_type_embeddings = keras.layers.Embedding(
                type_vocab_size,
                embedding_size,
                embeddings_initializer=init,
                dtype=full,
                name="token_type_embeddings",
            )
        self.layer_norm = None
        if layer_norm_eps is not None:
            self.layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_eps, dtype=full, name="layer_norm"
            )
        self.dropout_layer = Dropout(dropout, dtype=full)
        self.projection = None
        if projection_size:
            self.projection = keras.layers.Dense(
                projection_size, kernel_initializer=init, dtype=policy, name="projection"
            )

    def build(self, input_shape):
        for layer in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings):
            if layer is not None:
                layer.build(input_shape)
        out_shape = tuple(input_shape) + (self.embedding_size,)
        if self.layer_norm is not None:
            self.layer_norm.build(out_shape)
        if self.projection is not None:
            self.projection.build(out_shape)
        self.built = True

    def embed(self, input_ids, token_type_ids=None, position_ids=None, inputs_embeds=None):
        """The raw sum of the tables, before LayerNorm (RoCBert mixes more features in here)."""
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        if self.token_type_embeddings is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        if self.position_embeddings is not None:
            x = x + self.position_embeddings(position_ids)
        return x

    def normalize(self, x, training=None):
        """LayerNorm, dropout and projection applied to an embedding sum."""
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        x = self.dropout_layer(x, training=training)
        if self.projection is not None:
            x = self.projection(x)
        return x

    def call(
        self, input_ids, token_type_ids=None, position_ids=None, inputs_embeds=None, training=None
    ):
        x = self.embed(input_ids, token_type_ids, position_ids, inputs_embeds)
        return self.normalize(x, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.projection_size or self.embedding_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_size=self.embedding_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            layer_norm_eps=self.layer_norm_eps,
            dropout=self.dropout,
            projection_size=self.projection_size,
            initializer_range=self.initializer_range,
        )
        return config

"""Task heads: span (QA), choice, classification, tied masked-LM and next-sentence prediction."""

import keras
from keras import ops

from keras_models.layers.activations import get_activation
from keras_models.layers.dropout import Dropout
from keras_models.layers.precision import full_precision


def _init(initializer_range):
    return keras.initializers.TruncatedNormal(stddev=initializer_range)


@keras.saving.register_keras_serializable(package="keras_models")
class SpanHead(keras.layers.Layer):
    """Extractive QA head: one Dense over every token, split into start and end logits.

    Args:
        num_labels: outputs of the Dense (2 in every released checkpoint: start, end).
        use_bias: whether the projection has a bias.
        initializer_range: stddev of the kernel initializer.

    Returns:
        `(start_logits, end_logits)`, each `[batch, seq]`.

    Examples:
    >>> import numpy as np
    >>> start, end = SpanHead()(np.ones((2, 7, 8), "float32"))
    >>> start.shape, end.shape
    ((2, 7), (2, 7))
    """

    def __init__(self, num_labels=2, use_bias=True, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.use_bias = use_bias
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            num_labels,
            use_bias=use_bias,
            kernel_initializer=_init(initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, hidden_states):
        logits = self.dense(hidden_states)
        return logits[..., 0], logits[..., 1]

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1])
        return shape, shape

    def get_config(self):
        config = super().get_config()
        config.update(
            num_labels=self.num_labels,
            use_bias=self.use_bias,
            initializer_range=self.initializer_range,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_models")
class ClassificationHead(keras.layers.Layer):
    """Dropout and a Dense, optionally after a `dense -> activation -> dropout` block.

    Covers the families' classifiers: a plain `Linear` on pooled or per-token features
    (`hidden_size=None`), and RoBERTa's / RoFormer's two-layer head (`hidden_size` set, with
    `tanh` or the config activation).

    Args:
        num_labels: output width.
        hidden_size: width of the optional inner dense layer.
        activation: activation of the inner layer (HF name).
        dropout: dropout rate before each dense layer.
        use_bias: bias on the output layer.
        initializer_range: stddev of the kernel initializers.

    Examples:
    >>> import numpy as np
    >>> ClassificationHead(3, hidden_size=8, activation="tanh")(np.ones((2, 8), "float32")).shape
    (2, 3)
    """

    def __init__(
        self,
        num_labels,
        hidden_size=None,
        activation="tanh",
        dropout=0.0,
        use_bias=True,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.hidden_size = hidden_size
        self.activation = activation
        self.dropout = dropout
        self.use_bias = use_bias
        self.initializer_range = initializer_range
        policy = self.dtype_policy
        self.dense = None
        if hidden_size:
            self.dense = keras.layers.Dense(
                hidden_size,
                activation=get_activation(activation),
                kernel_initializer=_init(initializer_range),
                dtype=policy,
                name="dense",
            )
        self.out_proj = keras.layers.Dense(
            num_labels,
            use_bias=use_bias,
            kernel_initializer=_init(initializer_range),
            dtype=policy,
            name="out_proj",
        )
        self.dropout_layer = Dropout(dropout, dtype=policy)

    def build(self, input_shape):
        if self.dense is not None:
            self.dense.build(input_shape)
            input_shape = tuple(input_shape[:-1]) + (self.hidden_size,)
        self.out_proj.build(input_shape)
        self.built = True

    def call(self, features, training=None):
        x = self.dropout_layer(features, training=training)
        if self.dense is not None:
            x = self.dropout_layer(self.dense(x), training=training)
        return self.out_proj(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_labels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_labels=self.num_labels,
            hidden_size=self.hidden_size,
            activation=self.activation,
            dropout=self.dropout,
            use_bias=self.use_bias,
            initializer_range=self.initializer_range,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_models")
class ChoiceHead(keras.layers.Layer):
    """Multiple-choice head: one score per flattened `[batch * choices]` row, back to `[batch, choices]`.

    Call arguments:
        features: `[batch * choices, hidden]` pooled features.
        choice_ids: the original `[batch, choices, seq]` ids, read only for the number of choices.

    Examples:
    >>> import numpy as np
    >>> ChoiceHead()(np.ones((6, 8), "float32"), np.ones((2, 3, 5), "int32")).shape
    (2, 3)
    """

    def __init__(self, dropout=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.dropout_layer = Dropout(dropout, dtype=self.dtype_policy)
        self.dense = keras.layers.Dense(
            1, kernel_initializer=_init(initializer_range), dtype=self.dtype_policy, name="dense"
        )

    def build(self, features_shape, choice_ids_shape=None):
        self.dense.build(features_shape)
        self.built = True

    def call(self, features, choice_ids, training=None):
        scores = self.dense(self.dropout_layer(features, training=training))
        # `[batch * choices, 1]` -> `[batch, choices]` through `[batch * choices, choices]`
        # (each row the score repeated) and `[batch, choices, choices]`: jax2onnx converts a
        # reshape to symbolic sizes only when each is the one `-1` or an axis of the input,
        # and `choices` is no axis of the scores. The result is the same.
        choices = ops.shape(choice_ids)[1]
        wide = scores * ops.ones_like(choice_ids[:1, :, 0], dtype=scores.dtype)
        return ops.reshape(wide, (-1, choices, choices))[:, :, 0]

    def compute_output_shape(self, features_shape, choice_ids_shape):
        return (choice_ids_shape[0], choice_ids_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(dropout=self.dropout, initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="keras_models")
class MaskedLMHead(keras.layers.Layer):
    """BERT-style LM head: `dense -> activation -> LayerNorm`, then the tied word table and a bias.

    Args:
        token_embedding: the backbone's `ReversibleEmbedding`; its table is the output projection.
        hidden_act: activation name (RoBERTa hard-codes `"gelu"`).
        layer_norm_eps: LayerNorm epsilon.
        initializer_range: stddev of the dense kernel initializer.

    Returns:
        Vocabulary logits `[batch, seq, vocab_size]`.

    Examples:
    >>> import numpy as np
    >>> from keras_models.layers.embeddings import ReversibleEmbedding
    >>> emb = ReversibleEmbedding(11, 4)
    >>> emb.build((None,))
    >>> MaskedLMHead(emb)(np.ones((1, 3, 6), "float32")).shape
    (1, 3, 11)
    """

    def __init__(
        self,
        token_embedding,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        policy = self.dtype_policy
        self.dense = keras.layers.Dense(
            token_embedding.output_dim,
            activation=get_activation(hidden_act),
            kernel_initializer=_init(initializer_range),
            dtype=policy,
            name="dense",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, dtype=full_precision(policy), name="layer_norm"
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.layer_norm.build(tuple(input_shape[:-1]) + (self.token_embedding.output_dim,))
        self.bias = self.add_weight(
            shape=(self.token_embedding.input_dim,), initializer="zeros", name="bias"
        )
        self.built = True

    def call(self, hidden_states):
        x = self.layer_norm(self.dense(hidden_states))
        return self.token_embedding(x, reverse=True) + ops.cast(self.bias, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.token_embedding.input_dim,)

    def get_config(self):
        # The embedding is shared with the backbone, which passes it again on rebuild.
        config = super().get_config()
        config.update(
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
            initializer_range=self.initializer_range,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_models")
class NextSentenceHead(keras.layers.Layer):
    """BERT-style next-sentence prediction: one Dense from the pooled output to 2 logits.

    Logit 0 means "sentence B continues sentence A", logit 1 "B is a random sentence", as in
    transformers' `seq_relationship` layer. There is no dropout, matching the original heads.

    Args:
        initializer_range: stddev of the kernel initializer.

    Returns:
        `[batch, 2]` logits.

    Examples:
    >>> import numpy as np
    >>> NextSentenceHead()(np.ones((3, 8), "float32")).shape
    (3, 2)
    """

    def __init__(self, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            2, kernel_initializer=_init(initializer_range), dtype=self.dtype_policy, name="dense"
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, pooled_output):
        return self.dense(pooled_output)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2,)

    def get_config(self):
        config = super().get_config()
        config.update(initializer_range=self.initializer_range)
        return config

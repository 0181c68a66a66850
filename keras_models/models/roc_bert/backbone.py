"""RoCBert backbone: BERT with glyph-shape and pronunciation embeddings.

Forward pass (transformers' `RoCBertModel`):
    positions = 0, 1, ...                          # absolute, not padding-aware
    concat_input=True:
        x = LN(map_inputs_layer(concat[word[ids], shape[shape_ids], pron[pron_ids]])
               + type[token_type_ids] + pos[positions])
    concat_input=False:
        x = LN(word[ids] + type[token_type_ids] + pos[positions])
        x = (x + shape[shape_ids] + pron[pron_ids]) / (1 + number of id kinds given)
    for each layer: x = LN(x + attn(x)); x = LN(x + W2 act(W1 x))
    pooler_output = tanh(W_p x[:, 0])              # only with add_pooling_layer
"""

import keras
import numpy as np
from keras import ops

from keras_models.layers.position_ids import absolute_position_ids
from keras_models.layers.rocbert_embeddings import RoCBertEmbeddings
from keras_models.models.bert_encoder import BertStyleBackbone
from keras_models.models.inputs import is_concrete

#: The id used inside the graph for a shape / pronunciation id tensor that was not given.
NOT_GIVEN = -1


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertBackbone(BertStyleBackbone):
    """RoCBert encoder (`RoCBertModel`).

    Inputs, in list order: `input_ids`, `input_shape_ids`, `input_pronunciation_ids`,
    `attention_mask`, `token_type_ids`, `position_ids`, then (calls only, see
    `BertStyleBackbone`) `head_mask`, `inputs_embeds`. A shape or pronunciation id tensor that
    is not given behaves as in transformers: with `concat_input=True` row 0 of its table is used,
    with `concat_input=False` it is left out of the average (inside the graph it is filled with
    -1, which `RoCBertEmbeddings` reads as "not given").

    Args:
        vocab_size: vocabulary size.
        hidden_size: model width.
        num_hidden_layers: number of encoder layers.
        num_attention_heads: attention heads per layer.
        intermediate_size: feed-forward width.
        hidden_act: feed-forward activation (HF name).
        hidden_dropout_prob: dropout on embeddings and sub-layer outputs.
        attention_probs_dropout_prob: dropout on attention probabilities.
        max_position_embeddings: rows of the position table.
        type_vocab_size: rows of the token-type table.
        layer_norm_eps: LayerNorm epsilon.
        pad_token_id: padding id (the labels pass of the pretraining loss replaces -100 by it).
        initializer_range: stddev of the initializers.
        enable_pronunciation: use the pronunciation ids.
        enable_shape: use the glyph-shape ids.
        pronunciation_embed_dim: width of the pronunciation table.
        pronunciation_vocab_size: rows of the pronunciation table.
        shape_embed_dim: width of the glyph-shape table.
        shape_vocab_size: rows of the glyph-shape table.
        concat_input: concatenate word | shape | pronunciation and project (`True`), or average
            them after the embedding LayerNorm (`False`).
        add_pooling_layer: add the `tanh` pooler over the first token.
        is_decoder: use a causal self-attention mask (for `RoCBertForCausalLM`).
        add_cross_attention: add cross-attention layers over `encoder_hidden_states` (a
            decoder only; see `BertStyleBackbone`).
        dtype: dtype policy.

    Examples:
    >>> import numpy as np
    >>> model = RoCBertBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, shape_vocab_size=20, shape_embed_dim=4,
    ...     pronunciation_vocab_size=30, pronunciation_embed_dim=6)
    >>> out = model(np.array([[2, 5, 6, 3, 0]]))
    >>> out["last_hidden_state"].shape, out["pooler_output"].shape
    ((1, 5, 8), (1, 8))
    >>> model.input_names[:3]
    ('input_ids', 'input_shape_ids', 'input_pronunciation_ids')
    """

    extra_inputs = ("input_shape_ids", "input_pronunciation_ids")

    model_type = "roc_bert"

    def __init__(
        self,
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        initializer_range=0.02,
        enable_pronunciation=True,
        enable_shape=True,
        pronunciation_embed_dim=768,
        pronunciation_vocab_size=910,
        shape_embed_dim=512,
        shape_vocab_size=24858,
        concat_input=True,
        add_pooling_layer=True,
        is_decoder=False,
        add_cross_attention=False,
        dtype=None,
        **kwargs,
    ):
        embeddings = RoCBertEmbeddings(
            vocab_size,
            hidden_size,
            shape_vocab_size=shape_vocab_size,
            shape_embed_dim=shape_embed_dim,
            pronunciation_vocab_size=pronunciation_vocab_size,
            pronunciation_embed_dim=pronunciation_embed_dim,
            max_position_embeddings=max_position_embeddings,
            type_vocab_size=type_vocab_size,
            layer_norm_eps=layer_norm_eps,
            dropout=hidden_dropout_prob,
            concat_input=concat_input,
            enable_shape=enable_shape,
            enable_pronunciation=enable_pronunciation,
            initializer_range=initializer_range,
            dtype=dtype,
            name="embeddings",
        )
        super().__init__(
            embeddings=embeddings,
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
            hidden_act=hidden_act,
            hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            layer_norm_eps=layer_norm_eps,
            initializer_range=initializer_range,
            normalize_first=False,
            final_layer_norm=False,
            add_pooling_layer=add_pooling_layer,
            is_decoder=is_decoder,
            add_cross_attention=add_cross_attention,
            use_token_type_ids=True,
            use_position_ids=True,
            dtype=dtype,
            **kwargs,
        )
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.pad_token_id = pad_token_id
        self.enable_pronunciation = enable_pronunciation
        self.enable_shape = enable_shape
        self.pronunciation_embed_dim = pronunciation_embed_dim
        self.pronunciation_vocab_size = pronunciation_vocab_size
        self.shape_embed_dim = shape_embed_dim
        self.shape_vocab_size = shape_vocab_size
        self.concat_input = concat_input

    def embed(self, embeddings, inputs, training=None):
        return embeddings(
            inputs["input_ids"],
            input_shape_ids=inputs["input_shape_ids"],
            input_pronunciation_ids=inputs["input_pronunciation_ids"],
            token_type_ids=inputs["token_type_ids"],
            position_ids=inputs["position_ids"],
            inputs_embeds=inputs.get("inputs_embeds"),
            training=training,
        )

    def fill_defaults(self, inputs):
        inputs = super().fill_defaults(inputs)
        for name in self.extra_inputs:
            if name not in inputs:
                inputs[name] = ops.zeros_like(inputs["input_ids"]) + NOT_GIVEN
        return inputs

    def default_position_ids(self, inputs, past_length=0):
        return absolute_position_ids(inputs["input_ids"], past_length)

    def check_values(self, values, given=()):
        # `call` gets the "not given" fill back as an input; it is not the caller's ids.
        given = tuple(
            name
            for name in given
            if not (
                name in self.extra_inputs
                and is_concrete(values[name])
                and np.all(ops.convert_to_numpy(values[name]) == NOT_GIVEN)
            )
        )
        super().check_values(values, given)

    def input_limits(self):
        limits = super().input_limits()
        # Ids of a disabled table are ignored, as in transformers.
        if self.enable_shape:
            limits["input_shape_ids"] = (0, self.shape_vocab_size)
        if self.enable_pronunciation:
            limits["input_pronunciation_ids"] = (0, self.pronunciation_vocab_size)
        return limits

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            pad_token_id=self.pad_token_id,
            enable_pronunciation=self.enable_pronunciation,
            enable_shape=self.enable_shape,
            pronunciation_embed_dim=self.pronunciation_embed_dim,
            pronunciation_vocab_size=self.pronunciation_vocab_size,
            shape_embed_dim=self.shape_embed_dim,
            shape_vocab_size=self.shape_vocab_size,
            concat_input=self.concat_input,
        )
        return config

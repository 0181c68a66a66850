"""MegatronBERT backbone: a pre-LN BERT encoder with a final LayerNorm.

Forward pass (transformers' `MegatronBertModel`):
    x = Dropout(word[ids] + type[token_type_ids] + pos[arange(seq)])   # no embedding LayerNorm
    for each layer: x = x + attn(LN_a(x)); x = x + W2 act(W1 LN_f(x))
    last_hidden_state = LN(x)                     # encoder.ln
    pooler_output = tanh(W_p last_hidden_state[:, 0])  # only with add_pooling_layer
"""

import keras

from keras_models.layers.embeddings import TransformerEmbeddings
from keras_models.layers.position_ids import absolute_position_ids
from keras_models.models.bert_encoder import BertStyleBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertBackbone(BertStyleBackbone):
    """MegatronBERT encoder (`MegatronBertModel`).

    Inputs (in this positional order): `input_ids`, `attention_mask`, `token_type_ids`,
    `position_ids`, then (calls only, see `BertStyleBackbone`) `head_mask`, `inputs_embeds`.
    Missing ones default to a mask of ones, token types of zeros and absolute
    positions `0..seq-1` (padding is not skipped, as in transformers).

    Args:
        vocab_size: vocabulary size.
        hidden_size: model width.
        num_hidden_layers: number of encoder layers.
        num_attention_heads: attention heads per layer.
        intermediate_size: feed-forward width.
        hidden_act: feed-forward activation (HF name).
        hidden_dropout_prob: dropout on the embedding sum and on sub-layer outputs.
        attention_probs_dropout_prob: dropout on attention probabilities.
        max_position_embeddings: rows of the learned position table.
        type_vocab_size: rows of the token-type table.
        layer_norm_eps: LayerNorm epsilon.
        pad_token_id: padding id (kept for the config; positions ignore padding).
        initializer_range: stddev of the initializers.
        add_pooling_layer: add the `tanh` pooler over the first token.
        is_decoder: use a causal self-attention mask (for `MegatronBertForCausalLM`).
        add_cross_attention: add cross-attention layers over `encoder_hidden_states` (a
            decoder only; see `BertStyleBackbone`), pre-LN as the self-attention. They take
            encoder states of any length; transformers' reshape of the encoder keys uses the
            decoder's length, so there they only run when both lengths are equal.
        dtype: dtype policy.

    Examples:
    >>> import numpy as np
    >>> model = MegatronBertBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...                              num_attention_heads=2, intermediate_size=16)
    >>> out = model(np.array([[2, 5, 6, 3, 0]]))
    >>> out["last_hidden_state"].shape, out["pooler_output"].shape
    ((1, 5, 8), (1, 8))
    """

    model_type = "megatron-bert"

    def __init__(
        self,
        vocab_size=29056,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        initializer_range=0.02,
        add_pooling_layer=True,
        is_decoder=False,
        add_cross_attention=False,
        dtype=None,
        **kwargs,
    ):
        # Megatron moved the embedding LayerNorm into the layers (pre-LN), so there is none here.
        embeddings = TransformerEmbeddings(
            vocab_size,
            hidden_size,
            max_position_embeddings=max_position_embeddings,
            type_vocab_size=type_vocab_size,
            layer_norm_eps=None,
            dropout=hidden_dropout_prob,
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
            normalize_first=True,
            final_layer_norm=True,
            add_pooling_layer=add_pooling_layer,
            is_decoder=is_decoder,
            add_cross_attention=add_cross_attention,
            use_token_type_ids=type_vocab_size > 0,
            use_position_ids=True,
            dtype=dtype,
            **kwargs,
        )
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.pad_token_id = pad_token_id

    def default_position_ids(self, inputs, past_length=0):
        return absolute_position_ids(inputs["input_ids"], past_length)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            pad_token_id=self.pad_token_id,
        )
        return config

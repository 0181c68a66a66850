"""RoBERTa backbone: BERT-style post-LN encoder with padding-aware learned positions.

Forward pass (transformers' `RobertaModel`):
    positions = padding_aware(input_ids)          # pad -> pad_token_id, real -> pad+1, pad+2...
    x = LN(word[ids] + type[token_type_ids] + pos[positions])
    for each layer: x = LN(x + attn(x)); x = LN(x + W2 act(W1 x))
    pooler_output = tanh(W_p x[:, 0])             # only with add_pooling_layer
"""

import keras

from keras_models.layers.embeddings import TransformerEmbeddings
from keras_models.layers.position_ids import absolute_position_ids, padding_aware_position_ids
from keras_models.models.bert_encoder import BertStyleBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RobertaBackbone(BertStyleBackbone):
    """RoBERTa encoder (`RobertaModel`).

    Inputs, in list order: `input_ids`, `attention_mask`, `token_type_ids`, `position_ids`
    (by default counted from `pad_token_id + 1` over non-padding tokens, as transformers
    does; with `inputs_embeds`, sequentially), then (calls only, see `BertStyleBackbone`)
    `head_mask`, `inputs_embeds`.

    Args:
        vocab_size: vocabulary size.
        hidden_size: model width.
        num_hidden_layers: number of encoder layers.
        num_attention_heads: attention heads per layer.
        intermediate_size: feed-forward width.
        hidden_act: feed-forward activation (HF name).
        hidden_dropout_prob: dropout on embeddings and sub-layer outputs.
        attention_probs_dropout_prob: dropout on attention probabilities.
        max_position_embeddings: rows of the position table (514 for the released checkpoints:
            512 usable positions plus RoBERTa's offset of `pad_token_id + 1`).
        type_vocab_size: rows of the token-type table (1 for the released checkpoints).
        layer_norm_eps: LayerNorm epsilon.
        pad_token_id: padding id; also the position offset.
        initializer_range: stddev of the initializers.
        add_pooling_layer: add the `tanh` pooler over the first token.
        is_decoder: use a causal self-attention mask (for `RobertaForCausalLM`).
        add_cross_attention: add cross-attention layers over `encoder_hidden_states` (a
            decoder only; see `BertStyleBackbone`).
        dtype: dtype policy.

    Examples:
    >>> import numpy as np
    >>> model = RobertaBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...                         num_attention_heads=2, intermediate_size=16)
    >>> out = model(np.array([[0, 5, 6, 2, 1]]))
    >>> out["last_hidden_state"].shape, out["pooler_output"].shape
    ((1, 5, 8), (1, 8))
    """

    model_type = "roberta"

    def __init__(
        self,
        vocab_size=50265,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        initializer_range=0.02,
        add_pooling_layer=True,
        is_decoder=False,
        add_cross_attention=False,
        dtype=None,
        **kwargs,
    ):
        embeddings = TransformerEmbeddings(
            vocab_size,
            hidden_size,
            max_position_embeddings=max_position_embeddings,
            type_vocab_size=type_vocab_size,
            layer_norm_eps=layer_norm_eps,
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
            normalize_first=False,
            final_layer_norm=False,
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
        if "inputs_embeds" in inputs:
            # No ids to find padding in: transformers numbers given vectors `pad + 1, pad + 2,
            # ...` from the start, with or without a cache.
            return absolute_position_ids(inputs["input_ids"]) + self.pad_token_id + 1
        return padding_aware_position_ids(inputs["input_ids"], self.pad_token_id, past_length)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            pad_token_id=self.pad_token_id,
        )
        return config

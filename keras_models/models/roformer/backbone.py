"""RoFormer backbone: post-LN BERT with rotary positions instead of a position table.

Forward pass (transformers' `RoFormerModel`):
    x = LN_E(word[ids] + type[token_type_ids])    # width embedding_size (E)
    x = W_proj x                                  # only when E != hidden_size
    for each layer: q, k (and v with rotary_value) are rotated by interleaved-pair RoPE at
        positions 0..seq-1 (padding ignored); x = LN(x + attn(x)); x = LN(x + W2 act(W1 x))
No pooler and no final LayerNorm.
"""

import keras

from keras_models.layers.embeddings import TransformerEmbeddings
from keras_models.layers.rotary_embedding import RotaryEmbedding
from keras_models.models.bert_encoder import BertStyleBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RoFormerBackbone(BertStyleBackbone):
    """RoFormer encoder (`RoFormerModel`).

    Inputs, in list order: `input_ids`, `attention_mask`, `token_type_ids` (there is no
    `position_ids`: the rotary angles use the absolute index 0..seq-1), then (calls only, see
    `BertStyleBackbone`) `head_mask`, `inputs_embeds`. Output: `last_hidden_state`.

    Args:
        vocab_size: vocabulary size.
        embedding_size: width of the embedding tables; `None` means `hidden_size`. When it
            differs, a Dense projects the embeddings to `hidden_size`.
        hidden_size: model width.
        num_hidden_layers: number of encoder layers.
        num_attention_heads: attention heads per layer.
        intermediate_size: feed-forward width.
        hidden_act: feed-forward activation (HF name).
        hidden_dropout_prob: dropout on embeddings and sub-layer outputs.
        attention_probs_dropout_prob: dropout on attention probabilities.
        max_position_embeddings: number of positions in the rotary table.
        type_vocab_size: rows of the token-type table.
        layer_norm_eps: LayerNorm epsilon.
        pad_token_id: padding id.
        initializer_range: stddev of the initializers.
        rotary_value: rotate the attention values too, not only queries and keys.
        is_decoder: use a causal self-attention mask (for `RoFormerForCausalLM`).
        add_cross_attention: add cross-attention layers over `encoder_hidden_states` (a
            decoder only; see `BertStyleBackbone`).
        dtype: dtype policy.

    Examples:
    >>> import numpy as np
    >>> model = RoFormerBackbone(vocab_size=50, embedding_size=4, hidden_size=8,
    ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
    ...     max_position_embeddings=32)
    >>> model(np.array([[2, 5, 6, 3, 0]]))["last_hidden_state"].shape
    (1, 5, 8)
    """

    model_type = "roformer"

    def __init__(
        self,
        vocab_size=50000,
        embedding_size=None,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=1536,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        initializer_range=0.02,
        rotary_value=False,
        is_decoder=False,
        add_cross_attention=False,
        dtype=None,
        **kwargs,
    ):
        embedding_size = hidden_size if embedding_size is None else embedding_size
        embeddings = TransformerEmbeddings(
            vocab_size,
            embedding_size,
            max_position_embeddings=0,
            type_vocab_size=type_vocab_size,
            layer_norm_eps=layer_norm_eps,
            dropout=hidden_dropout_prob,
            projection_size=hidden_size if embedding_size != hidden_size else None,
            initializer_range=initializer_range,
            dtype=dtype,
            name="embeddings",
        )
        # One table shared by every layer, as transformers' `encoder.embed_positions`.
        rotary = RotaryEmbedding(
            max_position_embeddings, layout="interleaved", dtype=dtype, name="rotary_embedding"
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
            add_pooling_layer=False,
            is_decoder=is_decoder,
            add_cross_attention=add_cross_attention,
            use_token_type_ids=type_vocab_size > 0,
            use_position_ids=False,
            rotary_embedding=rotary,
            rotary_value=rotary_value,
            dtype=dtype,
            **kwargs,
        )
        self.rotary_embedding = rotary
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.pad_token_id = pad_token_id
        self.rotary_value = rotary_value

    def max_lengths(self):
        # transformers' rotary table has `max_position_embeddings` rows and longer inputs fail
        # there; refuse them here too rather than reading past the table.
        return {"input_ids": self.max_position_embeddings}

    def get_config(self):
        config = super().get_config()
        config.pop("add_pooling_layer")  # never a pooler
        config.update(
            vocab_size=self.vocab_size,
            embedding_size=self.embedding_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            pad_token_id=self.pad_token_id,
            rotary_value=self.rotary_value,
        )
        return config

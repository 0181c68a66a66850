"""Reusable Keras layers; each works alone inside a functional model."""

from keras_models.layers.activations import get_activation
from keras_models.layers.attention import MultiHeadAttention
from keras_models.layers.decoder_block import TransformerDecoderBlock, causal_attention_mask
from keras_models.layers.dropout import Dropout
from keras_models.layers.embeddings import ReversibleEmbedding, TransformerEmbeddings
from keras_models.layers.encoder_block import TransformerEncoderBlock
from keras_models.layers.heads import (
    ChoiceHead,
    ClassificationHead,
    MaskedLMHead,
    NextSentenceHead,
    SpanHead,
)
from keras_models.layers.position_ids import (
    absolute_position_ids,
    mask_position_ids,
    padding_aware_position_ids,
)
from keras_models.layers.rocbert_embeddings import RoCBertEmbeddings
from keras_models.layers.rotary_embedding import RotaryEmbedding
from keras_models.layers.sinusoidal_embedding import (
    SinusoidalPositionEmbedding,
    sinusoidal_table,
)

__all__ = [
    "ChoiceHead",
    "Dropout",
    "ClassificationHead",
    "MaskedLMHead",
    "MultiHeadAttention",
    "NextSentenceHead",
    "ReversibleEmbedding",
    "RoCBertEmbeddings",
    "RotaryEmbedding",
    "SinusoidalPositionEmbedding",
    "SpanHead",
    "TransformerDecoderBlock",
    "TransformerEmbeddings",
    "TransformerEncoderBlock",
    "absolute_position_ids",
    "causal_attention_mask",
    "get_activation",
    "mask_position_ids",
    "padding_aware_position_ids",
    "sinusoidal_table",
]

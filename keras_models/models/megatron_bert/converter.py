"""MegatronBERT checkpoint conversion (`model_type` "megatron-bert").

Weights live under `bert.`; each layer is pre-LN (`attention.ln`, `ln`) and the encoder ends
with `encoder.ln`. The heads are BERT's `cls.predictions` and `cls.seq_relationship`.
"""

from keras_models.models.megatron_bert.backbone import MegatronBertBackbone
from keras_models.presets.converter import (
    BERT_EMBEDDINGS,
    BERT_LINEARS,
    CROSS_ATTENTION_LINEARS,
    POOLER,
    Converter,
)
from keras_models.presets.weight_table import layer_norm


class MegatronBertConverter(Converter):
    model_type = "megatron-bert"
    backbone_cls = MegatronBertBackbone
    prefix = "bert."
    # BERT's layer with the LayerNorms moved before attention and the feed-forward.
    weights = (
        *BERT_EMBEDDINGS,
        *BERT_LINEARS,
        layer_norm("{p}encoder.layer.{i}.attention.ln", "encoder_layers[{i}].attention_layer_norm"),
        layer_norm("{p}encoder.layer.{i}.ln", "encoder_layers[{i}].output_layer_norm"),
        # A decoder's cross-attention, pre-LN as its self-attention (`crossattention.ln`).
        *CROSS_ATTENTION_LINEARS,
        layer_norm(
            "{p}encoder.layer.{i}.crossattention.ln",
            "encoder_layers[{i}].cross_attention_layer_norm",
        ),
        layer_norm("{p}encoder.ln", "final_norm"),
        *POOLER,
    )

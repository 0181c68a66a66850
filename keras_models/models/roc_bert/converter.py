"""RoCBert checkpoint conversion (`model_type` "roc_bert")."""

from keras_models.models.roc_bert.backbone import RoCBertBackbone
from keras_models.presets.converter import BERT_ENCODER, Converter
from keras_models.presets.weight_table import dense, embedding


class RoCBertConverter(Converter):
    model_type = "roc_bert"
    backbone_cls = RoCBertBackbone
    prefix = "roc_bert."
    weights = (
        *BERT_ENCODER,
        # The glyph-shape and pronunciation tables, and the layer that maps the concatenated
        # embeddings back to `hidden_size` (`concat_input=True` only).
        embedding("{p}embeddings.shape_embed", "embeddings.shape_embed"),
        embedding("{p}embeddings.pronunciation_embed", "embeddings.pronunciation_embed"),
        dense("{p}embeddings.map_inputs_layer", "embeddings.map_inputs_layer"),
    )

    def backbone_kwargs(self, hf_config):
        kwargs = super().backbone_kwargs(hf_config)
        if kwargs["pad_token_id"] is None:
            kwargs["pad_token_id"] = 0
        return kwargs

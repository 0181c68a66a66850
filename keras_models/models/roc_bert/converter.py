"""RoCBert checkpoint conversion (`model_type` "roc_bert")."""

from keras_models.models.roc_bert.backbone import RoCBertBackbone
from keras_models.presets.converter import Converter, port_post_ln_layers, register_converter

_HF_DEFAULTS = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "initializer_range": 0.02,
    "enable_pronunciation": True,
    "enable_shape": True,
    "pronunciation_embed_dim": 768,
    "pronunciation_vocab_size": 910,
    "shape_embed_dim": 512,
    "shape_vocab_size": 24858,
    "concat_input": True,
    "is_decoder": False,
}


@register_converter
class RoCBertConverter(Converter):
    model_type = "roc_bert"
    backbone_cls = RoCBertBackbone
    prefix = "roc_bert."
    lm_prefix = "cls.predictions"
    hf_defaults = _HF_DEFAULTS
    backbone_fields = tuple(_HF_DEFAULTS)

    def backbone_kwargs(self, hf_config):
        kwargs = super().backbone_kwargs(hf_config)
        if kwargs["pad_token_id"] is None:
            kwargs["pad_token_id"] = 0
        return kwargs

    def port_backbone(self, backbone, porter, prefix):
        emb = backbone.embeddings
        p = f"{prefix}embeddings."
        porter.embedding(emb.word_embeddings, p + "word_embeddings")
        porter.embedding(emb.shape_embed, p + "shape_embed")
        porter.embedding(emb.pronunciation_embed, p + "pronunciation_embed")
        porter.embedding(emb.position_embeddings, p + "position_embeddings")
        porter.embedding(emb.token_type_embeddings, p + "token_type_embeddings")
        if emb.map_inputs_layer is not None:
            porter.dense(emb.map_inputs_layer, p + "map_inputs_layer")
        porter.layer_norm(emb.layer_norm, p + "LayerNorm")
        port_post_ln_layers(backbone.encoder_layers, porter, prefix)
        if backbone.pooler is not None and porter.has(f"{prefix}pooler.dense.weight"):
            porter.dense(backbone.pooler, f"{prefix}pooler.dense")

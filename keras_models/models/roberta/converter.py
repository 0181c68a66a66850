"""RoBERTa checkpoint conversion (`model_type` "roberta")."""

from keras_models.models.roberta.backbone import RobertaBackbone
from keras_models.presets.converter import Converter, port_post_ln_layers, register_converter

_BACKBONE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "layer_norm_eps",
    "pad_token_id",
    "initializer_range",
    "is_decoder",
)


@register_converter
class RobertaConverter(Converter):
    model_type = "roberta"
    backbone_fields = _BACKBONE_FIELDS
    backbone_cls = RobertaBackbone
    prefix = "roberta."
    lm_prefix = "lm_head"
    hf_defaults = {
        "vocab_size": 50265,
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
        "pad_token_id": 1,
        "initializer_range": 0.02,
        "is_decoder": False,
    }

    def port_backbone(self, backbone, porter, prefix):
        emb = backbone.embeddings
        p = f"{prefix}embeddings."
        porter.embedding(emb.word_embeddings, p + "word_embeddings")
        porter.embedding(emb.position_embeddings, p + "position_embeddings")
        if emb.token_type_embeddings is not None:
            porter.embedding(emb.token_type_embeddings, p + "token_type_embeddings")
        porter.layer_norm(emb.layer_norm, p + "LayerNorm")
        port_post_ln_layers(backbone.encoder_layers, porter, prefix)
        if backbone.pooler is not None and porter.has(f"{prefix}pooler.dense.weight"):
            porter.dense(backbone.pooler, f"{prefix}pooler.dense")

    def port_lm_head(self, head, porter):
        # RoBERTa's head: lm_head.{dense, layer_norm, bias, decoder (tied)}.
        porter.dense(head.dense, "lm_head.dense")
        porter.layer_norm(head.layer_norm, "lm_head.layer_norm")
        porter.port(head.bias, "lm_head.bias", "lm_head.decoder.bias")
        porter.skip_tied("lm_head.decoder.weight")

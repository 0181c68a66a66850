"""RoBERTa checkpoint conversion (`model_type` "roberta")."""

from keras_models.models.roberta.backbone import RobertaBackbone
from keras_models.presets.converter import BERT_ENCODER, Converter
from keras_models.presets.weight_table import Head, dense, layer_norm, param, tied

#: RoBERTa's LM head, `lm_head.{dense, layer_norm, bias, decoder}` (the decoder is the tied
#: word table), in place of BERT's `cls.predictions`.
LM_HEAD = Head(
    (
        dense("lm_head.dense", "lm_head.dense"),
        layer_norm("lm_head.layer_norm", "lm_head.layer_norm"),
        param(("lm_head.bias", "lm_head.decoder.bias"), "lm_head.bias"),
        tied("lm_head.decoder.weight", "lm_head.token_embedding.embeddings"),
    ),
    prefixes=("lm_head.",),
    layer="lm_head",
)


class RobertaConverter(Converter):
    model_type = "roberta"
    backbone_cls = RobertaBackbone
    prefix = "roberta."
    # Our defaults are roberta-base's; transformers' RobertaConfig keeps BERT's.
    hf_defaults = {"max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12}
    weights = BERT_ENCODER

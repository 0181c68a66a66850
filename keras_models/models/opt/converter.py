"""OPT checkpoint conversion (`model_type` "opt")."""

from keras_models.models.opt.backbone import OPTBackbone
from keras_models.presets.converter import Converter
from keras_models.presets.weight_table import Head, dense, embedding, layer_norm

_LAYER = "{p}decoder.layers.{i}."
_BLOCK = "decoder_layers[{i}]."

#: OPTForSequenceClassification's bias-free `score` Linear.
SCORE_HEAD = Head((dense("score", "classifier.out_proj"),))


class OPTConverter(Converter):
    model_type = "opt"
    backbone_cls = OPTBackbone
    prefix = "model."
    # transformers' OPT hard-codes LayerNorm's 1e-5; the argument is for Keras users.
    keras_only_arguments = ("layer_norm_eps",)
    # `project_in` / `project_out` exist only when `word_embed_proj_dim != hidden_size`, the
    # final LayerNorm only for pre-LN models that keep it (absent layers skip their rows).
    weights = (
        embedding("{p}decoder.embed_tokens", "embed_tokens"),
        embedding("{p}decoder.embed_positions", "embed_positions"),
        dense("{p}decoder.project_in", "project_in"),
        dense("{p}decoder.project_out", "project_out"),
        layer_norm("{p}decoder.final_layer_norm", "final_layer_norm"),
        dense(_LAYER + "self_attn.q_proj", _BLOCK + "self_attn.query_dense"),
        dense(_LAYER + "self_attn.k_proj", _BLOCK + "self_attn.key_dense"),
        dense(_LAYER + "self_attn.v_proj", _BLOCK + "self_attn.value_dense"),
        dense(_LAYER + "self_attn.out_proj", _BLOCK + "self_attn.output_dense"),
        layer_norm(_LAYER + "self_attn_layer_norm", _BLOCK + "self_attn_layer_norm"),
        dense(_LAYER + "fc1", _BLOCK + "fc1"),
        dense(_LAYER + "fc2", _BLOCK + "fc2"),
        layer_norm(_LAYER + "final_layer_norm", _BLOCK + "final_layer_norm"),
    )

"""RoFormer checkpoint conversion (`model_type` "roformer")."""

import numpy as np

from keras_models.layers.rotary_embedding import sinusoid_table
from keras_models.models.roformer.backbone import RoFormerBackbone
from keras_models.presets.converter import Converter, port_post_ln_layers, register_converter

_BACKBONE_FIELDS = (
    "vocab_size",
    "embedding_size",
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
    "rotary_value",
    "is_decoder",
)

# The checkpoint's table is float32 from a float64 computation, exactly as ours; older tools
# that computed it in float32 differ by a few 1e-5 at the far positions.
_TABLE_ATOL = 1e-4


@register_converter
class RoFormerConverter(Converter):
    model_type = "roformer"
    backbone_fields = _BACKBONE_FIELDS
    backbone_cls = RoFormerBackbone
    prefix = "roformer."
    lm_prefix = "cls.predictions"
    hf_defaults = {
        "vocab_size": 50000,
        "embedding_size": None,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 1536,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "initializer_range": 0.02,
        "rotary_value": False,
        "is_decoder": False,
    }

    def task_kwargs(self, task_cls, hf_config):
        from keras_models.tasks.question_answering import QuestionAnswering

        kwargs = super().task_kwargs(task_cls, hf_config)
        if issubclass(task_cls, QuestionAnswering):
            # RoFormerForQuestionAnswering forces `num_labels = 2` whatever the config says.
            kwargs["num_labels"] = 2
        return kwargs

    def port_backbone(self, backbone, porter, prefix):
        emb = backbone.embeddings
        p = f"{prefix}embeddings."
        porter.embedding(emb.word_embeddings, p + "word_embeddings")
        if emb.token_type_embeddings is not None:
            porter.embedding(emb.token_type_embeddings, p + "token_type_embeddings")
        porter.layer_norm(emb.layer_norm, p + "LayerNorm")
        if emb.projection is not None:
            porter.dense(emb.projection, f"{prefix}embeddings_project")
        port_post_ln_layers(backbone.encoder_layers, porter, prefix)
        self.check_rotary_table(backbone, porter, prefix)

    def check_rotary_table(self, backbone, porter, prefix):
        """`encoder.embed_positions.weight` is a fixed sinusoid table that the rotary layer
        computes itself; a checkpoint whose table differs would load into a different model."""
        key = f"{prefix}encoder.embed_positions.weight"
        if not porter.has(key):
            return
        stored = np.asarray(porter.get(key), dtype="float64")
        head_dim = backbone.hidden_size // backbone.num_attention_heads
        expected_shape = (backbone.max_position_embeddings, head_dim)
        if stored.shape != expected_shape:
            raise ValueError(
                f"Weight {key!r} in the {porter.source} has shape {stored.shape}; RoFormer's "
                f"rotary table is [max_position_embeddings, head_dim] = {expected_shape}."
            )
        ours = sinusoid_table(*expected_shape, backbone.rotary_embedding.max_wavelength)
        diff = float(np.max(np.abs(stored - ours))) if stored.size else 0.0
        if diff > _TABLE_ATOL:
            raise ValueError(
                f"Weight {key!r} in the {porter.source} is not the standard RoFormer sinusoid "
                f"table (max abs difference {diff:.3g}); this model computes the rotary angles "
                "itself and cannot use a different table."
            )

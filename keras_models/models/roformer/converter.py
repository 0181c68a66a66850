"""RoFormer checkpoint conversion (`model_type` "roformer")."""

from keras_models.layers.rotary_embedding import sinusoid_table
from keras_models.models.roformer.backbone import RoFormerBackbone
from keras_models.presets.converter import BERT_ENCODER, Converter
from keras_models.presets.weight_table import dense, fixed


def _rotary_table(backbone):
    head_dim = backbone.hidden_size // backbone.num_attention_heads
    return sinusoid_table(
        backbone.max_position_embeddings, head_dim, backbone.rotary_embedding.max_wavelength
    )


class RoFormerConverter(Converter):
    model_type = "roformer"
    backbone_cls = RoFormerBackbone
    prefix = "roformer."
    weights = (
        *BERT_ENCODER,
        # Only when `embedding_size != hidden_size`.
        dense("{p}embeddings_project", "embeddings.projection"),
        # `[max_position_embeddings, head_dim]` sinusoids that the rotary layer computes
        # itself; a checkpoint whose table differs would load into a different model. The
        # checkpoint's table is float32 from a float64 computation, exactly as ours; older
        # tools that computed it in float32 differ by a few 1e-5 at the far positions.
        fixed(
            "{p}encoder.embed_positions.weight",
            "",
            _rotary_table,
            atol=1e-4,
            what="the standard RoFormer sinusoid table",
        ),
    )

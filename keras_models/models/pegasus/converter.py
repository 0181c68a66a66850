"""Pegasus checkpoint conversion (`model_type` "pegasus")."""

from keras_models.models.pegasus.backbone import PegasusBackbone
from keras_models.presets.converter import Converter
from keras_models.presets.weight_table import (
    Head,
    dense,
    embedding,
    fixed,
    ignore,
    layer_norm,
    tied,
)

_ATTENTION = (
    ("q_proj", "query_dense"),
    ("k_proj", "key_dense"),
    ("v_proj", "value_dense"),
    ("out_proj", "output_dense"),
)


def _layers(side, attentions, feed_forward):
    """The rows of one side's layers: its attentions (HF name, our attribute) and the rest."""
    hf, keras = f"{{p}}{side}.layers.{{i}}.", f"{side}_layers_list[{{i}}]."
    rows = [
        dense(f"{hf}{name}.{proj}", f"{keras}{ours}.{attr}")
        for name, ours in attentions
        for proj, attr in _ATTENTION
    ]
    rows += [
        layer_norm(f"{hf}{name}_layer_norm", f"{keras}{ours}_layer_norm")
        for name, ours in attentions
    ]
    rows += [(kind(hf + name, keras + ours)) for kind, name, ours in feed_forward]
    return tuple(rows)


def _sinusoids(backbone):
    return backbone.embed_positions.reference_table()


def _encoder_decoder(backbone):
    return backbone.is_encoder_decoder


def _decoder_only(backbone):
    return not backbone.is_encoder_decoder


#: `PegasusForCausalLM`: the tied word table, and no `final_logits_bias` (a seq2seq checkpoint
#: has one, which the decoder-only model leaves out).
CAUSAL_LM_HEAD = Head(
    (
        tied("lm_head.weight", "backbone.token_embedding.embeddings"),
        ignore("final_logits_bias"),
    ),
    prefixes=("{p}",),
)


class PegasusConverter(Converter):
    model_type = "pegasus"
    backbone_cls = PegasusBackbone
    prefix = "model."
    # transformers' Pegasus hard-codes LayerNorm's 1e-5; the argument is for Keras users.
    keras_only_arguments = ("layer_norm_eps",)
    weights = (
        # One word table, saved under any of its tied names; the first is the one
        # transformers writes (`shared` in the seq2seq model, the decoder's own otherwise).
        embedding(
            (
                "{p}shared",
                "{p}encoder.embed_tokens",
                "{p}decoder.embed_tokens",
                "lm_head",
            ),
            "embed_tokens",
            when=_encoder_decoder,
        ),
        embedding(
            ("{p}decoder.embed_tokens", "{p}shared", "{p}encoder.embed_tokens", "lm_head"),
            "embed_tokens",
            when=_decoder_only,
        ),
        # The (frozen) sinusoid tables must be the one we compute; both sides share ours.
        fixed(
            "{p}encoder.embed_positions.weight",
            "embed_positions",
            _sinusoids,
            what="Pegasus' sinusoid table",
            when=_encoder_decoder,
        ),
        fixed(
            "{p}decoder.embed_positions.weight",
            "embed_positions",
            _sinusoids,
            what="Pegasus' sinusoid table",
        ),
        *_layers(
            "encoder",
            (("self_attn", "attention"),),
            (
                (dense, "fc1", "intermediate_dense"),
                (dense, "fc2", "output_dense"),
                (layer_norm, "final_layer_norm", "output_layer_norm"),
            ),
        ),
        layer_norm("{p}encoder.layer_norm", "encoder_layer_norm"),
        # The decoder of a full seq2seq checkpoint: its encoder is not needed.
        ignore("{p}encoder.", when=_decoder_only),
        *_layers(
            "decoder",
            (("self_attn", "self_attn"), ("encoder_attn", "encoder_attn")),
            (
                (dense, "fc1", "fc1"),
                (dense, "fc2", "fc2"),
                (layer_norm, "final_layer_norm", "final_layer_norm"),
            ),
        ),
        layer_norm("{p}decoder.layer_norm", "decoder_layer_norm"),
    )

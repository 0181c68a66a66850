"""Pegasus checkpoint conversion (`model_type` "pegasus")."""

import numpy as np

from keras_models.models.pegasus.backbone import PegasusBackbone
from keras_models.presets.converter import Converter, register_converter
from keras_models.tasks.causal_lm import DecoderCausalLM
from keras_models.tasks.seq2seq_lm import Seq2SeqLM

_BACKBONE_FIELDS = (
    "vocab_size",
    "max_position_embeddings",
    "encoder_layers",
    "encoder_ffn_dim",
    "encoder_attention_heads",
    "decoder_layers",
    "decoder_ffn_dim",
    "decoder_attention_heads",
    "activation_function",
    "d_model",
    "dropout",
    "attention_dropout",
    "activation_dropout",
    "init_std",
    "scale_embedding",
    "pad_token_id",
    "eos_token_id",
    "decoder_start_token_id",
    "forced_eos_token_id",
    "is_encoder_decoder",
)

#: Largest difference allowed between a stored sinusoid table and ours (they are computed the
#: same way, so in practice they are equal bit for bit).
TABLE_ATOL = 1e-6


def _port_attention(porter, attention, key):
    porter.dense(attention.query_dense, key + ".q_proj")
    porter.dense(attention.key_dense, key + ".k_proj")
    porter.dense(attention.value_dense, key + ".v_proj")
    porter.dense(attention.output_dense, key + ".out_proj")


@register_converter
class PegasusConverter(Converter):
    model_type = "pegasus"
    backbone_fields = _BACKBONE_FIELDS
    backbone_cls = PegasusBackbone
    prefix = "model."
    hf_defaults = {
        "vocab_size": 50265,
        "max_position_embeddings": 1024,
        "encoder_layers": 12,
        "encoder_ffn_dim": 4096,
        "encoder_attention_heads": 16,
        "decoder_layers": 12,
        "decoder_ffn_dim": 4096,
        "decoder_attention_heads": 16,
        "activation_function": "gelu",
        "d_model": 1024,
        "dropout": 0.1,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "init_std": 0.02,
        "scale_embedding": False,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
        "forced_eos_token_id": 1,
        "is_encoder_decoder": True,
    }

    def _check_positions(self, backbone, porter, key):
        """The stored (frozen) sinusoid table must be the one we compute."""
        if not porter.has(key):
            return
        stored = np.asarray(porter.get(key), dtype="float32")
        ours = backbone.embed_positions.reference_table()
        if stored.shape != ours.shape:
            raise ValueError(
                f"Weight {key!r} in the {porter.source} has shape {stored.shape}; the "
                f"sinusoid table of this config is {ours.shape}."
            )
        diff = float(np.max(np.abs(stored - ours))) if stored.size else 0.0
        if diff > TABLE_ATOL:
            raise ValueError(
                f"Weight {key!r} in the {porter.source} is not Pegasus' sinusoid table (max "
                f"difference {diff:.3g}); this converter only supports the fixed table."
            )

    def port_backbone(self, backbone, porter, prefix):
        p = prefix
        self._check_positions(backbone, porter, f"{p}decoder.embed_positions.weight")
        porter.mark_set(backbone.embed_positions)
        if backbone.is_encoder_decoder:
            porter.embedding(
                backbone.embed_tokens,
                f"{p}shared",
                f"{p}encoder.embed_tokens",
                f"{p}decoder.embed_tokens",
                "lm_head",
            )
            self._check_positions(backbone, porter, f"{p}encoder.embed_positions.weight")
            for i, block in enumerate(backbone.encoder_layers_list):
                q = f"{p}encoder.layers.{i}."
                _port_attention(porter, block.attention, q + "self_attn")
                porter.layer_norm(block.attention_layer_norm, q + "self_attn_layer_norm")
                porter.dense(block.intermediate_dense, q + "fc1")
                porter.dense(block.output_dense, q + "fc2")
                porter.layer_norm(block.output_layer_norm, q + "final_layer_norm")
            porter.layer_norm(backbone.encoder_layer_norm, f"{p}encoder.layer_norm")
        else:
            porter.embedding(
                backbone.embed_tokens, f"{p}decoder.embed_tokens", f"{p}shared", "lm_head"
            )
            # The decoder of a full seq2seq checkpoint: its encoder is not needed.
            porter.used.update(porter.unused_keys(f"{p}encoder."))
            porter.skip_tied(f"{p}shared.weight")
        for i, block in enumerate(backbone.decoder_layers_list):
            q = f"{p}decoder.layers.{i}."
            _port_attention(porter, block.self_attn, q + "self_attn")
            porter.layer_norm(block.self_attn_layer_norm, q + "self_attn_layer_norm")
            _port_attention(porter, block.encoder_attn, q + "encoder_attn")
            porter.layer_norm(block.encoder_attn_layer_norm, q + "encoder_attn_layer_norm")
            porter.dense(block.fc1, q + "fc1")
            porter.dense(block.fc2, q + "fc2")
            porter.layer_norm(block.final_layer_norm, q + "final_layer_norm")
        porter.layer_norm(backbone.decoder_layer_norm, f"{p}decoder.layer_norm")

    def head_key_prefixes(self, task):
        if isinstance(task, (Seq2SeqLM, DecoderCausalLM)):
            # The LM head is the word table itself (`lm_head.weight` is tied and often not
            # saved), so any task checkpoint (`model.*`) carries it.
            return (self.prefix,)
        return super().head_key_prefixes(task)

    def port_head(self, task, porter):
        if isinstance(task, Seq2SeqLM):
            if porter.has("final_logits_bias"):
                porter.port(
                    task.final_logits_bias.bias,
                    "final_logits_bias",
                    transform=lambda b: np.reshape(b, (-1,)),
                )
            else:
                # transformers treats a missing bias as zeros (`_keys_to_ignore_on_load_missing`).
                porter.mark_set(task.final_logits_bias)
            porter.skip_tied("lm_head.weight")
        elif isinstance(task, DecoderCausalLM):
            porter.skip_tied("lm_head.weight", "final_logits_bias")
        else:
            super().port_head(task, porter)

"""MegatronBERT checkpoint conversion (`model_type` "megatron-bert").

Weights live under `bert.`; each layer is pre-LN (`attention.ln`, `ln`) and the encoder ends
with `encoder.ln`. The LM head is BERT's `cls.predictions` (tied decoder, separate bias) and the
next-sentence head is `cls.seq_relationship`.
"""

import warnings

from keras_models.models.megatron_bert.backbone import MegatronBertBackbone
from keras_models.presets.converter import Converter, register_converter
from keras_models.tasks.next_sentence import NextSentencePrediction
from keras_models.tasks.pretraining import Pretraining

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

NSP_PREFIX = "cls.seq_relationship"


def port_pre_ln_layers(blocks, porter, prefix):
    """Megatron's pre-LN layer names (`attention.ln`, `ln`) onto `TransformerEncoderBlock`s."""
    for i, block in enumerate(blocks):
        p = f"{prefix}encoder.layer.{i}."
        attention = block.attention
        porter.layer_norm(block.attention_layer_norm, p + "attention.ln")
        porter.dense(attention.query_dense, p + "attention.self.query")
        porter.dense(attention.key_dense, p + "attention.self.key")
        porter.dense(attention.value_dense, p + "attention.self.value")
        porter.dense(attention.output_dense, p + "attention.output.dense")
        porter.layer_norm(block.output_layer_norm, p + "ln")
        porter.dense(block.intermediate_dense, p + "intermediate.dense")
        porter.dense(block.output_dense, p + "output.dense")


@register_converter
class MegatronBertConverter(Converter):
    model_type = "megatron-bert"
    backbone_fields = _BACKBONE_FIELDS
    backbone_cls = MegatronBertBackbone
    prefix = "bert."
    lm_prefix = "cls.predictions"
    hf_defaults = {
        "vocab_size": 29056,
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
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
        port_pre_ln_layers(backbone.encoder_layers, porter, prefix)
        porter.layer_norm(backbone.final_norm, f"{prefix}encoder.ln")
        if backbone.pooler is not None and porter.has(f"{prefix}pooler.dense.weight"):
            porter.dense(backbone.pooler, f"{prefix}pooler.dense")

    def head_key_prefixes(self, task):
        if isinstance(task, NextSentencePrediction):
            return (f"{NSP_PREFIX}.",)
        if isinstance(task, Pretraining):
            return (f"{self.lm_prefix}.", f"{NSP_PREFIX}.")
        return super().head_key_prefixes(task)

    def port_head(self, task, porter):
        if isinstance(task, NextSentencePrediction):
            porter.dense(task.seq_relationship.dense, NSP_PREFIX)
        elif isinstance(task, Pretraining):
            # A masked-LM-only checkpoint still fills the LM head; the other head starts fresh,
            # as transformers does when one of the two heads is missing.
            if porter.has_prefix(f"{self.lm_prefix}."):
                self.port_lm_head(task.lm_head, porter)
            else:
                self._fresh(task.lm_head, porter)
            if task.seq_relationship is None:
                pass  # `add_binary_head=False`: NSP weights are reported as unused
            elif porter.has_prefix(f"{NSP_PREFIX}."):
                porter.dense(task.seq_relationship.dense, NSP_PREFIX)
            else:
                self._fresh(task.seq_relationship, porter)
        else:
            super().port_head(task, porter)

    @staticmethod
    def _fresh(layer, porter):
        warnings.warn(
            f"The {porter.source} has no weights for the `{layer.name}` head; it is freshly "
            "initialised and needs training.",
            stacklevel=4,
        )
        porter.mark_set(layer)

"""OPT checkpoint conversion (`model_type` "opt")."""

from keras_models.models.opt.backbone import OPTBackbone
from keras_models.presets.converter import Converter, register_converter
from keras_models.tasks.causal_lm import DecoderCausalLM
from keras_models.tasks.question_answering import QuestionAnswering
from keras_models.tasks.sequence_classification import SequenceClassification

_BACKBONE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "ffn_dim",
    "num_attention_heads",
    "max_position_embeddings",
    "do_layer_norm_before",
    "_remove_final_layer_norm",
    "word_embed_proj_dim",
    "dropout",
    "attention_dropout",
    "activation_function",
    "init_std",
    "pad_token_id",
    "enable_bias",
    "layer_norm_elementwise_affine",
)


@register_converter
class OPTConverter(Converter):
    model_type = "opt"
    backbone_fields = _BACKBONE_FIELDS
    backbone_cls = OPTBackbone
    prefix = "model."
    hf_defaults = {
        "vocab_size": 50272,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "ffn_dim": 3072,
        "num_attention_heads": 12,
        "max_position_embeddings": 2048,
        "do_layer_norm_before": True,
        "_remove_final_layer_norm": False,
        "word_embed_proj_dim": None,
        "dropout": 0.1,
        "attention_dropout": 0.0,
        "activation_function": "relu",
        "init_std": 0.02,
        "pad_token_id": 1,
        "enable_bias": True,
        "layer_norm_elementwise_affine": True,
    }

    def task_kwargs(self, task_cls, hf_config):
        kwargs = super().task_kwargs(task_cls, hf_config)
        if issubclass(task_cls, QuestionAnswering):
            # OPT's `qa_outputs` is always Linear(P, 2), whatever `num_labels` says.
            kwargs["num_labels"] = 2
        return kwargs

    def port_backbone(self, backbone, porter, prefix):
        p = f"{prefix}decoder."
        porter.embedding(backbone.embed_tokens, p + "embed_tokens")
        porter.embedding(backbone.embed_positions, p + "embed_positions")
        if backbone.project_in is not None:
            porter.dense(backbone.project_in, p + "project_in")
            porter.dense(backbone.project_out, p + "project_out")
        if backbone.final_layer_norm is not None:
            porter.layer_norm(backbone.final_layer_norm, p + "final_layer_norm")
        for i, block in enumerate(backbone.decoder_layers):
            q = f"{p}layers.{i}."
            attention = block.self_attn
            porter.dense(attention.query_dense, q + "self_attn.q_proj")
            porter.dense(attention.key_dense, q + "self_attn.k_proj")
            porter.dense(attention.value_dense, q + "self_attn.v_proj")
            porter.dense(attention.output_dense, q + "self_attn.out_proj")
            porter.layer_norm(block.self_attn_layer_norm, q + "self_attn_layer_norm")
            porter.dense(block.fc1, q + "fc1")
            porter.dense(block.fc2, q + "fc2")
            porter.layer_norm(block.final_layer_norm, q + "final_layer_norm")

    def head_key_prefixes(self, task):
        if isinstance(task, DecoderCausalLM):
            # The LM head is the word table itself (`lm_head.weight` is tied and often not
            # saved), so any task checkpoint (`model.*`) carries it.
            return (self.prefix,)
        if isinstance(task, SequenceClassification):
            return ("score.",)
        return super().head_key_prefixes(task)

    def port_head(self, task, porter):
        if isinstance(task, DecoderCausalLM):
            porter.skip_tied("lm_head.weight")
        elif isinstance(task, SequenceClassification):
            porter.dense(task.classifier.out_proj, "score")
        else:
            super().port_head(task, porter)

"""One tiny transformers checkpoint per family, for the tests that cover every family
(hub loading, the convert command). Each entry: family -> (preset name, hub repo, transformers
model class name, config class name, config kwargs, our backbone class name)."""

import numpy as np

IDS = np.array([[0, 5, 6, 7, 2], [0, 8, 9, 2, 1]], dtype="int32")

FAMILIES = {
    "megatron_bert": (
        "megatron_bert_cased_345m",
        "nvidia/megatron-bert-cased-345m",
        "MegatronBertModel",
        "MegatronBertConfig",
        dict(
            vocab_size=60,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=20,
            max_position_embeddings=20,
        ),
        "MegatronBertBackbone",
    ),
    "opt": (
        "opt_125m",
        "facebook/opt-125m",
        "OPTModel",
        "OPTConfig",
        dict(
            vocab_size=60,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            ffn_dim=20,
            max_position_embeddings=20,
            word_embed_proj_dim=8,
        ),
        "OPTBackbone",
    ),
    "pegasus": (
        "pegasus_xsum",
        "google/pegasus-xsum",
        "PegasusModel",
        "PegasusConfig",
        dict(
            vocab_size=60,
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=20,
            decoder_ffn_dim=20,
            max_position_embeddings=20,
            scale_embedding=True,
            activation_function="relu",
        ),
        "PegasusBackbone",
    ),
    "roc_bert": (
        "roc_bert_base_zh",
        "weiweishi/roc-bert-base-zh",
        "RoCBertModel",
        "RoCBertConfig",
        dict(
            vocab_size=60,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=20,
            max_position_embeddings=20,
            shape_vocab_size=23,
            shape_embed_dim=12,
            pronunciation_vocab_size=17,
            pronunciation_embed_dim=10,
        ),
        "RoCBertBackbone",
    ),
    "roberta": (
        "roberta_base",
        "FacebookAI/roberta-base",
        "RobertaModel",
        "RobertaConfig",
        dict(
            vocab_size=60,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=20,
            max_position_embeddings=20,
        ),
        "RobertaBackbone",
    ),
    "roformer": (
        "roformer_chinese_base",
        "junnyu/roformer_chinese_base",
        "RoFormerModel",
        "RoFormerConfig",
        dict(
            vocab_size=60,
            embedding_size=12,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=20,
            max_position_embeddings=20,
            rotary_value=True,
        ),
        "RoFormerBackbone",
    ),
}


def make_checkpoint(family, directory):
    import transformers

    from tests.helpers import save_hf

    _, _, model_name, config_name, kwargs, _ = FAMILIES[family]
    config = getattr(transformers, config_name)(**kwargs)
    return save_hf(getattr(transformers, model_name), config, directory)


def family_inputs(family):
    """Inputs for the family's backbone (Pegasus also needs decoder ids)."""
    if family == "pegasus":
        return {"input_ids": IDS, "decoder_input_ids": IDS}
    return {"input_ids": IDS}

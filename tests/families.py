"""One tiny transformers checkpoint per family, for the tests that cover every family
(hub loading, the convert command). Each entry: family -> (preset name, hub repo, transformers
model class name, config class name, config kwargs, our backbone class name)."""

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

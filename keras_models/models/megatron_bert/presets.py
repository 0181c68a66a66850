"""Registered MegatronBERT checkpoints."""

from keras_models.presets.registry import Preset, register_presets

register_presets(
    Preset(
        "megatron_bert_cased_345m",
        "megatron_bert",
        "nvidia/megatron-bert-cased-345m",
        None,
        345_000_000,
        "MegatronBERT 345M, 24 layers, English, cased vocabulary.",
    ),
    Preset(
        "megatron_bert_uncased_345m",
        "megatron_bert",
        "nvidia/megatron-bert-uncased-345m",
        None,
        345_000_000,
        "MegatronBERT 345M, 24 layers, English, uncased vocabulary.",
    ),
)

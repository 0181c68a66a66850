"""Registered RoCBert checkpoints."""

from keras_models.presets.registry import Preset

PRESETS = (
    Preset(
        "roc_bert_base_zh",
        "roc_bert",
        "weiweishi/roc-bert-base-zh",
        None,
        117_000_000,
        "RoCBert base, 12 layers, Chinese, word + glyph-shape + pronunciation embeddings.",
    ),
)

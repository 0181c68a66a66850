"""Registered RoFormer checkpoints.

`junnyu/roformer_v2_chinese_char_base` is not listed: RoFormer-V2 is another architecture
(no biases, parameter-free norms) that transformers' `RoFormerModel` does not implement.
"""

from keras_models.presets.registry import Preset

PRESETS = (
    Preset(
        "roformer_chinese_base",
        "roformer",
        "junnyu/roformer_chinese_base",
        "masked_lm",
        124_000_000,
        "RoFormer base, 12 layers, Chinese word-level (jieba + WordPiece), MLM head.",
    ),
    Preset(
        "roformer_chinese_small",
        "roformer",
        "junnyu/roformer_chinese_small",
        "masked_lm",
        30_000_000,
        "RoFormer small, 6 layers, hidden 384, Chinese word-level, MLM head.",
    ),
    Preset(
        "roformer_chinese_char_base",
        "roformer",
        "junnyu/roformer_chinese_char_base",
        "masked_lm",
        95_000_000,
        "RoFormer base, 12 layers, Chinese character-level, MLM head.",
    ),
)

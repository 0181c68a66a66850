"""Registered OPT checkpoints."""

from keras_models.presets.registry import Preset

PRESETS = (
    Preset(
        "opt_125m",
        "opt",
        "facebook/opt-125m",
        "causal_lm",
        125_000_000,
        "OPT 125M, 12 layers, pre-LN, English byte-level BPE.",
    ),
    Preset(
        "opt_350m",
        "opt",
        "facebook/opt-350m",
        "causal_lm",
        331_000_000,
        "OPT 350M, 24 layers, post-LN, 512-wide word table with project_in/out.",
    ),
    Preset(
        "opt_1.3b",
        "opt",
        "facebook/opt-1.3b",
        "causal_lm",
        1_316_000_000,
        "OPT 1.3B, 24 layers, pre-LN.",
    ),
    Preset(
        "opt_2.7b",
        "opt",
        "facebook/opt-2.7b",
        "causal_lm",
        2_652_000_000,
        "OPT 2.7B, 32 layers, pre-LN.",
    ),
    Preset(
        "opt_6.7b",
        "opt",
        "facebook/opt-6.7b",
        "causal_lm",
        6_658_000_000,
        "OPT 6.7B, 32 layers, pre-LN.",
    ),
)

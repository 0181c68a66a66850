"""Registered RoBERTa checkpoints."""

from keras_models.presets.registry import Preset

PRESETS = (
    Preset(
        "roberta_base",
        "roberta",
        "FacebookAI/roberta-base",
        None,
        125_000_000,
        "RoBERTa base, 12 layers, English, cased byte-level BPE.",
    ),
    Preset(
        "roberta_large",
        "roberta",
        "FacebookAI/roberta-large",
        None,
        355_000_000,
        "RoBERTa large, 24 layers, English.",
    ),
    Preset(
        "roberta_base_squad2",
        "roberta",
        "deepset/roberta-base-squad2",
        "question_answering",
        124_000_000,
        "RoBERTa base fine-tuned on SQuAD 2.0 (extractive QA head).",
    ),
)

"""Pegasus: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.pegasus.backbone import PegasusBackbone
from keras_models.models.pegasus.converter import PegasusConverter
from keras_models.models.pegasus.presets import PRESETS
from keras_models.models.pegasus.tasks import (
    PegasusForCausalLM,
    PegasusForConditionalGeneration,
)
from keras_models.presets.families import Family, register_family
from keras_models.tokenizers.sentencepiece import PegasusTokenizer

FAMILY = register_family(
    Family(
        name="pegasus",
        model_type="pegasus",
        backbone=PegasusBackbone,
        converter=PegasusConverter(),
        tokenizer=PegasusTokenizer,
        tasks=(
            PegasusForConditionalGeneration,
            PegasusForCausalLM,
        ),
        presets=PRESETS,
    )
)

"""RoFormer: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.roformer.backbone import RoFormerBackbone
from keras_models.models.roformer.converter import RoFormerConverter
from keras_models.models.roformer.presets import PRESETS
from keras_models.models.roformer.tasks import (
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForMultipleChoice,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
)
from keras_models.presets.families import Family, register_family
from keras_models.tokenizers.wordpiece import RoFormerTokenizer

FAMILY = register_family(
    Family(
        name="roformer",
        model_type="roformer",
        backbone=RoFormerBackbone,
        converter=RoFormerConverter(),
        tokenizer=RoFormerTokenizer,
        tasks=(
            RoFormerForQuestionAnswering,
            RoFormerForSequenceClassification,
            RoFormerForTokenClassification,
            RoFormerForMultipleChoice,
            RoFormerForMaskedLM,
            RoFormerForCausalLM,
        ),
        presets=PRESETS,
    )
)

"""RoCBert: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.roc_bert.backbone import RoCBertBackbone
from keras_models.models.roc_bert.converter import RoCBertConverter
from keras_models.models.roc_bert.presets import PRESETS
from keras_models.models.roc_bert.tasks import (
    RoCBertForCausalLM,
    RoCBertForMaskedLM,
    RoCBertForMultipleChoice,
    RoCBertForPreTraining,
    RoCBertForQuestionAnswering,
    RoCBertForSequenceClassification,
    RoCBertForTokenClassification,
)
from keras_models.presets.families import Family, register_family
from keras_models.tokenizers.wordpiece import RoCBertTokenizer

FAMILY = register_family(
    Family(
        name="roc_bert",
        model_type="roc_bert",
        backbone=RoCBertBackbone,
        converter=RoCBertConverter(),
        tokenizer=RoCBertTokenizer,
        tasks=(
            RoCBertForQuestionAnswering,
            RoCBertForSequenceClassification,
            RoCBertForTokenClassification,
            RoCBertForMultipleChoice,
            RoCBertForMaskedLM,
            RoCBertForCausalLM,
            RoCBertForPreTraining,
        ),
        presets=PRESETS,
    )
)

"""RoBERTa: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.roberta.backbone import RobertaBackbone
from keras_models.models.roberta.converter import RobertaConverter
from keras_models.models.roberta.presets import PRESETS
from keras_models.models.roberta.tasks import (
    RobertaForCausalLM,
    RobertaForMaskedLM,
    RobertaForMultipleChoice,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
)
from keras_models.presets.families import Family, register_family
from keras_models.tokenizers.bpe import RobertaTokenizer

FAMILY = register_family(
    Family(
        name="roberta",
        model_type="roberta",
        backbone=RobertaBackbone,
        converter=RobertaConverter(),
        tokenizer=RobertaTokenizer,
        tasks=(
            RobertaForQuestionAnswering,
            RobertaForSequenceClassification,
            RobertaForTokenClassification,
            RobertaForMultipleChoice,
            RobertaForMaskedLM,
            RobertaForCausalLM,
        ),
        presets=PRESETS,
    )
)

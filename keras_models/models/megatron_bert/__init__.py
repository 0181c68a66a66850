"""MegatronBERT: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.megatron_bert.backbone import MegatronBertBackbone
from keras_models.models.megatron_bert.converter import MegatronBertConverter
from keras_models.models.megatron_bert.presets import PRESETS
from keras_models.models.megatron_bert.tasks import (
    MegatronBertForCausalLM,
    MegatronBertForMaskedLM,
    MegatronBertForMultipleChoice,
    MegatronBertForNextSentencePrediction,
    MegatronBertForPreTraining,
    MegatronBertForQuestionAnswering,
    MegatronBertForSequenceClassification,
    MegatronBertForTokenClassification,
)
from keras_models.presets.families import Family, register_family
from keras_models.tokenizers.wordpiece import MegatronBertTokenizer

FAMILY = register_family(
    Family(
        name="megatron_bert",
        model_type="megatron-bert",
        backbone=MegatronBertBackbone,
        converter=MegatronBertConverter(),
        tokenizer=MegatronBertTokenizer,
        tasks=(
            MegatronBertForQuestionAnswering,
            MegatronBertForSequenceClassification,
            MegatronBertForTokenClassification,
            MegatronBertForMultipleChoice,
            MegatronBertForMaskedLM,
            MegatronBertForCausalLM,
            MegatronBertForNextSentencePrediction,
            MegatronBertForPreTraining,
        ),
        presets=PRESETS,
    )
)

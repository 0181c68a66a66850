"""OPT: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.opt.backbone import OPTBackbone
from keras_models.models.opt.converter import OPTConverter
from keras_models.models.opt.presets import PRESETS
from keras_models.models.opt.tasks import (
    OPTForCausalLM,
    OPTForQuestionAnswering,
    OPTForSequenceClassification,
)
from keras_models.presets.families import Family, register_family
from keras_models.tokenizers.bpe import OPTTokenizer

FAMILY = register_family(
    Family(
        name="opt",
        model_type="opt",
        backbone=OPTBackbone,
        converter=OPTConverter(),
        tokenizer=OPTTokenizer,
        tasks=(
            OPTForCausalLM,
            OPTForSequenceClassification,
            OPTForQuestionAnswering,
        ),
        presets=PRESETS,
    )
)

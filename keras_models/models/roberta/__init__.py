from keras_models.models.roberta import converter, presets  # noqa: F401  (registration)
from keras_models.models.roberta.backbone import RobertaBackbone
from keras_models.models.roberta.tasks import (
    RobertaForCausalLM,
    RobertaForMaskedLM,
    RobertaForMultipleChoice,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
)

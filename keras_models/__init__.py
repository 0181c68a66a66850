"""keras_models: Keras 3 RoBERTa, OPT, Pegasus, MegatronBERT, RoCBert and RoFormer."""

from keras_models import layers
from keras_models.models import opt, pegasus, roberta  # noqa: F401  (registers converters and presets)
from keras_models.models.backbone import Backbone
from keras_models.models.opt.backbone import OPTBackbone
from keras_models.models.opt.tasks import (
    OPTForCausalLM,
    OPTForQuestionAnswering,
    OPTForSequenceClassification,
)
from keras_models.models.pegasus.backbone import PegasusBackbone
from keras_models.models.pegasus.tasks import PegasusForCausalLM, PegasusForConditionalGeneration
from keras_models.models.roberta.backbone import RobertaBackbone
from keras_models.models.roberta.tasks import (
    RobertaForCausalLM,
    RobertaForMaskedLM,
    RobertaForMultipleChoice,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
)
from keras_models.models.task import Task
from keras_models.presets.registry import list_presets
from keras_models.tasks.causal_lm import DecoderCausalLM
from keras_models.tasks.masked_lm import CausalLM, MaskedLM
from keras_models.tasks.multiple_choice import MultipleChoice
from keras_models.tasks.question_answering import QuestionAnswering
from keras_models.tasks.seq2seq_lm import Seq2SeqLM
from keras_models.tasks.sequence_classification import SequenceClassification
from keras_models.tasks.token_classification import TokenClassification

__version__ = "0.1.0"

__all__ = [
    "Backbone",
    "CausalLM",
    "DecoderCausalLM",
    "MaskedLM",
    "MultipleChoice",
    "OPTBackbone",
    "OPTForCausalLM",
    "OPTForQuestionAnswering",
    "OPTForSequenceClassification",
    "PegasusBackbone",
    "PegasusForCausalLM",
    "PegasusForConditionalGeneration",
    "QuestionAnswering",
    "RobertaBackbone",
    "RobertaForCausalLM",
    "RobertaForMaskedLM",
    "RobertaForMultipleChoice",
    "RobertaForQuestionAnswering",
    "RobertaForSequenceClassification",
    "RobertaForTokenClassification",
    "Seq2SeqLM",
    "SequenceClassification",
    "Task",
    "TokenClassification",
    "layers",
    "list_presets",
]

"""keras_models: Keras 3 RoBERTa, OPT, Pegasus, MegatronBERT, RoCBert and RoFormer."""

from keras_models import layers, optimizers
from keras_models.generation import BaseStreamer, GenerationConfig, TextStreamer
from keras_models.loading.auto import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

# The families: each folder registers itself in keras_models/presets/families.py, and the
# package exports what the registry holds; a new family is its folder plus its name here.
from keras_models.models import megatron_bert, opt, pegasus, roberta, roc_bert, roformer  # noqa: F401
from keras_models.models.backbone import Backbone
from keras_models.models.task import Task
from keras_models.presets import embedded  # noqa: F401  (registers the embedded presets)
from keras_models.presets.families import families as _families
from keras_models.presets.registry import list_presets
from keras_models.tasks.causal_lm import DecoderCausalLM
from keras_models.tasks.masked_lm import (
    CausalLM,
    MaskedLM,
)
from keras_models.tasks.multiple_choice import MultipleChoice
from keras_models.tasks.next_sentence import NextSentencePrediction
from keras_models.tasks.pretraining import Pretraining
from keras_models.tasks.question_answering import QuestionAnswering
from keras_models.tasks.seq2seq_lm import Seq2SeqLM
from keras_models.tasks.sequence_classification import SequenceClassification
from keras_models.tasks.token_classification import TokenClassification
from keras_models.tokenizers.base import Tokenizer
from keras_models.tokenizers.preprocessors import (
    CausalLMPreprocessor,
    MultipleChoicePreprocessor,
    Preprocessor,
    QuestionAnsweringPreprocessor,
    Seq2SeqLMPreprocessor,
    SequenceClassificationPreprocessor,
    TokenClassificationPreprocessor,
)

__version__ = "0.1.0"

# Every family's backbone, task classes and tokenizer, by their class names.
_FAMILY_CLASSES = {cls.__name__: cls for family in _families() for cls in family.classes}
globals().update(_FAMILY_CLASSES)

__all__ = [
    "AutoModel",
    "AutoModelForCausalLM",
    "AutoModelForMaskedLM",
    "AutoModelForMultipleChoice",
    "AutoModelForNextSentencePrediction",
    "AutoModelForPreTraining",
    "AutoModelForQuestionAnswering",
    "AutoModelForSeq2SeqLM",
    "AutoModelForSequenceClassification",
    "AutoModelForTokenClassification",
    "Backbone",
    "BaseStreamer",
    "CausalLM",
    "CausalLMPreprocessor",
    "DecoderCausalLM",
    "GenerationConfig",
    "MaskedLM",
    "MultipleChoice",
    "MultipleChoicePreprocessor",
    "NextSentencePrediction",
    "Preprocessor",
    "Pretraining",
    "QuestionAnswering",
    "QuestionAnsweringPreprocessor",
    "Seq2SeqLM",
    "Seq2SeqLMPreprocessor",
    "SequenceClassification",
    "SequenceClassificationPreprocessor",
    "Task",
    "TokenClassification",
    "TextStreamer",
    "TokenClassificationPreprocessor",
    "Tokenizer",
    "layers",
    "list_presets",
    "optimizers",
]
__all__ += sorted(_FAMILY_CLASSES)

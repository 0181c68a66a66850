"""keras_models: Keras 3 RoBERTa, OPT, Pegasus, MegatronBERT, RoCBert and RoFormer."""

from keras_models import layers, optimizers
from keras_models.models import (  # noqa: F401  (registers the converters and presets)
    megatron_bert,
    opt,
    pegasus,
    roberta,
    roc_bert,
    roformer,
)
from keras_models.models.backbone import Backbone
from keras_models.models.megatron_bert.backbone import MegatronBertBackbone
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
from keras_models.models.opt.backbone import OPTBackbone
from keras_models.models.opt.tasks import (
    OPTForCausalLM,
    OPTForQuestionAnswering,
    OPTForSequenceClassification,
)
from keras_models.models.pegasus.backbone import PegasusBackbone
from keras_models.models.pegasus.tasks import (
    PegasusForCausalLM,
    PegasusForConditionalGeneration,
)
from keras_models.models.roberta.backbone import RobertaBackbone
from keras_models.models.roberta.tasks import (
    RobertaForCausalLM,
    RobertaForMaskedLM,
    RobertaForMultipleChoice,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
)
from keras_models.models.roc_bert.backbone import RoCBertBackbone
from keras_models.models.roc_bert.tasks import (
    RoCBertForCausalLM,
    RoCBertForMaskedLM,
    RoCBertForMultipleChoice,
    RoCBertForPreTraining,
    RoCBertForQuestionAnswering,
    RoCBertForSequenceClassification,
    RoCBertForTokenClassification,
)
from keras_models.models.roformer.backbone import RoFormerBackbone
from keras_models.models.roformer.tasks import (
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForMultipleChoice,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
)
from keras_models.models.task import Task
from keras_models.presets import embedded  # noqa: F401  (registers the embedded presets)
from keras_models.presets.auto import (
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
from keras_models.tokenizers.bpe import (
    OPTTokenizer,
    RobertaTokenizer,
)
from keras_models.tokenizers.preprocessors import (
    CausalLMPreprocessor,
    MultipleChoicePreprocessor,
    Preprocessor,
    QuestionAnsweringPreprocessor,
    Seq2SeqLMPreprocessor,
    SequenceClassificationPreprocessor,
    TokenClassificationPreprocessor,
)
from keras_models.tokenizers.sentencepiece import PegasusTokenizer
from keras_models.tokenizers.wordpiece import (
    MegatronBertTokenizer,
    RoCBertTokenizer,
    RoFormerTokenizer,
)

__version__ = "0.1.0"

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
    "CausalLM",
    "CausalLMPreprocessor",
    "DecoderCausalLM",
    "MaskedLM",
    "MegatronBertBackbone",
    "MegatronBertForCausalLM",
    "MegatronBertForMaskedLM",
    "MegatronBertForMultipleChoice",
    "MegatronBertForNextSentencePrediction",
    "MegatronBertForPreTraining",
    "MegatronBertForQuestionAnswering",
    "MegatronBertForSequenceClassification",
    "MegatronBertForTokenClassification",
    "MegatronBertTokenizer",
    "MultipleChoice",
    "MultipleChoicePreprocessor",
    "NextSentencePrediction",
    "OPTBackbone",
    "OPTForCausalLM",
    "OPTForQuestionAnswering",
    "OPTForSequenceClassification",
    "OPTTokenizer",
    "PegasusBackbone",
    "PegasusForCausalLM",
    "PegasusForConditionalGeneration",
    "PegasusTokenizer",
    "Preprocessor",
    "Pretraining",
    "QuestionAnswering",
    "QuestionAnsweringPreprocessor",
    "RoCBertBackbone",
    "RoCBertForCausalLM",
    "RoCBertForMaskedLM",
    "RoCBertForMultipleChoice",
    "RoCBertForPreTraining",
    "RoCBertForQuestionAnswering",
    "RoCBertForSequenceClassification",
    "RoCBertForTokenClassification",
    "RoCBertTokenizer",
    "RoFormerBackbone",
    "RoFormerForCausalLM",
    "RoFormerForMaskedLM",
    "RoFormerForMultipleChoice",
    "RoFormerForQuestionAnswering",
    "RoFormerForSequenceClassification",
    "RoFormerForTokenClassification",
    "RoFormerTokenizer",
    "RobertaBackbone",
    "RobertaForCausalLM",
    "RobertaForMaskedLM",
    "RobertaForMultipleChoice",
    "RobertaForQuestionAnswering",
    "RobertaForSequenceClassification",
    "RobertaForTokenClassification",
    "RobertaTokenizer",
    "Seq2SeqLM",
    "Seq2SeqLMPreprocessor",
    "SequenceClassification",
    "SequenceClassificationPreprocessor",
    "Task",
    "TokenClassification",
    "TokenClassificationPreprocessor",
    "Tokenizer",
    "layers",
    "optimizers",
    "list_presets",
]

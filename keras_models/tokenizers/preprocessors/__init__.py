"""Preprocessors: raw text in, model inputs and labels out (and model outputs back to text)."""

from keras_models.tokenizers.preprocessors.base import Preprocessor
from keras_models.tokenizers.preprocessors.classification import (
    SequenceClassificationPreprocessor,
    TokenClassificationPreprocessor,
)
from keras_models.tokenizers.preprocessors.generation import (
    CausalLMPreprocessor,
    Seq2SeqLMPreprocessor,
)
from keras_models.tokenizers.preprocessors.multiple_choice import MultipleChoicePreprocessor
from keras_models.tokenizers.preprocessors.question_answering import (
    QuestionAnsweringPreprocessor,
)

__all__ = [
    "CausalLMPreprocessor",
    "MultipleChoicePreprocessor",
    "Preprocessor",
    "QuestionAnsweringPreprocessor",
    "Seq2SeqLMPreprocessor",
    "SequenceClassificationPreprocessor",
    "TokenClassificationPreprocessor",
]

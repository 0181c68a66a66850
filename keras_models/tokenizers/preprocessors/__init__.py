"""Preprocessors: raw text in, model inputs and labels out (and model outputs back to text)."""

from keras_models.tokenizers.preprocessors.base import Preprocessor
from keras_models.tokenizers.preprocessors.question_answering import (
    QuestionAnsweringPreprocessor,
)

__all__ = ["Preprocessor", "QuestionAnsweringPreprocessor"]

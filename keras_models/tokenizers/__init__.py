"""Tokenizers on the Rust `tokenizers` package, loaded from Hugging Face tokenizer files."""

from keras_models.tokenizers.base import Tokenizer
from keras_models.tokenizers.bpe import OPTTokenizer, RobertaTokenizer
from keras_models.tokenizers.encoding import BatchEncoding
from keras_models.tokenizers.sentencepiece import PegasusTokenizer
from keras_models.tokenizers.wordpiece import (
    MegatronBertTokenizer,
    RoCBertTokenizer,
    RoFormerTokenizer,
)

__all__ = [
    "BatchEncoding",
    "MegatronBertTokenizer",
    "OPTTokenizer",
    "PegasusTokenizer",
    "RoCBertTokenizer",
    "RoFormerTokenizer",
    "RobertaTokenizer",
    "Tokenizer",
]

"""The family tokenizer of a checkpoint, chosen by its Hugging Face `model_type`."""

import os

from keras_models.tokenizers.bpe import OPTTokenizer, RobertaTokenizer
from keras_models.tokenizers.sentencepiece import PegasusTokenizer
from keras_models.tokenizers.wordpiece import (
    MegatronBertTokenizer,
    RoCBertTokenizer,
    RoFormerTokenizer,
)

TOKENIZERS = {
    "megatron-bert": MegatronBertTokenizer,
    "opt": OPTTokenizer,
    "pegasus": PegasusTokenizer,
    "roberta": RobertaTokenizer,
    "roc_bert": RoCBertTokenizer,
    "roformer": RoFormerTokenizer,
}
#: Files whose presence means a directory holds a tokenizer.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "word_shape.json",
    "word_pronunciation.json",
)
# Without one of these, a directory holding only tokenizer_config.json has no vocabulary.
_VOCAB_FILES = ("tokenizer.json", "vocab.json", "spiece.model", "vocab.txt")


def tokenizer_files(directory):
    """`{name: path}` of the tokenizer files in `directory` ({} when it has no vocabulary)."""
    found = {
        name: os.path.join(directory, name)
        for name in TOKENIZER_FILES
        if os.path.isfile(os.path.join(directory, name))
    }
    return found if any(name in found for name in _VOCAB_FILES) else {}


def tokenizer_class_for(model_type):
    """The tokenizer class of a Hugging Face `model_type` (e.g. `"roberta"`)."""
    if model_type not in TOKENIZERS:
        raise ValueError(
            f"No tokenizer for model_type {model_type!r}; known: {sorted(TOKENIZERS)}."
        )
    return TOKENIZERS[model_type]

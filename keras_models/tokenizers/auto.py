"""The family tokenizer of a checkpoint, chosen by its Hugging Face `model_type`."""

import os

from keras_models.tokenizers.base import (  # noqa: F401
    TOKENIZER_FILES,
    read_json,
    tokenizer_files,
)
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


def tokenizer_class_for(model_type):
    """The tokenizer class of a Hugging Face `model_type` (e.g. `"roberta"`)."""
    if model_type not in TOKENIZERS:
        raise ValueError(
            f"No tokenizer for model_type {model_type!r}; known: {sorted(TOKENIZERS)}."
        )
    return TOKENIZERS[model_type]


def _model_type(model):
    from keras_models.presets.converter import _CONVERTERS

    backbone = getattr(model, "backbone", model)
    for model_type, converter in _CONVERTERS.items():
        if type(backbone) is converter.backbone_cls:
            return model_type
    for model_type, converter in _CONVERTERS.items():
        if isinstance(backbone, converter.backbone_cls):
            return model_type
    return None


def attach_preprocessing(model, *directories):
    """Sets `model.tokenizer` and `model.preprocessor` from the first directory holding
    tokenizer files (the checkpoint's, then its cached conversion); a no-op without any."""
    from keras_models.tokenizers.preprocessors.base import read_preprocessor_config

    for directory in directories:
        if directory and tokenizer_files(directory):
            break
    else:
        return model
    model_type = _model_type(model)
    if model_type not in TOKENIZERS:
        return model
    tokenizer = TOKENIZERS[model_type].from_preset(directory)
    model.tokenizer = tokenizer
    cls = model.preprocessor_cls
    if cls is not None:
        config = read_preprocessor_config(directory, cls)
        hf_config = None
        for source in directories:
            path = os.path.join(source or "", "config.json")
            if source and os.path.isfile(path):
                hf_config = read_json(path)
                break
        model.preprocessor = cls.for_model(tokenizer, model, hf_config, **config)
    return model

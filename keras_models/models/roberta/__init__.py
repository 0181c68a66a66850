"""RoBERTa: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.roberta import tasks
from keras_models.models.roberta.converter import RobertaConverter
from keras_models.models.roberta.presets import PRESETS
from keras_models.presets.families import register_family
from keras_models.tokenizers.bpe import RobertaTokenizer

FAMILY = register_family(__name__, RobertaConverter(), RobertaTokenizer, tasks, PRESETS)

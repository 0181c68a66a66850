"""RoCBert: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.roc_bert import tasks
from keras_models.models.roc_bert.converter import RoCBertConverter
from keras_models.models.roc_bert.presets import PRESETS
from keras_models.presets.families import register_family
from keras_models.tokenizers.wordpiece import RoCBertTokenizer

FAMILY = register_family(__name__, RoCBertConverter(), RoCBertTokenizer, tasks, PRESETS)

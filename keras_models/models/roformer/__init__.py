"""RoFormer: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.roformer import tasks
from keras_models.models.roformer.converter import RoFormerConverter
from keras_models.models.roformer.presets import PRESETS
from keras_models.presets.families import register_family
from keras_models.tokenizers.wordpiece import RoFormerTokenizer

FAMILY = register_family(__name__, RoFormerConverter(), RoFormerTokenizer, tasks, PRESETS)

"""Pegasus: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.pegasus import tasks
from keras_models.models.pegasus.converter import PegasusConverter
from keras_models.models.pegasus.presets import PRESETS
from keras_models.presets.families import register_family
from keras_models.tokenizers.sentencepiece import PegasusTokenizer

FAMILY = register_family(__name__, PegasusConverter(), PegasusTokenizer, tasks, PRESETS)

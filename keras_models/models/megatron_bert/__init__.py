"""MegatronBERT: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.megatron_bert import tasks
from keras_models.models.megatron_bert.converter import MegatronBertConverter
from keras_models.models.megatron_bert.presets import PRESETS
from keras_models.presets.families import register_family
from keras_models.tokenizers.wordpiece import MegatronBertTokenizer

FAMILY = register_family(__name__, MegatronBertConverter(), MegatronBertTokenizer, tasks, PRESETS)

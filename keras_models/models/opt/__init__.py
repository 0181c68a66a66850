"""OPT: backbone, task classes, checkpoint converter, tokenizer and presets."""

from keras_models.models.opt import tasks
from keras_models.models.opt.converter import OPTConverter
from keras_models.models.opt.presets import PRESETS
from keras_models.presets.families import register_family
from keras_models.tokenizers.bpe import OPTTokenizer

FAMILY = register_family(__name__, OPTConverter(), OPTTokenizer, tasks, PRESETS)

"""RoBERTa: backbone, task classes, checkpoint converter and presets."""

from keras_models.models.roberta import converter, presets  # noqa: F401  (registration)

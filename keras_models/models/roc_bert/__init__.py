"""RoCBert: backbone, task classes, checkpoint converter and presets."""

from keras_models.models.roc_bert import converter, presets  # noqa: F401  (registration)

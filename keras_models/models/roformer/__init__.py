"""RoFormer: backbone, task classes, checkpoint converter and presets."""

from keras_models.models.roformer import converter, presets  # noqa: F401  (registration)

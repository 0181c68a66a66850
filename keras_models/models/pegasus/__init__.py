"""Pegasus: backbone, task classes, checkpoint converter and presets."""

from keras_models.models.pegasus import converter, presets  # noqa: F401  (registration)

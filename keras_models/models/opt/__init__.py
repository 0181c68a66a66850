"""OPT: backbone, task classes, checkpoint converter and presets."""

from keras_models.models.opt import converter, presets  # noqa: F401  (registration)

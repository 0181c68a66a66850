"""MegatronBERT: backbone, task classes, checkpoint converter and presets."""

from keras_models.models.megatron_bert import converter, presets  # noqa: F401  (registration)

"""Loading orchestration, the last layer of the package: `from_preset` of backbones and tasks
(registered names, Keras presets, Hugging Face checkpoints) and the `AutoModelFor...` classes.
Everything here reads the family registry (`keras_models.presets.families`)."""

"""`AutoModelFor...` entry points: the family is read from the preset itself."""

import os

import keras

from keras_models.presets import keras_format
from keras_models.presets.converter import get_converter
from keras_models.presets.loading import read_hf_config, resolve_preset


def preset_backbone_class(preset):
    """The backbone class of the family a preset belongs to."""
    from keras_models.models.task import Task

    directory, _ = resolve_preset(preset)
    if keras_format.is_keras_preset(directory):
        config = keras_format.read_preset_config(directory)
        saved = keras.saving.get_registered_object(config["registered_name"])
        if saved is not None and issubclass(saved, Task):
            saved = keras.saving.get_registered_object(
                config["config"]["backbone"]["registered_name"]
            )
        if saved is None:
            raise ValueError(f"{directory} holds an unknown class {config['registered_name']!r}.")
        return saved
    hf_config = read_hf_config(directory)
    return get_converter(
        hf_config["model_type"], os.path.join(directory, "config.json")
    ).backbone_cls


class AutoTask:
    """Base of the `AutoModelFor...` classes; `suffix` is the transformers class suffix."""

    suffix = None

    @classmethod
    def task_class(cls, preset):
        """The family task class (e.g. `RobertaForQuestionAnswering`) for `preset`."""
        import keras_models

        backbone_cls = preset_backbone_class(preset)
        family = backbone_cls.__name__[: -len("Backbone")]
        name = family + cls.suffix
        if not hasattr(keras_models, name):
            available = sorted(n for n in dir(keras_models) if n.startswith(family + "For"))
            raise ValueError(
                f"The {family} family has no {cls.suffix[3:]} head ({name}); its heads: {available}."
            )
        return getattr(keras_models, name)

    @classmethod
    def from_preset(cls, preset, **overrides):
        """Loads the family's task class for this head from `preset` (see `Task.from_preset`)."""
        return cls.task_class(preset).from_preset(preset, **overrides)


class AutoModel:
    """Loads the family backbone of any preset: `AutoModel.from_preset("roberta_base")`."""

    @classmethod
    def from_preset(cls, preset, **overrides):
        return preset_backbone_class(preset).from_preset(preset, **overrides)


def _auto(suffix, doc):
    return type(f"AutoModel{suffix}", (AutoTask,), {"suffix": suffix, "__doc__": doc})


AutoModelForCausalLM = _auto("ForCausalLM", "Causal language model of the preset's family.")
AutoModelForMaskedLM = _auto("ForMaskedLM", "Masked language model of the preset's family.")
AutoModelForMultipleChoice = _auto("ForMultipleChoice", "Multiple-choice model of the family.")
AutoModelForQuestionAnswering = _auto("ForQuestionAnswering", "Extractive QA model of the family.")
AutoModelForSequenceClassification = _auto(
    "ForSequenceClassification", "Sequence classifier of the preset's family."
)
AutoModelForTokenClassification = _auto(
    "ForTokenClassification", "Token classifier of the preset's family."
)
AutoModelForNextSentencePrediction = _auto(
    "ForNextSentencePrediction", "Next-sentence prediction model of the family."
)
AutoModelForPreTraining = _auto("ForPreTraining", "Pretraining model of the preset's family.")
AutoModelForSeq2SeqLM = _auto("ForConditionalGeneration", "Sequence-to-sequence model (Pegasus).")

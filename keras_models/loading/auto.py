"""`AutoModelFor...` entry points: the family is read from the preset itself."""

import keras

from keras_models.models.task import Task
from keras_models.presets import keras_format
from keras_models.presets.families import family_of, get_family
from keras_models.presets.resolve import HF_CONFIG, read_hf_config, resolve_preset


def preset_backbone_class(preset, verbose=None):
    """The backbone class of the family a preset belongs to (`verbose`: the progress bars of
    a hub download, see `keras_models.progress`)."""
    directory, _ = resolve_preset(preset, verbose=verbose)
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
    return get_family(hf_config["model_type"], f"{directory}/{HF_CONFIG}").backbone


class AutoTask:
    """Base of the `AutoModelFor...` classes; `head` is the task head they load."""

    head = None

    @classmethod
    def task_class(cls, preset, verbose=None):
        """The family task class (e.g. `RobertaForQuestionAnswering`) for `preset`."""
        backbone_cls = preset_backbone_class(preset, verbose)
        family = family_of(backbone_cls)
        if family is None:
            raise ValueError(f"{backbone_cls.__name__} belongs to no registered family.")
        return family.task_class(cls.head)

    @classmethod
    def from_preset(cls, preset, *, verbose=None, **overrides):
        """Loads the family's task class for this head from `preset` (see `Task.from_preset`,
        `verbose` included)."""
        task_cls = cls.task_class(preset, verbose)
        return task_cls.from_preset(preset, verbose=verbose, **overrides)

    @classmethod
    def from_pretrained(cls, preset, **overrides):
        """`from_preset`, under transformers' name."""
        return cls.from_preset(preset, **overrides)


class AutoModel:
    """Loads the family backbone of any preset: `AutoModel.from_preset("roberta_base")`."""

    @classmethod
    def from_preset(cls, preset, *, verbose=None, **overrides):
        """Loads the family backbone of `preset` (see `Backbone.from_preset`, `verbose`
        included)."""
        backbone_cls = preset_backbone_class(preset, verbose)
        return backbone_cls.from_preset(preset, verbose=verbose, **overrides)

    @classmethod
    def from_pretrained(cls, preset, **overrides):
        """`from_preset`, under transformers' name."""
        return cls.from_preset(preset, **overrides)


def _auto(name, head, doc):
    return type(name, (AutoTask,), {"head": head, "__doc__": doc, "__module__": __name__})


AutoModelForCausalLM = _auto(
    "AutoModelForCausalLM", "causal_lm", "Causal language model of the preset's family."
)
AutoModelForMaskedLM = _auto(
    "AutoModelForMaskedLM", "masked_lm", "Masked language model of the preset's family."
)
AutoModelForMultipleChoice = _auto(
    "AutoModelForMultipleChoice", "multiple_choice", "Multiple-choice model of the family."
)
AutoModelForQuestionAnswering = _auto(
    "AutoModelForQuestionAnswering", "question_answering", "Extractive QA model of the family."
)
AutoModelForSequenceClassification = _auto(
    "AutoModelForSequenceClassification",
    "sequence_classification",
    "Sequence classifier of the preset's family.",
)
AutoModelForTokenClassification = _auto(
    "AutoModelForTokenClassification",
    "token_classification",
    "Token classifier of the preset's family.",
)
AutoModelForNextSentencePrediction = _auto(
    "AutoModelForNextSentencePrediction",
    "next_sentence_prediction",
    "Next-sentence prediction model of the family.",
)
AutoModelForPreTraining = _auto(
    "AutoModelForPreTraining", "pretraining", "Pretraining model of the preset's family."
)
AutoModelForSeq2SeqLM = _auto(
    "AutoModelForSeq2SeqLM", "seq2seq_lm", "Sequence-to-sequence model (Pegasus)."
)

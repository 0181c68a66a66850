"""Hugging Face checkpoint conversion: a registry of per-family converters keyed by `model_type`.

A family converter says how a Hugging Face config becomes backbone arguments and where each
checkpoint tensor goes. The standard heads (QA, token and sequence classification, multiple
choice, tied LM head) share their Hugging Face names across the BERT-style families, so their
porting lives here; a family overrides only what differs.
"""

import warnings

from keras_models.presets import config_fields

_CONVERTERS = {}


def register_converter(converter_cls):
    """Class decorator: registers a converter under its `model_type`."""
    _CONVERTERS[converter_cls.model_type] = converter_cls()
    return converter_cls


def get_converter(model_type, source="config.json"):
    if model_type not in _CONVERTERS:
        raise ValueError(
            f"Unsupported model_type {model_type!r} in {source}; supported: {sorted(_CONVERTERS)}."
        )
    return _CONVERTERS[model_type]


class Converter:
    """Base class of the family converters.

    Attributes:
        model_type: the Hugging Face `model_type`.
        backbone_cls: our backbone class.
        prefix: the base-model prefix inside task checkpoints (`"roberta."`).
        hf_defaults: the Hugging Face config class defaults (configs saved by transformers omit
            some fields that equal them).
        lm_prefix: the name of the tied LM head in task checkpoints.
    """

    model_type = None
    backbone_cls = None
    prefix = None
    hf_defaults = {}
    #: The Hugging Face config fields that become backbone arguments (same names).
    backbone_fields = ()
    lm_prefix = "cls.predictions"

    # --- configs ---------------------------------------------------------------------------
    def config(self, hf_config):
        return {**self.hf_defaults, **hf_config}

    def check_config(self, hf_config, source, task_cls=None):
        """Refuses what is not built (see `config_fields`) and warns about fields that are
        not in the family's transformers config."""
        tied = getattr(task_cls, "tied_lm_head", False)
        unknown = config_fields.check(
            self.model_type, self.backbone_fields, hf_config, source, tied_lm_head=tied
        )
        if unknown:
            warnings.warn(
                f"{source} has fields that transformers' {self.model_type} config does not "
                f"define, ignored as transformers ignores them: {unknown}.",
                stacklevel=4,
            )

    def backbone_kwargs(self, hf_config):
        config = self.config(hf_config)
        return {field: config[field] for field in self.backbone_fields}

    def task_kwargs(self, task_cls, hf_config):
        """Head arguments read from the Hugging Face config: each label field
        (`num_labels`, `id2label`, `label2id`, `problem_type`, `classifier_dropout`) that the
        task's constructor takes."""
        config = self.config(hf_config)
        accepted = task_cls.accepted_arguments()
        kwargs = {
            field: config[field]
            for field in config_fields.LABEL_FIELDS
            if field in accepted and config.get(field) is not None
        }
        if "id2label" in kwargs:
            # transformers keeps `id2label` and drops a disagreeing `num_labels` (warning).
            kwargs.pop("num_labels", None)
        elif "num_labels" in accepted and config.get("id2label"):
            kwargs.setdefault("num_labels", len(config["id2label"]))
        return kwargs

    # --- weights ---------------------------------------------------------------------------
    def checkpoint_prefix(self, porter):
        """`prefix` for task checkpoints, `""` for a bare base-model checkpoint."""
        return self.prefix if porter.has_prefix(self.prefix) else ""

    def port_backbone(self, backbone, porter, prefix):
        raise NotImplementedError

    def head_key_prefixes(self, task):
        """Checkpoint key prefixes of `task`'s head, used to tell whether it is present."""
        from keras_models.tasks.masked_lm import MaskedLM
        from keras_models.tasks.question_answering import QuestionAnswering

        if isinstance(task, QuestionAnswering):
            return ("qa_outputs.",)
        if isinstance(task, MaskedLM):
            return (f"{self.lm_prefix}.",)
        return ("classifier.",)

    def port_head(self, task, porter):
        from keras_models.tasks.masked_lm import MaskedLM
        from keras_models.tasks.multiple_choice import MultipleChoice
        from keras_models.tasks.question_answering import QuestionAnswering
        from keras_models.tasks.sequence_classification import SequenceClassification
        from keras_models.tasks.token_classification import TokenClassification

        if isinstance(task, QuestionAnswering):
            porter.dense(task.qa_outputs.dense, "qa_outputs")
        elif isinstance(task, MultipleChoice):
            porter.dense(task.classifier.dense, "classifier")
        elif isinstance(task, (SequenceClassification, TokenClassification)):
            if task.classifier.dense is not None:
                porter.dense(task.classifier.dense, "classifier.dense")
                porter.dense(task.classifier.out_proj, "classifier.out_proj")
            else:
                porter.dense(task.classifier.out_proj, "classifier")
        elif isinstance(task, MaskedLM):
            self.port_lm_head(task.lm_head, porter)
        else:
            raise ValueError(f"{type(self).__name__} cannot convert a {type(task).__name__} head.")

    def port_lm_head(self, head, porter):
        """The BERT `cls.predictions` head; the decoder weight is the tied word table."""
        p = self.lm_prefix
        porter.dense(head.dense, f"{p}.transform.dense")
        porter.layer_norm(head.layer_norm, f"{p}.transform.LayerNorm")
        porter.port(head.bias, f"{p}.bias", f"{p}.decoder.bias")
        porter.skip_tied(f"{p}.decoder.weight")


def port_post_ln_layers(blocks, porter, prefix):
    """BERT post-LN layer names (`encoder.layer.{i}.attention.self.query`, ...) onto blocks."""
    for i, block in enumerate(blocks):
        p = f"{prefix}encoder.layer.{i}."
        attention = block.attention
        porter.dense(attention.query_dense, p + "attention.self.query")
        porter.dense(attention.key_dense, p + "attention.self.key")
        porter.dense(attention.value_dense, p + "attention.self.value")
        porter.dense(attention.output_dense, p + "attention.output.dense")
        porter.layer_norm(block.attention_layer_norm, p + "attention.output.LayerNorm")
        porter.dense(block.intermediate_dense, p + "intermediate.dense")
        porter.dense(block.output_dense, p + "output.dense")
        porter.layer_norm(block.output_layer_norm, p + "output.LayerNorm")

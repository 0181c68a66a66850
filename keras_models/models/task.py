"""Task base class: a backbone plus a head, with Hugging Face inputs, labels and losses."""

import keras
from keras import ops

from keras_models.models.backbone import InputNormalizingModel, _quantization_config
from keras_models.models.config_view import ModelConfig
from keras_models.models.quantization import (
    lean_construction,
    restore_quantization,
)
from keras_models.models.raw_text import RawTextMixin

#: Backbone outputs a task passes on (when asked for) after its own.
EXTRA_OUTPUTS = (
    "past_key_values",
    "hidden_states",
    "attentions",
    "decoder_hidden_states",
    "decoder_attentions",
    "cross_attentions",
    "encoder_hidden_states",
    "encoder_attentions",
)

#: transformers' label fields, with the values its configs have by default.
DEFAULT_LABEL_CONFIG = {
    "num_labels": 2,
    "id2label": {0: "LABEL_0", 1: "LABEL_1"},
    "label2id": {"LABEL_0": 0, "LABEL_1": 1},
    "problem_type": None,
}


class Task(RawTextMixin, InputNormalizingModel):
    """Base class of every task model.

    A task takes the same inputs as its backbone (a tensor, a list in the Hugging Face order
    or a dict). Labels go to `fit`/`evaluate` as `y` (a tensor, a tuple in `label_names`
    order, or a dict keyed by label name) or inside the `x` dict under their names. When
    compiled without a `loss`, the task uses exactly the Hugging Face loss of its head
    (`hf_loss`); a loss given to `compile` replaces it.

    Subclasses build the functional graph in `__init__` on `backbone.input` and call
    `super().__init__(backbone=..., inputs=..., outputs=...)`.
    """

    #: The backbone class family subclasses pin (used by `from_preset`).
    backbone_cls = None
    #: The head this task class is, as the family registry and the auto classes name it
    #: (`"question_answering"`, `"causal_lm"`, ...); each generic task sets it.
    head = None
    #: Label names in Hugging Face order.
    label_names = ()
    #: The default feature the head reads (`"pooled"` needs the backbone's pooler).
    default_pooling = None
    #: Whether the head's output matrix is the backbone's word table.
    tied_lm_head = False
    #: The head in a Hugging Face checkpoint: `weight_table.Head` parts whose rows start at
    #: the task. Family subclasses replace it where transformers names the head differently.
    hf_head = ()
    #: The Hugging Face config fields the head's constructor reads (`num_labels`, ...).
    hf_config_fields = ()
    _arguments_end = True
    #: Taken by every task (see `models/quantization.py`).
    extra_arguments = ("quantized_layers",)

    def __init__(self, backbone, inputs, outputs, dtype=None, quantized_layers=None, **kwargs):
        if dtype is not None and keras.dtype_policies.get(dtype).name != backbone.dtype_policy.name:
            raise ValueError(
                f"`dtype={dtype!r}` differs from the backbone's policy "
                f"{backbone.dtype_policy.name!r}: a task computes in its backbone's dtype, so "
                "build the backbone with that `dtype` (or pass it to `from_preset`)."
            )
        # The backbone's extra outputs (built with `output_hidden_states` / `output_attentions`)
        # follow the head's, as in transformers' task outputs.
        carried = getattr(backbone, "_symbolic_outputs", {})
        outputs = {**outputs, **{k: v for k, v in carried.items() if k in EXTRA_OUTPUTS}}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self._input_order = backbone.input_names
        restore_quantization(self, quantized_layers)
        # `compile` wraps the optimizer for loss scaling when the model's policy is
        # mixed_float16; the task takes the policy its backbone was built with.
        self.dtype_policy = backbone.dtype_policy

    @classmethod
    def needs_pooler(cls, task_kwargs):
        """Whether the head built from `task_kwargs` reads the backbone's `pooler_output`."""
        return (task_kwargs.get("pooling") or cls.default_pooling) == "pooled"

    def set_label_config(self, num_labels, id2label, label2id, problem_type):
        """Records transformers' label fields (see `tasks.common.label_maps`)."""
        self.num_labels = num_labels
        self.id2label = id2label
        self.label2id = label2id
        self.problem_type = problem_type

    def label_config(self):
        """The label fields for `get_config` (JSON keys are strings)."""
        return {
            "num_labels": self.num_labels,
            "id2label": {str(k): v for k, v in self.id2label.items()},
            "label2id": dict(self.label2id),
            "problem_type": self.problem_type,
        }

    @property
    def config(self):
        """A read-only `ModelConfig` in transformers' terms: the backbone's fields, this
        class as `architectures`, and the label fields (`num_labels`, `id2label`, ...)."""
        fields = self.backbone.hf_config_fields()
        fields["architectures"] = [type(self).__name__]
        for name, default in DEFAULT_LABEL_CONFIG.items():
            fields[name] = getattr(self, name, default)
        if getattr(self, "classifier_dropout", None) is not None:
            fields["classifier_dropout"] = self.classifier_dropout
        return ModelConfig(fields)

    @property
    def extra_input_names(self):
        return self.label_names

    def fill_defaults(self, inputs):
        return self.backbone.fill_defaults(inputs)

    def graph_flag(self, name):
        return self.backbone.graph_flag(name)

    @property
    def call_inputs(self):
        return self.backbone.call_inputs

    @property
    def takes_cache(self):
        return self.backbone.takes_cache

    def call_with_options(self, values, training=None, **request):
        """The task's graph, with its backbone node run as `backbone.call_with_options`: the
        head layers are the graph's own, and the backbone's extra outputs follow the head's."""
        from keras.src.models.functional import operation_fn  # Keras' per-node call

        values = dict(values)
        # Inputs the graph does not have go straight to the backbone.
        beyond = {k: values.pop(k) for k in list(values) if k not in self.input_names}
        embeds = beyond.pop("inputs_embeds", None)
        extras = {}

        def run_backbone(inputs, **kwargs):
            inputs = {**inputs, **beyond}
            if embeds is not None:
                # Multiple choice flattens its choices before the backbone; so do the vectors.
                inputs["inputs_embeds"] = ops.reshape(
                    embeds, (-1, *tuple(inputs["input_ids"].shape)[1:], embeds.shape[-1])
                )
            # Graph inputs the call left out ran through the graph as placeholders.
            inputs = {k: v for k, v in inputs.items() if k not in absent}
            out = self.backbone.call_with_options(inputs, training=training, **request)
            extras.update({k: out[k] for k in EXTRA_OUTPUTS if k in out})
            return {k: out[k] for k in self.backbone.output}

        def operation(op):
            if op is self.backbone:
                return run_backbone
            return operation_fn(op, training=training)

        absent = [name for name in self.input_names if name not in values]
        values.update({name: self._placeholder(name, values) for name in absent})
        graph_inputs = self._standardize_inputs(values)
        outputs = self._run_through_graph(graph_inputs, operation_fn=operation)
        outputs = {k: v for k, v in outputs.items() if k not in EXTRA_OUTPUTS}
        return {**outputs, **extras}

    def _placeholder(self, name, values):
        """Zeros of graph input `name`'s spec (unknown axes: the batch of `input_ids`, else 1),
        standing in for an input the call left out."""
        spec = self.input[name]
        batch = ops.shape(values["input_ids"])[0]
        shape = [batch] + [1 if dim is None else dim for dim in spec.shape[1:]]
        return ops.zeros(shape, spec.dtype)

    def add_loss_output(self, outputs, labels):
        labels = {k: v for k, v in labels.items() if v is not None}
        if not labels:
            return outputs
        loss = self.hf_loss({k: ops.convert_to_tensor(v) for k, v in labels.items()}, outputs)
        if loss is None:
            raise ValueError(
                f"The labels {sorted(labels)} are not enough for the loss of "
                f"{type(self).__name__}; it takes {list(self.label_names)}."
            )
        return {"loss": loss, **outputs}

    def input_limits(self):
        return self.backbone.input_limits()

    def max_lengths(self):
        return self.backbone.max_lengths()

    def check_values(self, values, given=()):
        self.backbone.check_values(values, given)

    # --- labels and losses -------------------------------------------------------------
    def check_data(self, x, y=None, training=False):
        items = super().check_data(x, y, training)
        if not training or self._compile_loss is not None:
            return items
        labels = self.collect_labels(items, y)
        if not labels and (items or x is None):
            raise ValueError(
                f"No labels for the default loss of {type(self).__name__}. Pass them as `y` or "
                f"inside the `x` dict, named {list(self.label_names)}; or compile with a `loss`."
            )
        return items

    def collect_labels(self, x, y):
        """The labels of a batch as a dict, from `y` and from label keys inside `x`."""
        labels = {}
        if isinstance(x, dict):
            labels.update({k: v for k, v in x.items() if k in self.label_names and v is not None})
        if y is None:
            return labels
        if isinstance(y, dict):
            unknown = [k for k in y if k not in self.label_names]
            if unknown:
                raise ValueError(
                    f"Unknown label name(s) {unknown}; accepted: {list(self.label_names)}."
                )
            labels.update({k: v for k, v in y.items() if v is not None})
        elif isinstance(y, (list, tuple)):
            if len(y) > len(self.label_names):
                raise ValueError(
                    f"Got {len(y)} labels; this task takes at most {len(self.label_names)}, "
                    f"in this order: {list(self.label_names)}."
                )
            labels.update({k: v for k, v in zip(self.label_names, y) if v is not None})
        else:
            labels[self.label_names[0]] = y
        return labels

    def hf_loss(self, labels, outputs):
        """The Hugging Face loss of this head, or `None` when the labels it needs are missing."""
        raise NotImplementedError

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._compile_loss is not None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        labels = self.collect_labels(x, y)
        if sample_weight is not None:
            raise ValueError(
                "`sample_weight` is not supported by the default Hugging Face loss; pass a "
                "`loss` to `compile()` to use sample weights."
            )
        loss = self.hf_loss(labels, y_pred) if labels else None
        if loss is None:
            raise ValueError(
                f"No labels for the default loss of {type(self).__name__}. Pass them as `y` or "
                f"inside the `x` dict, named {list(self.label_names)}; or compile with a `loss`."
            )
        for extra in self.losses:
            loss = loss + self._aggregate_additional_loss(extra)
        return loss

    # --- config and presets ------------------------------------------------------------
    def get_config(self):
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "name": self.name,
            "trainable": self.trainable,
            **_quantization_config(self),
        }

    @classmethod
    def from_config(cls, config):
        def construct():
            arguments = dict(config)
            arguments["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
            return cls(**arguments)

        return lean_construction(construct, config)

    @classmethod
    def from_preset(cls, preset, *, verbose=None, **overrides):
        """Loads a task from a registered name, a Keras preset directory, a Hugging Face
        checkpoint directory or `hf://owner/name`.

        A checkpoint with this head loads the head too; from a base checkpoint the head is
        freshly initialised (with a warning).

        Args:
            preset: the preset to load.
            verbose: progress bars of the hub download and the conversion: `None` (default)
                on a terminal only, `1` always, `2` one line per step, `0` none (see
                `keras_models.progress`).
            **overrides: task arguments (`num_labels`, ...) or backbone arguments (`dtype`...).
        """
        from keras_models.loading.loader import load_task

        return load_task(cls, preset, verbose=verbose, **overrides)

    @classmethod
    def from_pretrained(cls, preset, **overrides):
        """`from_preset`, under transformers' name."""
        return cls.from_preset(preset, **overrides)

    def save_to_preset(self, preset_dir):
        """Writes the task (backbone and head) as a Keras preset directory."""
        from keras_models.presets.keras_format import save_preset

        save_preset(self, preset_dir, extra_files=self.preset_extra_files())

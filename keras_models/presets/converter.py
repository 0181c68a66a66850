"""Hugging Face checkpoint conversion: the converter base class that each family subclasses.

A family converter is data: its backbone class, the Hugging Face config defaults that differ
from the backbone constructor's, and a weight table (`weight_table`) that maps the checkpoint
onto the backbone. Task heads bring their own tables (`Task.hf_head`) and the config fields they
read (`Task.hf_config_fields`), so nothing here depends on the task or model classes. The BERT
encoder layout that three families share lives here too.
"""

import functools
import inspect
import warnings

from keras_models.presets import config_fields
from keras_models.presets.weight_table import (
    count_groups,
    dense,
    embedding,
    export_table,
    export_weights,
    layer_norm,
    load_table,
    resolve,
)


class Converter:
    """Base class of the family converters.

    Attributes:
        model_type: the Hugging Face `model_type`.
        backbone_cls: our backbone class; its constructor arguments are the Hugging Face config
            fields of the same name (`backbone_fields`), less `keras_only_arguments`.
        prefix: the base-model prefix inside task checkpoints (`"roberta."`).
        hf_defaults: the transformers config defaults that differ from the backbone
            constructor's (configs saved by transformers omit fields equal to transformers'
            defaults, so those must still be read as transformers' values).
        keras_only_arguments: backbone arguments that are not fields of the family's
            transformers config (transformers hard-codes the value); a config never sets them.
        weights: the backbone's weight table (see `weight_table`).
    """

    model_type = None
    backbone_cls = None
    prefix = None
    hf_defaults = {}
    keras_only_arguments = ()
    weights = ()
    #: Constructor arguments of every backbone that no config holds.
    _NOT_CONFIG = ("self", "dtype", "add_pooling_layer")

    # --- configs ---------------------------------------------------------------------------
    @functools.cached_property
    def _signature_defaults(self):
        params = inspect.signature(self.backbone_cls.__init__).parameters
        skip = set(self._NOT_CONFIG) | set(self.keras_only_arguments)
        fields = {
            name: param.default
            for name, param in params.items()
            if name not in skip and param.kind is param.POSITIONAL_OR_KEYWORD
        }
        # Every backbone takes these (`Backbone.extra_arguments`), as transformers' configs do.
        return {**fields, **{flag: False for flag in self.backbone_cls.extra_arguments}}

    @property
    def backbone_fields(self):
        """The Hugging Face config fields that become backbone arguments (same names)."""
        return tuple(self._signature_defaults)

    def config(self, hf_config):
        return {**self._signature_defaults, **self.hf_defaults, **hf_config}

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
        """Head arguments read from the Hugging Face config: the fields the task declares in
        `hf_config_fields` (`num_labels`, `id2label`, `label2id`, `problem_type`,
        `classifier_dropout`)."""
        config = {**self.hf_defaults, **hf_config}
        fields = task_cls.hf_config_fields
        kwargs = {field: config[field] for field in fields if config.get(field) is not None}
        if "id2label" in kwargs:
            # transformers keeps `id2label` and drops a disagreeing `num_labels` (warning).
            kwargs.pop("num_labels", None)
        elif "num_labels" in fields and config.get("id2label"):
            kwargs.setdefault("num_labels", len(config["id2label"]))
        return kwargs

    # --- weights ---------------------------------------------------------------------------
    def checkpoint_prefix(self, porter):
        """`prefix` for task checkpoints, `""` for a bare base-model checkpoint."""
        return self.prefix if porter.has_prefix(self.prefix) else ""

    def port_backbone(self, backbone, porter, prefix):
        load_table(backbone, self.weights, porter, prefix)

    def head_key_prefixes(self, task):
        """Checkpoint key prefixes of `task`'s head, used to tell whether it is present."""
        return tuple(key for part in task.hf_head for key in self._part_keys(part))

    def _part_keys(self, part):
        """The keys whose presence means `part` is in a checkpoint: its `prefixes`, else the
        tensors its rows load (copies, ignored and computed tables do not count)."""
        fields = {"p": self.prefix}
        if part.prefixes:
            return tuple(t.format(**fields) for t in part.prefixes)
        return tuple(
            key
            for row in part.rows
            if not row.handles_absence
            for key in row.tensor_keys(tuple(t.format(**fields) for t in row.hf))
        )

    def port_head(self, task, porter):
        """Loads the head parts of `task` that the checkpoint has; with several parts, one
        that is missing starts fresh (as transformers does when one of two heads is absent)."""
        parts = task.hf_head
        if not parts:
            raise ValueError(f"{type(task).__name__} declares no checkpoint head (`hf_head`).")
        for part in parts:
            layer = resolve(task, part.layer) if part.layer else task
            if layer is None:
                continue  # not built (`add_binary_head=False`): its keys are reported unused
            keys = self._part_keys(part)
            if len(parts) > 1 and not any(porter.has_prefix(key) for key in keys):
                warnings.warn(
                    f"The {porter.source} has no weights for the `{layer.name}` head; it is "
                    "freshly initialised and needs training.",
                    stacklevel=3,
                )
                porter.mark_set(layer)
                continue
            load_table(task, part.rows, porter, self.prefix)

    def _export_tables(self, model):
        """`(layer, table, prefix)` of every part of `model`'s checkpoint: the backbone's rows
        (unprefixed for a base-model checkpoint) and, for a task, its built head parts."""
        backbone = getattr(model, "backbone", model)
        if backbone is model:
            yield backbone, self.weights, ""
            return
        yield backbone, self.weights, self.prefix
        for part in model.hf_head:
            if not part.layer or resolve(model, part.layer) is not None:
                yield model, part.rows, self.prefix

    def export(self, model):
        """`(keys, value, optional)` for every checkpoint tensor of a backbone (a base-model
        checkpoint) or a task (a task checkpoint, head included); see
        `weight_table.export_table`."""
        for layer, table, prefix in self._export_tables(model):
            yield from export_table(layer, table, prefix)

    def weight_groups(self, model):
        """How many weight groups (table rows, once per layer index) `model` has: the length
        of the conversion and export progress bars."""
        return sum(count_groups(layer, table) for layer, table, _ in self._export_tables(model))

    def checkpoint_weights(self, model, progress=None):
        """`{key: numpy array}`: the tensors a transformers checkpoint of `model` holds (tied
        copies left out, as `save_pretrained` leaves them out). `progress` (a
        `keras.utils.Progbar` of `weight_groups(model)` steps) advances per weight group."""
        weights = {}
        for layer, table, prefix in self._export_tables(model):
            weights.update(export_weights(layer, table, prefix, progress))
        return weights


#: BERT's embedding block (absent layers are skipped: Megatron has no LayerNorm here, RoFormer
#: no position table).
BERT_EMBEDDINGS = (
    embedding("{p}embeddings.word_embeddings", "embeddings.word_embeddings"),
    embedding("{p}embeddings.position_embeddings", "embeddings.position_embeddings"),
    embedding("{p}embeddings.token_type_embeddings", "embeddings.token_type_embeddings"),
    layer_norm("{p}embeddings.LayerNorm", "embeddings.layer_norm"),
)
_LAYER = "{p}encoder.layer.{i}."
_BLOCK = "encoder_layers[{i}]."
#: The Linear layers of a BERT encoder layer (`encoder.layer.{i}.attention.self.query`, ...),
#: shared by the post-LN layout and Megatron's pre-LN one (which moves only the LayerNorms).
BERT_LINEARS = (
    dense(_LAYER + "attention.self.query", _BLOCK + "attention.query_dense"),
    dense(_LAYER + "attention.self.key", _BLOCK + "attention.key_dense"),
    dense(_LAYER + "attention.self.value", _BLOCK + "attention.value_dense"),
    dense(_LAYER + "attention.output.dense", _BLOCK + "attention.output_dense"),
    dense(_LAYER + "intermediate.dense", _BLOCK + "intermediate_dense"),
    dense(_LAYER + "output.dense", _BLOCK + "output_dense"),
)
_CROSS = _BLOCK + "cross_attention."
#: The Linear layers of a decoder layer's `crossattention` (`add_cross_attention=True`); on a
#: model built without cross-attention the rows skip (its `cross_attention` is None), so such
#: checkpoint tensors are reported as unused.
CROSS_ATTENTION_LINEARS = (
    dense(_LAYER + "crossattention.self.query", _CROSS + "query_dense"),
    dense(_LAYER + "crossattention.self.key", _CROSS + "key_dense"),
    dense(_LAYER + "crossattention.self.value", _CROSS + "value_dense"),
    dense(_LAYER + "crossattention.output.dense", _CROSS + "output_dense"),
)
#: BERT's post-LN encoder layer (with a decoder's cross-attention when built).
POST_LN_LAYERS = (
    *BERT_LINEARS,
    layer_norm(_LAYER + "attention.output.LayerNorm", _BLOCK + "attention_layer_norm"),
    layer_norm(_LAYER + "output.LayerNorm", _BLOCK + "output_layer_norm"),
    *CROSS_ATTENTION_LINEARS,
    layer_norm(_LAYER + "crossattention.output.LayerNorm", _BLOCK + "cross_attention_layer_norm"),
)
#: The pooler is optional: a checkpoint without it gets a fresh one (see `loading`).
POOLER = (dense("{p}pooler.dense", "pooler", missing="skip"),)
#: A post-LN BERT encoder (RoBERTa; RoCBert and RoFormer add their extra layers).
BERT_ENCODER = (*BERT_EMBEDDINGS, *POST_LN_LAYERS, *POOLER)

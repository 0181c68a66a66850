"""`from_preset` for backbones and tasks: registered names, Keras presets and HF checkpoints.

`Backbone.from_preset` and `Task.from_preset` call into this module lazily (the one import
that runs against the package's layer order); the family comes from the registry.

`verbose` (None: automatic, 0, 1 or 2; see `keras_models.progress`) switches the progress bars
of the hub download, the weight files read and the weight groups ported.
"""

import copy
import inspect
import os
import warnings

import keras

from keras_models.arguments import refuse_unknown
from keras_models.generation import GenerationConfig, GenerationMixin
from keras_models.models.backbone import Backbone
from keras_models.models.task import Task
from keras_models.presets import keras_format
from keras_models.presets.cache import converted_path
from keras_models.presets.families import family_of, get_family
from keras_models.presets.resolve import HF_CONFIG, read_hf_config, resolve_preset
from keras_models.presets.weights import WeightPorter, read_hf_weights
from keras_models.tokenizers.base import read_json, tokenizer_files
from keras_models.tokenizers.preprocessors.base import read_preprocessor_config


def _check_family(converter, backbone_cls, path):
    if backbone_cls is not None and not issubclass(converter.backbone_cls, backbone_cls):
        raise ValueError(
            f"{path} holds a {converter.model_type!r} checkpoint, which loads into "
            f"{converter.backbone_cls.__name__}, not {backbone_cls.__name__}."
        )


def _family_task_class(task_cls, backbone_cls):
    """The family class of a generic task (QuestionAnswering -> RobertaForQuestionAnswering);
    a family class, or a generic task the family has no class for, stays as it is."""
    family = family_of(backbone_cls) if backbone_cls is not None else None
    if task_cls.backbone_cls is not None or family is None:
        return task_cls
    family_cls = family.heads.get(task_cls.head)
    return family_cls if family_cls and issubclass(family_cls, task_cls) else task_cls


def _split_overrides(task_cls, backbone_cls, overrides):
    """`(task_kwargs, backbone_kwargs)`; an override neither constructor takes is refused.

    `dtype` goes to the backbone (a task computes in its backbone's dtype)."""
    task_args = set(task_cls.accepted_arguments()) - {"backbone", "dtype"}
    backbone_args = set(backbone_cls.accepted_arguments()) if backbone_cls else {"dtype"}
    refuse_unknown(f"{task_cls.__name__}.from_preset", overrides, task_args | backbone_args)
    task_kwargs = {k: v for k, v in overrides.items() if k in task_args}
    backbone_kwargs = {k: v for k, v in overrides.items() if k not in task_kwargs}
    return task_kwargs, backbone_kwargs


def _merge_label_fields(saved, overrides):
    """The saved task arguments updated with `overrides`; a new `num_labels` drops saved
    label names of another length (transformers rebuilds `id2label` then too)."""
    merged = {**saved, **overrides}
    names = merged.get("id2label")
    if "num_labels" in overrides and "id2label" not in overrides and names is not None:
        if len(names) != overrides["num_labels"]:
            merged.pop("id2label")
            merged.pop("label2id", None)
    return merged


_HALF = ("bfloat16", "float16")


def config_dtype(hf_config, source):
    """The dtype policy a Hugging Face config asks for (`dtype`, or `torch_dtype` in configs
    written before transformers 5), or None to keep Keras' global policy.

    A 16-bit dtype becomes that policy, as transformers 5 loads in the checkpoint's dtype;
    float32 (or no field) leaves the global policy in force (e.g. `mixed_bfloat16`)."""
    for field in ("dtype", "torch_dtype"):
        value = hf_config.get(field)
        if value is None:
            continue
        value = str(value).removeprefix("torch.")
        if value in _HALF:
            return value
        if value != "float32":
            raise ValueError(
                f"{source} sets `{field}={value!r}`; the dtypes keras_models loads are "
                f"float32, {sorted(_HALF)} (pass `dtype=` to `from_preset` for another policy)."
            )
        return None
    return None


def _with_overrides(kwargs, hf_config, source, overrides):
    """Constructor arguments from the config, then the config's dtype, then the caller's
    overrides (`dtype=None` counts as not given)."""
    kwargs["dtype"] = config_dtype(hf_config, source)
    kwargs.update({k: v for k, v in overrides.items() if v is not None or k != "dtype"})
    return kwargs


def attach_preprocessing(model, *directories):
    """Sets `model.tokenizer` and `model.preprocessor` from the first directory holding
    tokenizer files (the checkpoint's, then its cached conversion); a no-op without any."""
    for directory in directories:
        if directory and tokenizer_files(directory):
            break
    else:
        return model
    family = family_of(type(getattr(model, "backbone", model)))
    if family is None:
        return model
    try:
        tokenizer = family.tokenizer.from_preset(directory)
    except ValueError as error:
        # The model loads without its tokenizer rather than not at all.
        warnings.warn(
            f"The tokenizer files in {directory} could not be read, so the model has no "
            f"tokenizer or preprocessor: {error}",
            stacklevel=4,
        )
        return model
    model.tokenizer = tokenizer
    cls = model.preprocessor_cls
    if cls is not None:
        config = read_preprocessor_config(directory, cls)
        hf_config = None
        for source in directories:
            path = os.path.join(source or "", HF_CONFIG)
            if source and os.path.isfile(path):
                hf_config = read_json(path)
                break
        model.preprocessor = cls.for_model(tokenizer, model, hf_config, **config)
    return model


# --- backbones -----------------------------------------------------------------------------
def _cached_conversion(cls, directory, from_hub, convert, verbose=None):
    """For a hub checkpoint, the directory of its cached Keras conversion (made on first use)."""
    if not from_hub or keras_format.is_keras_preset(directory):
        return directory
    cached = converted_path(directory, cls.__name__)
    if not keras_format.is_keras_preset(cached):
        convert(cls, directory, verbose=verbose).save_to_preset(cached)
    return cached


def load_backbone(cls, preset, verbose=None, **overrides):
    source, from_hub = resolve_preset(preset, verbose=verbose)
    directory = _cached_conversion(cls, source, from_hub, convert_backbone, verbose)
    # The tokenizer files of the preset, when it has them, give `model.tokenizer` and
    # `model.preprocessor` (raw text in `fit` / `predict`).
    backbone = convert_backbone(cls, directory, verbose=verbose, **overrides)
    return attach_preprocessing(backbone, source, directory)


def _track(converter, model, porter, directory, verbose):
    """Starts the porter's progress bar over `model`'s weight groups."""
    title = f"Converting {directory} into {type(model).__name__}"
    porter.track(converter.weight_groups(model), verbose, title)


def convert_backbone(cls, directory, verbose=None, **overrides):
    """A backbone from a Keras preset or a Hugging Face checkpoint directory.

    Args:
        cls: the backbone class asked for (`Backbone` for any family).
        directory: a Keras preset or Hugging Face checkpoint directory.
        verbose: progress bars while converting (see `keras_models.progress`).
        **overrides: constructor arguments that replace the preset's.
    """
    if keras_format.is_keras_preset(directory):
        config = copy.deepcopy(keras_format.read_preset_config(directory))
        is_task = issubclass(keras.saving.get_registered_object(config["registered_name"]), Task)
        backbone_config = config["config"]["backbone"] if is_task else config
        saved_cls = keras.saving.get_registered_object(backbone_config["registered_name"])
        if saved_cls is not None:
            refuse_unknown(f"{cls.__name__}.from_preset", overrides, saved_cls.accepted_arguments())
        backbone_config["config"].update(overrides)
        model = keras_format.build_from_preset_config(config)
        keras_format.load_preset_weights(model, directory)
        backbone = model.backbone if is_task else model
        if not isinstance(backbone, cls):
            raise ValueError(
                f"{directory} holds a {type(backbone).__name__}, not a {cls.__name__}."
            )
        return backbone
    hf_config = read_hf_config(directory)
    source = os.path.join(directory, HF_CONFIG)
    converter = get_family(hf_config["model_type"], source).converter
    _check_family(converter, None if cls is Backbone else cls, directory)
    refuse_unknown(
        f"{cls.__name__}.from_preset", overrides, converter.backbone_cls.accepted_arguments()
    )
    converter.check_config(hf_config, source)
    porter = WeightPorter(read_hf_weights(directory, verbose), source=f"checkpoint in {directory}")
    prefix = converter.checkpoint_prefix(porter)
    kwargs = converter.backbone_kwargs(hf_config)
    if "add_pooling_layer" in inspect.signature(converter.backbone_cls.__init__).parameters:
        kwargs["add_pooling_layer"] = porter.has_prefix(f"{prefix}pooler.")
    backbone = converter.backbone_cls(**_with_overrides(kwargs, hf_config, source, overrides))
    _track(converter, backbone, porter, directory, verbose)
    converter.port_backbone(backbone, porter, prefix)
    porter.finish()
    _check_complete(backbone, porter, directory)
    _report_unused(porter, prefix, directory)
    return backbone


def _check_complete(model, porter, directory, fresh=()):
    for layer in fresh:
        porter.mark_set(layer)
    missing = porter.unset_variables(model)
    if missing:
        raise ValueError(f"The checkpoint in {directory} has no weights for: {missing}.")


def _report_unused(porter, prefix, directory):
    """Errors for unused backbone weights; a warning for weights of heads (or a pooler) that
    the model does not have."""
    unused = porter.unused_keys()
    if not unused:
        return
    optional = f"{prefix}pooler."
    inside = [k for k in unused if k.startswith(prefix) and not k.startswith(optional)]
    if inside:
        raise ValueError(
            f"Unexpected weights in the checkpoint in {directory} that the model has no place "
            f"for: {inside}."
        )
    warnings.warn(
        f"These weights of the checkpoint in {directory} belong to a head (or pooler) this "
        f"model does not have and were not loaded: {unused}.",
        stacklevel=3,
    )


# --- tasks ---------------------------------------------------------------------------------
def load_task(cls, preset, verbose=None, **overrides):
    source, from_hub = resolve_preset(preset, verbose=verbose)
    directory = _cached_conversion(cls, source, from_hub, convert_task, verbose)
    task = convert_task(cls, directory, verbose=verbose, **overrides)
    return attach_preprocessing(task, source, directory)


def convert_task(cls, directory, verbose=None, **overrides):
    """A task from a Keras preset or a Hugging Face checkpoint directory.

    Args:
        cls: the task class asked for (a generic task picks the checkpoint family's class).
        directory: a Keras preset or Hugging Face checkpoint directory.
        verbose: progress bars while converting (see `keras_models.progress`).
        **overrides: task or backbone constructor arguments that replace the preset's.
    """
    if keras_format.is_keras_preset(directory):
        return _load_task_from_keras(cls, directory, overrides)
    hf_config = read_hf_config(directory)
    source = os.path.join(directory, HF_CONFIG)
    converter = get_family(hf_config["model_type"], source).converter
    _check_family(converter, cls.backbone_cls, directory)
    task_cls = _family_task_class(cls, converter.backbone_cls)
    if task_cls is Task or task_cls.__init__ is Task.__init__:
        raise ValueError(f"{cls.__name__} is not a concrete task class.")
    task_kwargs, backbone_overrides = _split_overrides(task_cls, converter.backbone_cls, overrides)
    converter.check_config(hf_config, source, task_cls)
    task_kwargs = _merge_label_fields(converter.task_kwargs(task_cls, hf_config), task_kwargs)
    porter = WeightPorter(read_hf_weights(directory, verbose), source=f"checkpoint in {directory}")
    prefix = converter.checkpoint_prefix(porter)
    backbone_kwargs = converter.backbone_kwargs(hf_config)
    backbone_params = inspect.signature(converter.backbone_cls.__init__).parameters
    if "add_pooling_layer" in backbone_params:
        backbone_kwargs["add_pooling_layer"] = task_cls.needs_pooler(task_kwargs)
    _with_overrides(backbone_kwargs, hf_config, source, backbone_overrides)
    backbone = converter.backbone_cls(**backbone_kwargs)
    task = task_cls(backbone, **task_kwargs)
    _track(converter, task, porter, directory, verbose)
    converter.port_backbone(backbone, porter, prefix)
    head_present = prefix and any(porter.has_prefix(p) for p in converter.head_key_prefixes(task))
    if head_present:
        converter.port_head(task, porter)
    porter.finish()
    fresh = []
    if not head_present:
        fresh = [layer for layer in task.layers if layer is not backbone and layer.weights]
        fresh = [layer for layer in fresh if not isinstance(layer, keras.layers.InputLayer)]
        warnings.warn(
            f"{directory} has no {task_cls.__name__} head weights; the head "
            f"({[layer.name for layer in fresh]}) is freshly initialised and needs training.",
            stacklevel=3,
        )
    pooler = getattr(backbone, "pooler", None)
    if pooler is not None and not porter.has_prefix(f"{prefix}pooler."):
        warnings.warn(
            f"{directory} has no pooler weights; the pooler is freshly initialised.",
            stacklevel=3,
        )
        fresh.append(pooler)
    _check_complete(task, porter, directory, fresh)
    _report_unused(porter, prefix, directory)
    if isinstance(task, GenerationMixin):
        # transformers' `from_pretrained`: generation_config.json, else config.json's fields.
        generation = GenerationConfig.from_checkpoint(directory)
        if generation is not None:
            task.generation_config = generation
    return task


def _load_task_from_keras(cls, directory, overrides):
    config = copy.deepcopy(keras_format.read_preset_config(directory))
    saved_cls = keras.saving.get_registered_object(config["registered_name"])
    if saved_cls is None:
        raise ValueError(f"{directory} holds an unknown class {config['registered_name']!r}.")
    same_task = issubclass(saved_cls, cls)
    task_cls = saved_cls if same_task else cls
    if not same_task and issubclass(saved_cls, Task):
        backbone_cls = keras.saving.get_registered_object(
            config["config"]["backbone"]["registered_name"]
        )
    else:
        backbone_cls = saved_cls if not issubclass(saved_cls, Task) else None
    if not same_task:
        task_cls = _family_task_class(cls, backbone_cls)
    saved_backbone = config["config"]["backbone"] if issubclass(saved_cls, Task) else config
    task_kwargs, backbone_overrides = _split_overrides(
        task_cls, keras.saving.get_registered_object(saved_backbone["registered_name"]), overrides
    )
    saved_backbone["config"].update(backbone_overrides)
    if same_task:
        config["config"] = _merge_label_fields(config["config"], task_kwargs)
    model = keras_format.build_from_preset_config(config)
    keras_format.load_preset_weights(model, directory)
    if same_task:
        return model
    backbone = model.backbone if isinstance(model, Task) else model
    _check_family_keras(task_cls, backbone, directory)
    if task_cls.needs_pooler(task_kwargs) and getattr(backbone, "pooler", None) is None:
        raise ValueError(
            f"{task_cls.__name__} reads the pooler output, but the backbone in {directory} was "
            "saved without a pooler (`add_pooling_layer=False`)."
        )
    warnings.warn(
        f"{directory} holds a {type(model).__name__}; the {task_cls.__name__} head is freshly "
        "initialised and needs training.",
        stacklevel=3,
    )
    return task_cls(backbone, **task_kwargs)


def _check_family_keras(task_cls, backbone, directory):
    if task_cls.backbone_cls is not None and not isinstance(backbone, task_cls.backbone_cls):
        raise ValueError(
            f"{directory} holds a {type(backbone).__name__}, which {task_cls.__name__} cannot use "
            f"(it needs a {task_cls.backbone_cls.__name__})."
        )

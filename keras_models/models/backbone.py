"""Backbone base class: a functional model that accepts tensors, lists and dicts."""

import inspect
import os
import tempfile

import keras

from keras_models.arguments import KERAS_ARGUMENTS, accepted_arguments, refuse_unknown
from keras_models.models.config_view import ModelConfig
from keras_models.models.inputs import (
    check_data,
    check_lengths,
    check_limits,
    is_concrete,
    normalize_inputs,
)
from keras_models.models.raw_text import RawTextMixin
from keras_models.optimizers import with_fused_update
from keras_models.tokenizers.preprocessors.classification import (
    SequenceClassificationPreprocessor,
)
from keras_models.torch_fast_paths import traced_call


class InputNormalizingModel(keras.Model):
    """Shared input handling of backbones and tasks.

    Keras checks the input structure in `__call__` (eager and symbolic calls) while the JAX
    trainer reaches `call` directly through `stateless_call`, so both normalise. Normalising a
    complete dict again is a no-op.
    """

    #: The rank every input must have.
    input_rank = 2
    #: Extra names accepted in an input dict (labels); removed before the graph runs.
    extra_input_names = ()
    #: The preprocessor class `from_preset` attaches when the preset has tokenizer files.
    preprocessor_cls = None
    _arguments_end = True

    def __new__(cls, *args, **kwargs):
        # Keras' functional constructor drops unknown keyword arguments; refuse them first.
        refuse_unknown(cls.__name__, kwargs, cls.accepted_arguments())
        return super().__new__(cls, *args, **kwargs)

    @classmethod
    def accepted_arguments(cls):
        """The keyword arguments this class's constructor accepts (Keras' own included)."""
        return accepted_arguments(cls) + KERAS_ARGUMENTS

    @property
    def input_names(self):
        """Input names in the documented positional (list) order."""
        return self._input_order

    def normalize_inputs(self, inputs, kwargs=None):
        """Returns `(full_input_dict, extras)` for a tensor, list or dict.

        Concrete (eager) ids are also checked against the model's tables; inside compiled
        steps the values are not readable, and `fit`/`evaluate`/`predict` check their data on
        the host beforehand.
        """
        values, extras = normalize_inputs(
            inputs, self.input_names, self.input_rank, self.extra_input_names, kwargs
        )
        given = tuple(values)
        values = self.fill_defaults(values)
        self.check_values(values, given)
        return values, extras

    def check_values(self, values, given=()):
        """Checks sequence lengths (where the shape is known) and, for concrete values, ids
        against `input_limits()`; `given` names the inputs the caller passed."""
        check_lengths(values, self.max_lengths())
        if all(is_concrete(v) for v in values.values()):
            check_limits(values, self.input_limits(), given)

    def input_limits(self):
        """Allowed id ranges: input name -> `(low, high)`, `high` exclusive."""
        return {}

    def max_lengths(self):
        """Longest sequence (last axis) each input may have: input name -> length. For
        families whose positions are not an input (sinusoidal or rotary tables)."""
        return {}

    def fill_defaults(self, inputs):
        """Adds each missing optional input with its Hugging Face default."""
        raise NotImplementedError

    def _split_kwargs(self, kwargs):
        names = set(self.input_names) | set(self.extra_input_names)
        named = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        return named

    def __call__(self, inputs=None, *args, **kwargs):
        named = self._split_kwargs(kwargs)
        inputs, _ = self.normalize_inputs(inputs, named)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        inputs, _ = self.normalize_inputs(inputs)
        return super().call(inputs, training=training, mask=mask)

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        """`keras.Model.compile`; on torch, Keras' AdamW (`"adamw"` or an instance) updates
        through torch's fused kernel (`keras_models.optimizers.AdamW`: the same values)."""
        return super().compile(with_fused_update(optimizer), *args, **kwargs)

    def predict_step(self, *args):
        # JAX's trainer passes `(state, data)`, the others `(data,)`.
        if keras.backend.backend() != "torch":
            return super().predict_step(*args)
        x, _, _ = keras.utils.unpack_x_y_sample_weight(args[0])
        values, _ = self.normalize_inputs(x)
        graph = super().call  # the functional graph; the inputs are already normalised
        return traced_call(self, values, lambda v: graph(v, training=False))

    def _checked_batches(self, x):
        """A Python generator of batches, each checked on the host before it is used."""
        if not inspect.isgenerator(x):
            return x

        def checked():
            for batch in x:
                # Keras reads a tuple or list batch as (x, y, sample_weight).
                self.check_data(batch[0] if isinstance(batch, (tuple, list)) else batch)
                yield batch

        return checked()

    def fit(self, x=None, y=None, *args, **kwargs):
        self.check_data(x, y, training=True)
        return super().fit(self._checked_batches(x), y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_data(x, y, training=True)
        return super().evaluate(self._checked_batches(x), y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self.check_data(x)
        return super().predict(self._checked_batches(x), *args, **kwargs)

    def save(self, filepath, overwrite=True, **kwargs):
        """`keras.Model.save`, made atomic for `.keras` files: the file is written under a
        temporary name in the same directory and renamed over `filepath`, so an interrupted
        save leaves an earlier file intact."""
        path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
        if path is None or not path.endswith(".keras") or (not overwrite and os.path.exists(path)):
            return super().save(filepath, overwrite=overwrite, **kwargs)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".saving-", suffix=".keras", dir=directory)
        os.close(fd)
        try:
            super().save(tmp, overwrite=True, **kwargs)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    # Bad data is refused on the host before a compiled step starts: an error raised inside
    # a traced step can leave a JAX model's variables unusable.
    def check_data(self, x, y=None, training=False):
        """Validates in-memory `fit`/`evaluate`/`predict` data; raises `ValueError`."""
        items = check_data(x, self.input_names, self.input_rank, self.extra_input_names)
        model_inputs = {k: v for k, v in items.items() if k in self.input_names}
        if model_inputs:
            self.normalize_inputs(model_inputs)  # checks values, computed positions included
        return items


class Backbone(RawTextMixin, InputNormalizingModel):
    """Base class of the family backbones.

    A backbone loaded with `from_preset` from a preset with tokenizer files gets `tokenizer`
    and a `SequenceClassificationPreprocessor`, so `predict` also takes raw text (a string, a
    list, or `{"text": [...], "text_pair": [...]}`).

    A subclass builds its functional graph in `__init__` from `keras.Input`s named after the
    Hugging Face inputs, passes them to `super().__init__(inputs=..., outputs=...)` and sets
    `self._input_order`. `get_config()` returns the constructor arguments.
    """

    preprocessor_cls = SequenceClassificationPreprocessor
    _arguments_end = True
    #: The Hugging Face `model_type` of the family.
    model_type = None

    def __setattr__(self, name, value):
        # A family backbone makes its layers attributes before `super().__init__`, so that its
        # forward-pass functions can read them while the graph is built. On torch a Keras layer
        # is a `torch.nn.Module`, which takes no sub-module before `Module.__init__`: until
        # then they are plain attributes (the functional graph tracks those layers anyway), as
        # in KerasHub's backbones.
        if keras.backend.backend() == "torch" and self.__dict__.get("_modules") is None:
            return object.__setattr__(self, name, value)
        return super().__setattr__(name, value)

    def __init__(self, *args, input_order=None, dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._input_order = tuple(input_order or self.input.keys())
        if dtype is not None:
            # Functional models keep a float32 policy of their own; record the one the layers
            # were built with so `get_config` round-trips it.
            self.dtype_policy = keras.dtype_policies.get(dtype)

    @property
    def token_embedding(self):
        """The `ReversibleEmbedding` holding the word table (tied LM heads read it)."""
        raise NotImplementedError

    @classmethod
    def get_layout_map(
        cls, device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"
    ):
        """A `keras.distribution.LayoutMap` for `keras.distribution.ModelParallel`.

        Attention and feed-forward kernels are split Megatron-style (column then row) and the
        embedding tables along the hidden axis; the rest is replicated. The same signature as
        KerasHub's backbones.

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`, e.g. shape `(2, 4)` with axis names
                `("batch", "model")`.
            model_parallel_dim_name: the mesh axis that splits weights.
            data_parallel_dim_name: the mesh axis that splits batches.

        Examples:
        >>> import keras
        >>> mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"),
        ...                                      keras.distribution.list_devices()[:1])
        >>> from keras_models import RobertaBackbone
        >>> layout_map = RobertaBackbone.get_layout_map(mesh)
        >>> layout_map["encoder_layer_0/attention/query/kernel"].axes
        (None, 'model')
        """
        from keras_models.models.layout import transformer_layout_map

        return transformer_layout_map(device_mesh, model_parallel_dim_name, data_parallel_dim_name)

    def get_config(self):
        # Subclasses add their constructor arguments; keep only Layer-level keys here.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def config(self):
        """A read-only `ModelConfig`: the constructor arguments under their Hugging Face
        names, plus `model_type`, `architectures` and `dtype` (the policy's name)."""
        return ModelConfig(self.hf_config_fields())

    def hf_config_fields(self):
        fields = {k: v for k, v in self.get_config().items() if k not in ("name", "trainable")}
        fields["dtype"] = self.dtype_policy.name
        return {"model_type": self.model_type, "architectures": [type(self).__name__], **fields}

    @classmethod
    def from_preset(cls, preset, **overrides):
        """Loads a backbone from a registered name, a Keras preset directory, a Hugging Face
        checkpoint directory or `hf://owner/name`.

        Args:
            preset: the preset to load.
            **overrides: constructor arguments that replace the preset's (e.g. `dtype`).
        """
        from keras_models.loading.loader import load_backbone

        return load_backbone(cls, preset, **overrides)

    @classmethod
    def from_pretrained(cls, preset, **overrides):
        """`from_preset`, under transformers' name."""
        return cls.from_preset(preset, **overrides)

    def save_to_preset(self, preset_dir):
        """Writes the backbone as a Keras preset directory."""
        from keras_models.presets.keras_format import save_preset

        save_preset(self, preset_dir, extra_files=self.preset_extra_files())

"""Backbone base class: a functional model that accepts tensors, lists and dicts."""

import contextlib
import contextvars
import inspect
import os
import tempfile
import warnings

import keras
from keras import ops

from keras_models import torch_fast_paths
from keras_models.arguments import KERAS_ARGUMENTS, accepted_arguments, refuse_unknown
from keras_models.models.config_view import ModelConfig
from keras_models.models.inputs import (
    CACHE_INPUT,
    EMBEDS_FOR,
    check_data,
    check_lengths,
    check_limits,
    is_concrete,
    normalize_inputs,
)
from keras_models.models.outputs import (
    CALL_OPTIONS,
    HEAD_MASKS,
    OUTPUT_FLAGS,
    finish_outputs,
    pop_call_options,
)
from keras_models.models.pipelines import checked_pipeline, raise_batch_error
from keras_models.models.quantization import (
    collecting_once,
    lean_construction,
    quantized_layers,
    restore_quantization,
    use_int8_kernels,
)
from keras_models.models.raw_text import RawTextMixin
from keras_models.optimizers import with_fused_update
from keras_models.tokenizers.preprocessors.classification import (
    SequenceClassificationPreprocessor,
)

#: How many of our model calls or Keras loops (`fit`, `evaluate`, `predict`) are running: only
#: the outermost call returns a `ModelOutput`; nested ones (a backbone inside its task's graph)
#: and Keras' own steps get the plain dicts that Keras reads.
_DEPTH = contextvars.ContextVar("keras_models_call_depth", default=0)


@contextlib.contextmanager
def _nested():
    token = _DEPTH.set(_DEPTH.get() + 1)
    try:
        yield
    finally:
        _DEPTH.reset(token)


def _serialized_policy(policy):
    """`keras.dtype_policies.serialize(policy)`, the same dict, without Keras'
    `serialize_keras_object`: that imports TensorFlow (about 400 MB) whenever it is installed,
    on every backend, and loading a Keras preset's weights reads `config` (so `get_config`):
    a quantized preset loaded on torch imported it."""
    return {
        "module": "keras",
        "class_name": type(policy).__name__,
        "config": policy.get_config(),
        "registered_name": None,
    }


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
    #: Inputs an eager call takes beyond the graph's, in transformers' positional order: they
    #: follow `input_names` in the list form.
    call_inputs = ("head_mask", "inputs_embeds")
    #: Graph inputs that came after `call_inputs` (a BERT-style decoder's cross-attention
    #: inputs): the list form places them after those, so earlier lists keep their meaning.
    late_inputs = ("encoder_hidden_states", "encoder_attention_mask")
    #: Whether a call takes `use_cache` / `past_key_values` (incremental decoding).
    takes_cache = False
    #: Output names in transformers' output class order (`return_dict=False` tuples); names
    #: not listed follow in the order they were produced.
    output_order = ()
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

    @property
    def positional_names(self):
        """Every input name in the list order: the graph inputs, `call_inputs`, the
        `late_inputs` this model has, then `past_key_values` for a model that takes a cache and
        does not place it among `call_inputs` (transformers' order for the BERT-style models)."""
        late = tuple(name for name in self.input_names if name in self.late_inputs)
        early = tuple(name for name in self.input_names if name not in late)
        cache = (CACHE_INPUT,) if self.takes_cache and CACHE_INPUT not in self.call_inputs else ()
        return early + self.call_inputs + late + cache

    def normalize_inputs(self, inputs, kwargs=None):
        """Returns `(full_input_dict, extras)` for a tensor, list or dict.

        Concrete (eager) ids are also checked against the model's tables; inside compiled
        steps the values are not readable, and `fit`/`evaluate`/`predict` check their data on
        the host beforehand.
        """
        values, extras = normalize_inputs(
            inputs,
            self.positional_names,
            self.input_rank,
            (*self.extra_input_names, *HEAD_MASKS),
            kwargs,
        )
        values = self.derived_inputs(values, extras)
        given = tuple(values)
        values = self.fill_defaults(values)
        self.check_values(values, given)
        return values, extras

    def derived_inputs(self, values, extras):
        """Inputs computed from the others before the defaults (labels shifted into decoder
        inputs, in seq2seq tasks)."""
        return values

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
        names = set(self.positional_names) | set(self.extra_input_names)
        named = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        return named

    def __call__(self, inputs=None, *args, **kwargs):
        """Runs the model on a tensor, a list or a dict, as transformers' models are called.

        Besides the inputs (and labels, for tasks) an eager call takes transformers' call
        options: `output_hidden_states`, `output_attentions`, `head_mask`, `inputs_embeds`
        (in place of `input_ids`) and `return_dict` (False: a tuple). Outputs come back as a
        `ModelOutput`, a dict whose keys are also attributes.
        """
        options = pop_call_options(kwargs)
        values, extras = self.normalize_inputs(inputs, self._split_kwargs(kwargs))
        unknown = sorted(set(kwargs) - {"training", "mask"})
        if unknown:
            raise ValueError(
                f"{type(self).__name__} does not take {unknown} in a call; it takes the inputs "
                f"{list(self.positional_names)}, labels {list(self.extra_input_names)}, the "
                f"options {sorted(CALL_OPTIONS)} and `training`."
            )
        for name in HEAD_MASKS:
            if name in extras:
                if options[name] is not None:
                    raise ValueError(f"`{name}` was given twice (in the inputs and as a keyword).")
                options[name] = extras.pop(name)
        options[CACHE_INPUT] = values.pop(CACHE_INPUT, None)
        request = self._forward_request(options, values)
        outermost = _DEPTH.get() == 0
        with _nested():
            if request is None:
                outputs = super().__call__(values, *args, **kwargs)
            else:
                training = kwargs.get("training")
                outputs = self.call_with_options(values, training=training, **request)
        for flag in OUTPUT_FLAGS:
            key = flag[len("output_") :]
            if options[flag] is False:
                outputs = {k: v for k, v in outputs.items() if not k.endswith(key)}
        outputs = self.add_loss_output(outputs, extras)
        if any(isinstance(v, keras.KerasTensor) for v in keras.tree.flatten(outputs)):
            object.__setattr__(self, "_symbolic_outputs", outputs)
        if not outermost:
            return outputs
        # transformers' order: loss, then the head's outputs as built, then the extras.
        built = getattr(self, "_outputs_struct", None)
        order = self.output_order or tuple(built if isinstance(built, dict) else ())
        return finish_outputs(outputs, options["return_dict"], ("loss", *order))

    def graph_flag(self, name):
        """Whether the functional graph carries the outputs of `name` (`output_attentions`...)."""
        return bool(getattr(self, name, False))

    def _forward_request(self, options, values):
        """The forward-pass arguments of a call that the functional graph cannot serve, or
        `None` when it can."""
        wanted = {
            flag: self.graph_flag(flag) if options[flag] is None else bool(options[flag])
            for flag in OUTPUT_FLAGS
        }
        extra = any(wanted[flag] and not self.graph_flag(flag) for flag in OUTPUT_FLAGS)
        # Inputs the graph does not have (`inputs_embeds`, Pegasus' `position_ids`...), or a
        # graph input left out (a decoder's `encoder_hidden_states`: what reads it is skipped).
        extra = extra or any(name not in self.input_names for name in values)
        extra = extra or any(name not in values for name in self.input_names)
        cache = {name: options[name] for name in ("use_cache", CACHE_INPUT) if options[name]}
        if cache and not self.takes_cache:
            raise ValueError(
                f"{type(self).__name__} does not take {sorted(cache)} (no incremental decoding "
                "in its call)."
            )
        masks = {name: options[name] for name in HEAD_MASKS if options[name] is not None}
        if not extra and not cache and not masks:
            return None
        shapes = self.head_mask_shapes()
        for name, mask in masks.items():
            if name not in shapes:
                raise ValueError(
                    f"{type(self).__name__} does not take `{name}`; it takes {sorted(shapes)}."
                )
            masks[name] = self.expand_head_mask(mask, *shapes[name], name=name)
        request = dict(wanted, head_mask=masks.pop("head_mask", None), **masks)
        if cache:
            request.update(
                use_cache=bool(options["use_cache"]), past_key_values=options[CACHE_INPUT]
            )
        return request

    def head_mask_shapes(self):
        """Each head mask this model takes: name -> `(layers, heads)`."""
        backbone = getattr(self, "backbone", self)
        if backbone is not self:
            return backbone.head_mask_shapes()
        return {"head_mask": (self.num_hidden_layers, self.num_attention_heads)}

    def expand_head_mask(self, head_mask, layers=None, heads=None, name="head_mask"):
        """`[heads]` or `[layers, heads]` factors as a `[layers, heads]` float tensor."""
        if layers is None or heads is None:
            layers, heads = self.head_mask_shapes()[name]
        try:
            mask = ops.convert_to_tensor(head_mask, "float32")
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(
                f"`{name}` must have shape [{heads}] (attention heads) or [{layers}, {heads}] "
                f"(layers, attention heads): an array of factors; got {type(head_mask).__name__}."
            ) from error
        if tuple(mask.shape) == (heads,):
            mask = ops.broadcast_to(mask[None, :], (layers, heads))
        if tuple(mask.shape) != (layers, heads):
            raise ValueError(
                f"`{name}` must have shape [{heads}] (attention heads) or [{layers}, "
                f"{heads}] (layers, attention heads); got {tuple(mask.shape)}."
            )
        return mask

    def call_with_options(self, values, training=None, **request):
        """Runs the forward pass with call options (see `_forward_request`)."""
        raise NotImplementedError

    def add_loss_output(self, outputs, labels):
        """Adds `loss` for labels given in the call (tasks)."""
        return outputs

    def call(self, inputs, training=None, mask=None):
        inputs, extras = self.normalize_inputs(inputs)
        self._refuse_call_inputs({**inputs, **extras})
        self.require_graph_inputs(inputs)
        return super().call(inputs, training=training, mask=mask)

    def require_graph_inputs(self, values):
        """Refuses a full input dict that lacks a graph input with no default (a decoder's
        `encoder_hidden_states`): the functional graph cannot run without it."""
        absent = [name for name in self.input_names if name not in values]
        if absent:
            raise ValueError(
                f"The functional graph that `fit`, `evaluate` and `predict` run needs {absent} "
                "(an eager call may leave them out)."
            )

    def _refuse_call_inputs(self, items):
        for name in (*EMBEDS_FOR, *HEAD_MASKS, CACHE_INPUT, *self.call_inputs):
            if name in items:
                raise ValueError(
                    f"`{name}` is taken in eager calls (`model(..., {name}=...)`); the "
                    "functional graph that `fit`, `evaluate` and `predict` run has no such input."
                )

    def quantize(self, mode=None, **kwargs):
        """`keras.Model.quantize`; int8 layers then multiply on each backend's fast int8 kernel
        (the same outputs; see `models/quantization.py`)."""
        with collecting_once(), warnings.catch_warnings():
            # Keras warns for each layer with nothing to quantize (dropout, layer norms, ...).
            warnings.filterwarnings("ignore", "Layer .* does not have a `quantize` method")
            super().quantize(mode, **kwargs)
        use_int8_kernels(self)
        if not self.compiled:  # "auto" resolves again, for an int8 model (below)
            self._jit_compile = None

    def _resolve_auto_jit_compile(self):
        """Keras' `jit_compile="auto"`, except that an int8 model on a tensorflow CPU runs
        under XLA, which Keras leaves off on CPUs: there XLA fuses the per-row quantization of
        the inputs into the int8 products (RoBERTa-base int8 at 8 x 128: 830 -> 718 ms;
        float32 gains nothing, 1011 -> 1008 ms)."""
        int8 = any(
            getattr(layer, "quantization_mode", None) == "int8" for layer in self._flatten_layers()
        )
        if keras.backend.backend() == "tensorflow" and int8 and not self._distribute_strategy:
            return True
        return super()._resolve_auto_jit_compile()

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        """`keras.Model.compile`; on torch, Keras' AdamW (`"adamw"` or an instance) updates
        through torch's fused kernel (`keras_models.optimizers.AdamW`: the same values)."""
        return super().compile(with_fused_update(optimizer), *args, **kwargs)

    def train_step(self, *args):
        """Keras' training step; on torch inside `torch_fast_paths.lean_training_step` (float32
        products on oneDNN, table gradients in reused buffers: the same arithmetic), except
        under `jit_compile=True`, where torch compiles the step and picks its own kernels."""
        if keras.backend.backend() != "torch" or self.jit_compile:
            return super().train_step(*args)
        with torch_fast_paths.lean_training_step():
            return super().train_step(*args)

    def predict_step(self, *args):
        # JAX's trainer passes `(state, data)`, the others `(data,)`.
        if keras.backend.backend() != "torch":
            return super().predict_step(*args)
        x, _, _ = keras.utils.unpack_x_y_sample_weight(args[0])
        values, _ = self.normalize_inputs(x)
        graph = super().call  # the functional graph; the inputs are already normalised
        return torch_fast_paths.traced_call(self, values, lambda v: graph(v, training=False))

    def prepare_batch(self, batch, training=False):
        """Makes one batch drawn from a data pipeline ready, on the host: raw text through
        `preprocess_batch`, then the checks of `check_data`. Keras reads a tuple batch as
        `(x, y, sample_weight)`.

        Returns:
            `batch` itself when nothing changed, else the new `(x, y, sample_weight)` batch.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        new_x, new_y = self.preprocess_batch(x, y, training=training)
        self.check_data(new_x, new_y, training=training)
        if new_x is x and new_y is y:
            return batch
        return keras.utils.pack_x_y_sample_weight(new_x, new_y, sample_weight)

    def preprocess_batch(self, x, y=None, training=False):
        """A drawn batch's `(x, y)` as model inputs and labels (raw text is tokenized in
        models with a preprocessor); unchanged here."""
        return x, y

    def _run_loop(self, loop, call, what, training, steps="steps", shuffle=False):
        """Runs Keras' `loop` (`fit`, `evaluate` or `predict`) with the bound arguments `call`.

        Data pipelines (`x`, and `fit`'s `validation_data`) are wrapped so that each batch is
        checked on the host as it is drawn (`pipelines.CheckedPipeline`). When the loop stops
        on an error, a bad batch's `ValueError` is raised as such (tensorflow wraps it), and
        on JAX the variables get back the values of the last step that ran.
        """
        given = call.arguments
        adapter_args = {
            "y": given.get("y"),
            "sample_weight": given.get("sample_weight"),
            "batch_size": given.get("batch_size"),
            "steps_per_epoch": given.get(steps),
            "shuffle": given.get("shuffle", shuffle),
            "class_weight": given.get("class_weight"),
        }
        given["x"] = checked_pipeline(self, given.get("x"), what, training, **adapter_args)
        if "validation_data" in given:
            given["validation_data"] = checked_pipeline(
                self, given["validation_data"], "the validation data", True
            )
        pipelines = [given["x"], given.get("validation_data")]
        with _nested():
            try:
                return loop(*call.args, **call.kwargs)
            except BaseException as error:
                self._reattach_variables()
                raise_batch_error(error, pipelines)
                raise
            finally:
                self.__dict__.pop("_km_detached", None)

    def _purge_model_variables(self, *args, **kwargs):
        # Keras' JAX loops detach the variables' values while they run and reattach them when
        # they end; a loop stopped by an error (a bad batch found as it is drawn) would leave
        # them detached, reading as fresh initial values. Keep what is detached.
        optimizer = getattr(self, "optimizer", None)
        variables = [
            *self.trainable_variables,
            *self.non_trainable_variables,
            *(optimizer.variables if optimizer is not None else ()),
            *self.metrics_variables,
        ]
        self.__dict__["_km_detached"] = [(v, v._value) for v in variables if v._value is not None]
        return super()._purge_model_variables(*args, **kwargs)

    def _reattach_variables(self):
        """After a JAX loop stopped by an error: the state of the last step that ran goes back
        into the variables (Keras' `jax_state_sync`), and variables detached before any step
        ran get back the values they held."""
        if keras.backend.backend() != "jax":
            return
        try:
            if getattr(self, "_jax_state", None) and not getattr(self, "_jax_state_synced", True):
                self.jax_state_sync()
            for variable, value in self.__dict__.pop("_km_detached", ()):
                if variable._value is None:
                    variable.assign(value)
            self._jax_state = None
        except Exception:  # noqa: BLE001
            # An error inside a compiled step may have consumed the state (donated buffers);
            # the loop's own error is the one to report.
            pass

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, with the data checked on the host before any step uses it.

        In-memory arrays are checked whole before the loop. Data pipelines
        (`tf.data.Dataset`, `keras.utils.PyDataset`, a torch `DataLoader`, a grain dataset,
        a Python generator), as `x` or as `validation_data`, are checked batch by batch as
        Keras draws them, never read whole beforehand: ids against the model's tables, lengths
        against its positions, ranks, dtypes, names and labels, exactly as for arrays.
        Batches of raw text go through the attached `preprocessor`. A bad batch raises a
        `ValueError` that names its position, e.g. "Batch 3 (counting from 1) of the `fit`
        data: `input_ids` holds 99, ...", before any step runs on it; the steps before it
        keep their updates. Batches are counted in each pass over the data (each epoch,
        unless `steps_per_epoch` makes Keras continue a pass into the next epoch).
        """
        self.check_data(x, y, training=True)
        call = inspect.signature(super().fit).bind(x, y, *args, **kwargs)
        return self._run_loop(super().fit, call, "the `fit` data", True, "steps_per_epoch", True)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate`, with the data checked on the host as in `fit`."""
        self.check_data(x, y, training=True)
        call = inspect.signature(super().evaluate).bind(x, y, *args, **kwargs)
        return self._run_loop(super().evaluate, call, "the `evaluate` data", True)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`, with the data checked on the host as in `fit`."""
        self.check_data(x)
        call = inspect.signature(super().predict).bind(x, *args, **kwargs)
        return self._run_loop(super().predict, call, "the `predict` data", False)

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

    # --- LoRA (keras_models.models.lora) --------------------------------------------------
    def enable_lora(self, rank, target_layer_names=None, lora_alpha=None):
        """Freezes the backbone and adds LoRA factors of `rank` to the target projections
        (KerasHub's API; PEFT's LoRA). A task keeps its head trainable.

        Afterwards the trainable variables are the LoRA factors, the targets' biases and a
        task's head; `fit` trains those. `export_to_transformers` writes the merged kernels.

        Args:
            rank: the rank of the factors.
            target_layer_names: names of the `Dense` layers to adapt; default the attention
                query and value projections (`("query", "value")`).
            lora_alpha: the scale numerator (`alpha / rank`); default `rank`.
        """
        from keras_models.models.lora import enable_lora

        enable_lora(getattr(self, "backbone", self), rank, target_layer_names, lora_alpha)

    def save_lora_weights(self, path):
        """Writes every variable `enable_lora` left trainable (the factors, the targets'
        biases, a task's head) to `path` (a `.lora.safetensors` file)."""
        from keras_models.models.lora import save_lora_weights

        save_lora_weights(self, path)

    def load_lora_weights(self, path):
        """Restores `save_lora_weights`' file into a model of the same architecture on which
        `enable_lora` was called with the same settings."""
        from keras_models.models.lora import load_lora_weights

        load_lora_weights(self, path)

    def export_lora_adapter(self, path):
        """Writes a PEFT adapter (`adapter_config.json`, `adapter_model.safetensors`) that
        `peft.PeftModel.from_pretrained` loads onto the transformers model of the checkpoint
        this model was loaded from, giving this model's outputs.

        Returns:
            The absolute path written.
        """
        from keras_models.models.lora import export_lora_adapter
        from keras_models.presets.families import get_family

        converter = get_family(getattr(self, "backbone", self).model_type).converter
        return export_lora_adapter(self, path, converter)

    def export(
        self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs
    ):
        """Keras' serving export (`"tf_saved_model"`, `"onnx"`, `"openvino"`), with
        transformers' input names and every axis dynamic; see `keras_models.models.serving`
        for the signature and what each backend can export (a format it cannot is a
        ValueError with the reason).

        Args:
            filepath: where to write the artifact.
            format: `"tf_saved_model"`, `"onnx"` or `"openvino"` (Keras' other formats are
                passed to Keras as they are).
            verbose: Keras' `verbose`.
            input_signature: defaults to one dict of int32 inputs named as transformers
                names them, `[batch, sequence]` (`[batch, choices, sequence]` for multiple
                choice), the inputs sharing their axes.
            **kwargs: passed to Keras' `export`.
        """
        from keras_models.models.serving import export

        return export(self, filepath, format, verbose, input_signature, kwargs, super().export)

    def export_to_transformers(self, path, max_shard_size="5GB", verbose=None):
        """Writes this model as a transformers checkpoint directory (`config.json`,
        `model.safetensors`, `generation_config.json` for generative models, the tokenizer
        files), loadable with transformers' `from_pretrained`. See
        `keras_models.presets.hf_export`.

        Args:
            path: the directory to write (replaced once the new one is complete).
            max_shard_size: the largest weight file; bigger checkpoints are sharded.
            verbose: progress bars per weight group and per file written: `None` (default)
                on a terminal only, `1` always, `2` one line per step, `0` none (see
                `keras_models.progress`).

        Returns:
            The absolute path written.
        """
        from keras_models.presets.hf_export import export_to_transformers

        return export_to_transformers(self, path, max_shard_size=max_shard_size, verbose=verbose)

    def export_to_keras_hub(self, path):
        """Writes this model as a KerasHub preset directory (RoBERTa backbone, masked LM and
        sequence classifier; OPT backbone and causal LM), which keras-hub's `from_preset`
        opens. See `keras_models.presets.keras_hub_format.export_to_keras_hub`.

        Returns:
            The absolute path written.
        """
        from keras_models.presets.families import get_family
        from keras_models.presets.keras_hub_format import export_to_keras_hub

        converter = get_family(getattr(self, "backbone", self).model_type).converter
        return export_to_keras_hub(self, path, converter)

    def save_pretrained(self, path, max_shard_size="5GB", verbose=None):
        """`export_to_transformers`, under transformers' name."""
        return self.export_to_transformers(path, max_shard_size=max_shard_size, verbose=verbose)

    # Bad data is refused on the host before a compiled step starts: an error raised inside
    # a traced step can leave a JAX model's variables unusable.
    def check_data(self, x, y=None, training=False):
        """Validates in-memory `fit`/`evaluate`/`predict` data; raises `ValueError`."""
        if isinstance(x, dict):
            self._refuse_call_inputs(x)
        items = check_data(x, self.positional_names, self.input_rank, self.extra_input_names)
        model_inputs = {k: v for k, v in items.items() if k in self.input_names}
        if model_inputs:
            # Checks values, computed positions included.
            self.require_graph_inputs(self.normalize_inputs(model_inputs)[0])
        return items


def _quantization_config(model):
    """`{"quantized_layers": ...}` of a quantized model (see `models/quantization.py`)."""
    recorded = quantized_layers(model)
    return {"quantized_layers": recorded} if recorded else {}


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
    #: Arguments every backbone takes besides its family's (config.json fields too).
    extra_arguments = OUTPUT_FLAGS + ("quantized_layers",)
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

    def __init__(
        self,
        *args,
        input_order=None,
        output_hidden_states=False,
        output_attentions=False,
        dtype=None,
        quantized_layers=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self._input_order = tuple(input_order or self.input.keys())
        flags = {
            "output_hidden_states": output_hidden_states,
            "output_attentions": output_attentions,
        }
        for flag, on in flags.items():
            key = flag[len("output_") :]
            if on and not any(k.endswith(key) and k != "last_hidden_state" for k in self.output):
                raise ValueError(f"`{flag}=True` is not built for {type(self).__name__}.")
        self.output_hidden_states = output_hidden_states
        self.output_attentions = output_attentions
        if dtype is not None:
            # Functional models keep a float32 policy of their own; record the one the layers
            # were built with so `get_config` round-trips it.
            self.dtype_policy = keras.dtype_policies.get(dtype)
        restore_quantization(self, quantized_layers)

    @property
    def token_embedding(self):
        """The `ReversibleEmbedding` holding the word table (tied LM heads read it)."""
        raise NotImplementedError

    def call_with_options(
        self, values, output_hidden_states=False, output_attentions=False, training=None, **options
    ):
        """The forward pass on a full input dict with call options, symbolic or eager (see
        `BertStyleBackbone.encoder_forward`); a family that has not built them refuses."""
        asked = {**options, "output_hidden_states": output_hidden_states}
        asked.update(output_attentions=output_attentions, inputs_embeds=values.get("inputs_embeds"))
        asked = [k for k, v in asked.items() if v is not None and v is not False]
        raise ValueError(f"{type(self).__name__} does not take {asked} in a call (not built).")

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
            "dtype": _serialized_policy(self.dtype_policy),
            "output_hidden_states": self.output_hidden_states,
            "output_attentions": self.output_attentions,
            **_quantization_config(self),
        }

    @classmethod
    def from_config(cls, config):
        return lean_construction(lambda: cls(**config), config)

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
    def from_preset(cls, preset, *, verbose=None, **overrides):
        """Loads a backbone from a registered name, a Keras preset directory, a Hugging Face
        checkpoint directory or `hf://owner/name`.

        Args:
            preset: the preset to load.
            verbose: progress bars of the hub download and the conversion: `None` (default)
                on a terminal only, `1` always, `2` one line per step, `0` none (see
                `keras_models.progress`).
            **overrides: constructor arguments that replace the preset's (e.g. `dtype`).
        """
        from keras_models.loading.loader import load_backbone

        return load_backbone(cls, preset, verbose=verbose, **overrides)

    @classmethod
    def from_pretrained(cls, preset, **overrides):
        """`from_preset`, under transformers' name."""
        return cls.from_preset(preset, **overrides)

    def save_to_preset(self, preset_dir):
        """Writes the backbone as a Keras preset directory."""
        from keras_models.presets.keras_format import save_preset

        save_preset(self, preset_dir, extra_files=self.preset_extra_files())

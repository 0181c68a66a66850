"""Serving exports: `model.export(path, format=...)` with transformers' input names and dynamic
batch and sequence axes, on every path Keras 3 has for the active backend.

The input signature is one dict of int32 tensors named as transformers names them
(`input_ids`, `attention_mask`, ...; `decoder_*` for a seq2seq decoder), shaped
`[batch, sequence]` (`[batch, choices, sequence]` for multiple choice) with every axis
dynamic. The inputs of one model share their axes: every encoder input has the same
`sequence`, every `decoder_*` input the same `decoder_sequence`.

What each backend can export (Keras 3.15):

| backend | tf_saved_model | onnx | openvino |
|---|---|---|---|
| tensorflow | yes | yes (tf2onnx) | yes |
| jax | yes (jax2tf) | yes (jax2onnx) | yes (through ONNX) |
| torch | refused | yes (torch.export) | yes (through ONNX) |

`REFUSED` says why for each refused path (a `ValueError` with that reason). JAX names the
dynamic axes of a trace symbolically, and the inputs must share theirs (a mask is added to
scores computed from the ids); Keras names each input's axes apart, so the jax2tf and
jax2onnx paths here give them shared names (`axis_names`). The three ONNX paths are our own,
and name the graph outputs by the model's dict keys (`logits`, `start_logits`, ...):
- tensorflow (`_tf_onnx`) calls tf2onnx as Keras does, less one of its graph rewrites that
  breaks the dynamic reshapes after every `Dense` / `EinsumDense`, and with converters for two
  ops it lacks (the `Erfc` of TensorFlow's exact GELU, and XLA's `DynamicUpdateSlice`).
- jax (`_export_onnx_jax`) calls jax2onnx as Keras does, with shared axis symbols. A few
  layers are written in forms jax2onnx converts with symbolic axes, each commented where it
  is (`position_range`, `ChoiceHead`, `encoder_attention_mask`).
- torch (`_export_torch_onnx`): Keras exports torch ONNX with dynamic axes through the
  TorchScript exporter, which fixes the shapes these models compute with; this path calls
  torch's dynamo exporter (`torch.onnx.export(dynamo=True)`, which needs `onnxscript`) with
  one `torch.export.Dim` per axis name, shared across inputs.

OpenVINO reads ONNX, so on jax and torch the OpenVINO IR is converted from our ONNX export
(`_export_openvino_through_onnx`): Keras' own paths there (jax2tf's `XlaCallModule`,
`torch.jit.trace` of dict outputs) cannot give these models to OpenVINO.

`export_decoding_step` writes one cached decoding step of a decoder-only LM (dynamic batch and
token axes, the mask and cache `max_length` long) through the same paths: a TF SavedModel
signature on tensorflow and jax (jax2tf), ONNX on every backend (`_tf_onnx`, `_jax_onnx`,
`_torch_onnx`), with the token axis bounded by `max_length` wherever it is traced symbolically
(the cache write is a dynamic update slice, which needs `tokens <= max_length`). `DECODING_STEP_REFUSED` says
why for the other pairs.
"""

import warnings

import keras

#: Formats whose artifacts reproduce the model and are tested here.
SERVING_FORMATS = ("tf_saved_model", "onnx", "openvino")

#: (backend, format) -> why that path cannot export these models.
REFUSED = {
    ("torch", "tf_saved_model"): (
        "Keras exports a TF SavedModel from the torch backend only through torch_xla, which "
        "has no CPU release for this torch; export from the tensorflow or jax backend"
    ),
}


def axis_names(name, rank):
    """The symbolic axes of input `name`: `batch`, (`choices`,) and the sequence axis of the
    encoder (`sequence`) or of the decoder (`decoder_sequence`)."""
    sequence = "decoder_sequence" if name.startswith("decoder_") else "sequence"
    return ("batch", "choices", sequence) if rank == 3 else ("batch", sequence)


def serving_signature(model):
    """`[{name: keras.InputSpec}]`: every graph input, int32, every axis dynamic."""
    rank = model.input_rank
    return [
        {
            name: keras.InputSpec(shape=(None,) * rank, dtype="int32", name=name)
            for name in model.input_names
        }
    ]


def _polymorphic_shapes(signature):
    return [
        {
            name: "(" + ", ".join(axis_names(name, len(spec.shape))) + ")"
            for name, spec in signature[0].items()
        }
    ]


def check_format(format):
    """Refuses, with the reason, a format this backend cannot export these models to."""
    reason = REFUSED.get((keras.backend.backend(), format))
    if reason:
        raise ValueError(
            f"`format={format!r}` cannot be exported on the {keras.backend.backend()} "
            f"backend: {reason}."
        )


def export(model, filepath, format, verbose, input_signature, kwargs, keras_export):
    """`model.export` (see `InputNormalizingModel.export`); `keras_export` is Keras' own."""
    check_format(format)
    signature = input_signature or serving_signature(model)
    if not (
        isinstance(signature, (list, tuple))
        and len(signature) == 1
        and isinstance(signature[0], dict)
        and all(hasattr(spec, "shape") for spec in signature[0].values())
    ):
        raise ValueError(
            "`input_signature` must be one dict of input specs, `[{name: keras.InputSpec}]` "
            f"(the default: `serving_signature(model)`), got {signature!r}."
        )
    backend = keras.backend.backend()
    if backend == "jax" and format == "tf_saved_model":
        options = dict(kwargs.pop("jax2tf_kwargs", None) or {})
        options.setdefault("polymorphic_shapes", _polymorphic_shapes(signature))
        kwargs["jax2tf_kwargs"] = options
    if format == "onnx" or (format == "openvino" and backend != "tensorflow"):
        # Our own paths (OpenVINO through ONNX, which it reads) take Keras' one ONNX option.
        unknown = sorted(set(kwargs) - {"opset_version"})
        if unknown:
            raise ValueError(
                f"`export(format={format!r})` on the {backend} backend takes `opset_version` "
                f"only, got {unknown}."
            )
        onnx_export = {
            "jax": _export_onnx_jax,
            "torch": _export_torch_onnx,
            "tensorflow": _export_onnx_tf,
        }[backend]
        if format == "onnx":
            return onnx_export(model, filepath, verbose, signature, kwargs.get("opset_version"))
        return _export_openvino_through_onnx(
            filepath, verbose, lambda path: onnx_export(model, path, False, signature, None)
        )
    return keras_export(
        filepath, format=format, verbose=verbose, input_signature=signature, **kwargs
    )


#: Sizes of the example inputs of a torch export: none is 0 or 1 (`torch.export` makes those
#: axes constants) and no two are equal, so that no axis is mistaken for another.
_EXAMPLE_SIZES = {"batch": 2, "choices": 3, "sequence": 5, "decoder_sequence": 4, "tokens": 3}


def _output_names(model):
    """The model's output keys (`logits`, ...), or None when its output is not a dict."""
    return list(model.output) if isinstance(model.output, dict) else None


def _export_torch_onnx(model, filepath, verbose, signature, opset_version):
    """`model` to ONNX from the torch backend (see `_torch_onnx`), its example inputs inside
    the model's limits (masks of ones); the export reads none of their values."""
    limits = model.input_limits()
    _torch_onnx(
        model,
        model,
        filepath,
        verbose,
        signature,
        opset_version,
        axes=axis_names,
        fill=lambda name: 1 if name.endswith("attention_mask") else limits.get(name, (0, 1))[0],
    )


def _torch_onnx(model, serve, filepath, verbose, signature, opset_version, axes, fill, bounds=None):
    """ONNX from the torch backend with torch's dynamo exporter (`torch.onnx.export(...,
    dynamo=True)`, which needs `onnxscript`), the axes shared across inputs as
    `torch.export.Dim`s. Keras (3.15) takes the TorchScript exporter whenever an axis is
    dynamic, which cannot export these models with dynamic axes.

    `serve` maps a dict of the signature's inputs to a dict of outputs (the ONNX outputs are
    named by its keys) with the weights of `model`; `axes(name, rank)` names the dynamic axes
    of an input, `fill(name)` is the value of its example input, and `bounds`
    `{axis: largest size}` bounds an axis."""
    import torch

    specs = signature[0]
    names = list(specs)
    bounds = bounds or {}
    dims, args, dynamic_shapes = {}, [], []
    for name, spec in specs.items():
        axes_of = axes(name, len(spec.shape))
        shape = [_EXAMPLE_SIZES[a] if n is None else n for a, n in zip(axes_of, spec.shape)]
        dynamic_shapes.append(
            {
                i: dims.setdefault(axis, torch.export.Dim(axis, max=bounds.get(axis)))
                for i, (axis, n) in enumerate(zip(axes_of, spec.shape))
                if n is None
            }
        )
        dtype = getattr(torch, spec.dtype or "int32")
        args.append(torch.full(shape, fill(name), dtype=dtype))
    output_names = []

    class Flat(torch.nn.Module):
        """`serve` on flat positional inputs, returning its outputs' values in order (the
        exporter's form); their names are kept for the ONNX outputs."""

        def __init__(self):
            super().__init__()
            self.model = model  # its weights are the exported graph's

        def forward(self, *values):
            outputs = serve(dict(zip(names, values)))
            output_names[:] = list(outputs)
            return tuple(outputs.values())

    with warnings.catch_warnings():
        # Inputs sharing an axis give the exporter one name for several inputs' axes.
        warnings.filterwarnings("ignore", message=r".*will not be used, since it shares")
        # torch's own decomposition step still uses a pytree API it deprecated.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        program = torch.onnx.export(
            Flat().eval(),
            tuple(args),
            dynamo=True,
            dynamic_shapes=(tuple(dynamic_shapes),),
            input_names=names,
            verbose=verbose,
            opset_version=opset_version,
        )
    # torch's exporter falls back to fixed sizes, with no error, where `torch.export` fixed
    # a dynamic axis: an artifact that fails on any other size is refused here.
    for value, shape in zip(program.model.graph.inputs, dynamic_shapes):
        fixed = [i for i in shape if isinstance(value.shape[i], int)]
        if fixed:
            raise ValueError(
                f"torch.export fixed axes {fixed} of `{value.name}` (dynamic in the signature) "
                f"to {[value.shape[i] for i in fixed]}: the ONNX file would serve no other size."
            )
    program.optimize()
    # transformers' output names (`logits`, `start_logits`, ...), as the other formats have.
    for value, name in zip(program.model.graph.outputs, output_names):
        value.name = name
    program.save(filepath)


def _export_onnx_jax(model, filepath, verbose, signature, opset_version):
    """`model` to ONNX from the jax backend (see `_jax_onnx`)."""
    _jax_onnx(
        lambda x: model(x, training=False),
        filepath,
        verbose,
        signature,
        opset_version,
        axes=axis_names,
        output_names=_output_names(model),
    )


def _jax_onnx(
    serve, filepath, verbose, signature, opset_version, axes, output_names, constraints=()
):
    """jax -> ONNX with jax2onnx, as Keras' own jax ONNX export does, but with the inputs'
    dynamic axes sharing their symbols (Keras names every input's axes apart, and these models
    add a mask to scores computed from the ids) and the outputs named by their dict keys.

    `serve` maps a dict of the signature's inputs to the outputs (a dict with the keys
    `output_names`, or, with `output_names` None, whatever it returns); `axes(name, rank)`
    names the dynamic axes of an input, and `constraints` (jax's symbolic shape constraints,
    such as `"tokens <= 12"`) bound them."""
    import jax
    import numpy as np
    from jax2onnx import to_onnx

    specs = signature[0]
    names = list(specs)
    shapes = {}
    for name in names:
        shape = tuple(specs[name].shape)
        symbols = axes(name, len(shape))
        shapes[name] = tuple(symbols[i] if dim is None else dim for i, dim in enumerate(shape))
    if constraints:
        # jax2onnx makes unconstrained symbols of axis names; constrained ones are made here,
        # in one scope, and given to it as they are.
        symbols = sorted({d for shape in shapes.values() for d in shape if isinstance(d, str)})
        made = dict(
            zip(symbols, jax.export.symbolic_shape(", ".join(symbols), constraints=constraints))
        )
        shapes = {n: tuple(made.get(d, d) for d in shape) for n, shape in shapes.items()}
    inputs = [jax.ShapeDtypeStruct(shapes[n], np.dtype(specs[n].dtype)) for n in names]

    def flat(*values):
        outputs = serve(dict(zip(names, values)))
        if output_names is None:
            return outputs
        if list(outputs) != output_names:
            raise ValueError(f"The model returned {list(outputs)}, not {output_names}.")
        return tuple(outputs[k] for k in output_names)

    options = {"opset": opset_version} if opset_version is not None else {}
    to_onnx(
        flat,
        inputs,
        input_names=names,
        output_names=output_names,
        return_mode="file",
        output_path=str(filepath),
        **options,
    )
    if verbose is None or verbose:
        print(f"Saved artifact at '{filepath}'.")


def _export_onnx_tf(model, filepath, verbose, signature, opset_version):
    """`model` to ONNX from the tensorflow backend (see `_tf_onnx`)."""
    _tf_onnx(lambda x: model(x, training=False), filepath, verbose, signature, opset_version)


def _tf_onnx(serve, filepath, verbose, signature, opset_version):
    """tensorflow -> ONNX with tf2onnx, as Keras' own export does, with three mends that these
    models need:

    - tf2onnx's `reshape_optimizer` is left out. It rewrites the reshape back to
      `[batch, sequence, units]` that ends every `Dense` and `EinsumDense` of a 3D input
      (TensorFlow's Tensordot), after which onnxruntime fails at every size, the traced ones
      included.
    - TensorFlow's exact GELU computes `Erfc`, which ONNX does not have; it is written as
      `1 - Erf`.
    - Keras' `slice_update` (the decoding step's cache write) is XLA's `DynamicUpdateSlice`,
      which tf2onnx does not convert; it is written as a `ScatterND`.

    `serve` maps a dict of the signature's inputs to a dict of outputs, which name the ONNX
    outputs."""
    from unittest import mock

    import tensorflow as tf
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    patch_tf2onnx()  # Keras' numpy 2 compatibility patches for tf2onnx
    import tf2onnx

    specs = [
        {
            name: tf.TensorSpec(spec.shape, spec.dtype, name=name)
            for name, spec in signature[0].items()
        }
    ]
    function = tf.function(serve, input_signature=specs, autograph=False)
    kept = {
        name: optimizer
        for name, optimizer in tf2onnx.optimizer._get_optimizers().items()
        if name != "reshape_optimizer"
    }
    with mock.patch.object(tf2onnx.optimizer, "_get_optimizers", lambda: kept):
        tf2onnx.convert.from_function(
            function,
            specs,
            opset=opset_version,
            custom_op_handlers={
                "Erfc": (_erfc_as_one_minus_erf, []),
                "XlaDynamicUpdateSlice": (_dynamic_update_slice_as_scatter, []),
            },
            output_path=str(filepath),
        )
    if verbose is None or verbose:
        print(f"Saved artifact at '{filepath}'.")


def _erfc_as_one_minus_erf(graph, node, name, args):
    """tf2onnx converter of TensorFlow's `Erfc(x)`: `1 - Erf(x)`."""
    import numpy as np
    from tf2onnx import utils

    erf = graph.make_node("Erf", [node.input[0]])
    dtype = utils.map_onnx_to_numpy_type(graph.get_dtype(node.input[0]))
    one = graph.make_const(utils.make_name("one"), np.array(1, dtype))
    graph.replace_inputs(node, [one.output[0], erf.output[0]])
    node.type = "Sub"


def _dynamic_update_slice_as_scatter(graph, node, name, args):
    """tf2onnx converter of XLA's `DynamicUpdateSlice(operand, update, start)`: a `ScatterND`
    of `update` at the indices `start + i` of each of its elements `i`, `start` clamped, as
    XLA clamps it, so that the update fits inside `operand`."""
    import numpy as np
    from onnx import TensorProto
    from tf2onnx import utils

    operand, update, start = node.input
    rank = graph.get_rank(operand)

    def op(kind, *inputs, **attr):
        return graph.make_node(kind, list(inputs), attr=attr or None).output[0]

    def const(value):
        return graph.make_const(utils.make_name("const"), np.array(value, np.int64)).output[0]

    sizes = op("Shape", update)
    start = op("Cast", start, to=TensorProto.INT64)
    start = op("Min", op("Max", start, const(0)), op("Sub", op("Shape", operand), sizes))
    index_shape = op("Concat", sizes, const([1]), axis=0)
    columns = []
    for axis in range(rank):
        along = op("Range", const(0), op("Gather", sizes, const(axis)), const(1))
        along = op("Reshape", along, const([-1 if a == axis else 1 for a in range(rank)]))
        along = op("Add", along, op("Gather", start, const(axis)))
        columns.append(op("Reshape", op("Expand", along, sizes), index_shape))
    indices = op("Concat", *columns, axis=-1)
    graph.replace_inputs(node, [operand, indices, update])
    node.type = "ScatterND"


def _export_openvino_through_onnx(filepath, verbose, write_onnx):
    """OpenVINO IR from the ONNX file `write_onnx(path)` writes. Keras' OpenVINO export on
    jax goes through jax2tf (whose `XlaCallModule` OpenVINO cannot read) and on torch through
    `torch.jit.trace` (which refuses dict outputs); OpenVINO reads ONNX itself."""
    import os
    import tempfile

    import openvino

    with tempfile.TemporaryDirectory() as directory:
        onnx_path = os.path.join(directory, "model.onnx")
        write_onnx(onnx_path)
        # float32 weights kept as they are (`save_model` would halve them to float16).
        openvino.save_model(openvino.convert_model(onnx_path), filepath, compress_to_fp16=False)
    if verbose is None or verbose:
        print(f"Saved artifact at '{filepath}'.")


#: Formats of the decoding step.
DECODING_STEP_FORMATS = ("tf_saved_model", "onnx")

#: (backend, format) -> why that path cannot export the decoding step.
DECODING_STEP_REFUSED = {
    ("torch", "tf_saved_model"): (
        "Keras writes SavedModels from the torch backend only through torch_xla, which has no "
        "CPU release for this torch; export `format='onnx'` here, or a SavedModel from the "
        "tensorflow backend"
    ),
}


def _step_axes(name, rank):
    """The dynamic axes of a decoding-step input: `batch`, and `tokens` for `input_ids` (the
    mask and the cache are `max_length` long)."""
    if rank == 0:  # `cache_index`
        return ()
    return ("batch", "tokens") if name == "input_ids" else ("batch",) + (None,) * (rank - 1)


def export_decoding_step(model, filepath, max_length, format="tf_saved_model"):
    """Writes one cached decoding step of a decoder-only language model, so a server can drive
    generation (see `DecoderCausalLM.export_decoding_step` for the inputs and outputs): a TF
    SavedModel with a `decode_step` signature (`format="tf_saved_model"`, tensorflow and jax
    backends) or an ONNX file (`format="onnx"`, every backend). The batch and token
    axes are dynamic; the mask and cache are `max_length` long.

    On jax and torch the step is traced with the token axis bounded by `max_length` (jax, for
    jax2tf and jax2onnx: the symbolic shape constraint `tokens <= max_length`; torch:
    `Dim("tokens", max=max_length)`): the cache write (`write_along`) is a dynamic update
    slice of the tokens into the cache, which needs that bound."""
    backend = keras.backend.backend()
    if format not in DECODING_STEP_FORMATS:
        raise ValueError(
            f"The decoding step cannot be exported as `format={format!r}` (on the {backend} "
            f"backend): its formats are {DECODING_STEP_FORMATS} (`tf_saved_model` on the "
            "tensorflow and jax backends, `onnx` on every backend)."
        )
    reason = DECODING_STEP_REFUSED.get((backend, format))
    if reason:
        raise ValueError(
            f"The decoding step cannot be exported as `format={format!r}` on the {backend} "
            f"backend: {reason}."
        )
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"`max_length` must be a positive integer, got {max_length!r}.")
    layers = model.init_cache(1, max_length)
    shapes = [tuple(keys.shape[1:]) for keys, _ in layers]

    def step(x):
        cache = tuple((x[f"past_key_{i}"], x[f"past_value_{i}"]) for i in range(len(shapes)))
        logits, cache = model.call_with_cache(
            x["input_ids"], x["attention_mask"], cache, x["cache_index"], last_only=True
        )
        out = {"logits": logits}
        for i, (keys, values) in enumerate(cache):
            out[f"present_key_{i}"], out[f"present_value_{i}"] = keys, values
        return out

    signature = {
        "input_ids": keras.InputSpec(shape=(None, None), dtype="int32", name="input_ids"),
        "attention_mask": keras.InputSpec(
            shape=(None, max_length), dtype="int32", name="attention_mask"
        ),
        "cache_index": keras.InputSpec(shape=(), dtype="int32", name="cache_index"),
    }
    for i, shape in enumerate(shapes):
        for kind in ("key", "value"):
            name = f"past_{kind}_{i}"
            signature[name] = keras.InputSpec(shape=(None,) + shape, dtype="float32", name=name)
    if format == "onnx":
        outputs = ["logits"] + [
            f"present_{kind}_{i}" for i in range(len(shapes)) for kind in ("key", "value")
        ]
        if backend == "tensorflow":
            _tf_onnx(step, filepath, False, [signature], None)
        elif backend == "jax":
            _jax_onnx(
                step,
                filepath,
                False,
                [signature],
                None,
                axes=_step_axes,
                output_names=outputs,
                constraints=(f"tokens <= {max_length}",),
            )
        else:
            _torch_onnx(
                model,
                step,
                filepath,
                False,
                [signature],
                None,
                axes=_step_axes,
                fill=lambda name: 1 if name == "attention_mask" else 0,
                bounds={"tokens": max_length},
            )
        return
    options = {}
    if backend == "jax":  # through jax2tf, with the same bound on the token axis as above
        polymorphic = {
            name: "(" + ", ".join(axis or "_" for axis in _step_axes(name, len(spec.shape))) + ")"
            for name, spec in signature.items()
        }
        options["jax2tf_kwargs"] = {
            "polymorphic_shapes": [polymorphic],
            "polymorphic_constraints": (f"tokens <= {max_length}",),
            "with_gradient": False,  # a serving step; its VJP does not export
        }
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("decode_step", step, input_signature=[signature], **options)
    archive.write_out(filepath, verbose=False)

"""Inference on torch without Keras' per-layer Python dispatch.

On the torch backend, `predict` and `predict_on_batch` of every backbone and task run the
functional graph from a `torch.jit.trace`, recorded at the first call with a given input
signature (names, shapes, dtypes) and replayed after: the same tensor operations, without the
Python work Keras does around every layer and op (input conversion, autocast and name scopes,
masks), which costs more than the arithmetic of a short input. On a RoBERTa-base-shaped
backbone a two-token call went from 87 to 33 ms (float32) and from 132 to 62 ms
(`mixed_bfloat16`).

The model's variables are inputs of the trace (bound through a `StatelessScope`), so weights
set, loaded or trained after the trace are used; any other tensor is recorded as it was, which
is why the trace is keyed by every input's shape. The last `MAX_TRACES` signatures of a model
are kept.

Under a mixed policy (`mixed_bfloat16`, `mixed_float16`) Keras casts every float32 kernel to
16 bits at every call, reading all the weights and writing half of them again: about 30 ms of
a RoBERTa-base-shaped call, and on an OPT-125m decoding step more than the step's own
matmuls. A trace therefore reads a 16-bit copy wherever it would cast a weight to 16 bits (the
tied LM head's table included, whose lookup stays float32); the copies are made once, kept per
model (`cast_cache`: at most half the memory of the float32 weights) and made again when a
variable is assigned a new value. The arithmetic is the same, cast for cast.
"""

import collections
import warnings
import weakref

import keras

#: Traces kept per model (least recently used dropped first).
MAX_TRACES = 8

_TRACES = weakref.WeakKeyDictionary()  # model -> OrderedDict(signature -> (feed, replay))
_CASTS = weakref.WeakKeyDictionary()  # model -> its `cast_cache`


def cast_cache(model):
    """The 16-bit copies of `model`'s weights made for its traces (see `trace_with_weights`)."""
    return _CASTS.setdefault(model, {})


def weights_of(variables):
    """The current values of `variables`, as the weight inputs of a `trace_with_weights`."""
    return [v.value.detach() for v in variables]


def _half_casts(value, source):
    """The `aten::to` nodes casting `value` (a weight input of dtype `source`) to a 16-bit
    dtype, directly or after no-op conversions to `source`, whose result is not written in
    place."""
    import torch

    found = []
    for use in value.uses():
        node = use.user
        if node.kind() != "aten::to" or use.offset != 0:
            continue
        dtype = node.output().type().dtype()
        if dtype == source:  # Keras' conversions of a variable's value: no-ops
            found += _half_casts(node.output(), source)
        elif dtype in (torch.bfloat16, torch.float16) and not _written_in_place(node.output()):
            found.append(node)
    return found


def _written_in_place(value):
    """Whether an in-place op writes into `value` or a no-op `aten::to` of it."""
    for use in value.uses():
        node = use.user
        if use.offset != 0:
            continue
        if node.kind().endswith("_"):
            return True
        same = node.kind() == "aten::to" and node.output().type().dtype() == value.type().dtype()
        if same and _written_in_place(node.output()):
            return True
    return False


def _read_in_half(graph):
    """Gives the 16-bit casts of weights in `graph` their own inputs.

    Every cast of a weight (input of the weight list) to 16 bits is removed and its uses read
    a new entry appended to the weight list, which the caller feeds with the weight cast.
    The trace must not have run yet: its executor keeps the graph of its first run.
    Returns `[(index of the weight, torch dtype)]`, one per appended entry.
    """
    import torch

    (unpack,) = [use.user for use in list(graph.inputs())[0].uses()]
    added = {}
    for index, value in enumerate(list(unpack.outputs())):
        for cast in _half_casts(value, value.type().dtype()):
            dtype = cast.output().type().dtype()
            if (index, dtype) not in added:
                added[(index, dtype)] = unpack.addOutput().setType(cast.output().type())
            cast.output().replaceAllUsesWith(added[(index, dtype)])
    torch._C._jit_pass_dce(graph)
    return list(added)


def _cast(cache, variable, weight, dtype):
    """`weight.to(dtype)`, made again only when `variable` has changed since the last time."""
    source = variable.value  # the tensor Keras assigns in place: its version counts writes
    entry = cache.get((id(variable), dtype))
    if entry is None or entry[0] is not source or entry[1] != source._version:
        entry = (source, source._version, weight.to(dtype))
        cache[(id(variable), dtype)] = entry
    return entry[2]


def trace_with_weights(variables, fn, args, weights, casts):
    """Records `fn(*args)` with `torch.jit.trace`, the `variables` being inputs of the trace.

    `fn` runs inside a `StatelessScope` that binds `variables` to `weights`, so the replay
    reads whatever weights it is given; every tensor `fn` reads that is neither a variable
    nor in `args` is frozen into the trace as it was. Weights the trace reads only in 16 bits
    are fed from their 16-bit copies in `casts`.

    Args:
        variables: the Keras variables `fn` reads.
        fn: function of `*args` returning a nest of tensors.
        args: a tuple of nests of torch tensors: the example arguments.
        weights: `weights_of(variables)`.
        casts: the model's `cast_cache`.

    Returns:
        `(feed, replay)`: `feed(weights)` is the list the trace takes for `weights` (with the
        16-bit copies it reads; constant while the weights are), and `replay(fed, args)`
        returns the nest `fn` returns for those arguments.
    """
    import torch

    structure = {}

    # The trace sees flat lists of tensors: TorchScript wants dicts of one value type.
    def flat_fn(weights, flat):
        with keras.StatelessScope(state_mapping=list(zip(variables, weights))):
            structure["out"] = fn(*keras.tree.pack_sequence_as(args, flat))
        return keras.tree.flatten(structure["out"])

    with warnings.catch_warnings():
        # Keras' shape checks read sizes as Python ints while tracing; callers replay a trace
        # only for arguments of the shapes it was recorded with, so those constants are right.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        trace = torch.jit.trace(flat_fn, (weights, keras.tree.flatten(args)), check_trace=False)
    half = _read_in_half(trace.graph)

    def feed(weights):
        return list(weights) + [
            _cast(casts, variables[index], weights[index], dtype) for index, dtype in half
        ]

    def replay(fed, args):
        return keras.tree.pack_sequence_as(structure["out"], trace(fed, keras.tree.flatten(args)))

    return feed, replay


def traced_call(model, inputs, run):
    """`run(inputs)` on torch, replayed from a trace of the same signature.

    Args:
        model: the Keras model whose variables `run` reads.
        inputs: dict of input name -> torch tensor.
        run: function of such a dict returning a nest of tensors (the forward pass).

    Returns:
        The nest `run` returns.
    """
    key = tuple(sorted((name, tuple(t.shape), str(t.dtype)) for name, t in inputs.items()))
    traces = _TRACES.setdefault(model, collections.OrderedDict())
    variables = list(model.variables)
    weights = weights_of(variables)
    if key not in traces:
        traces[key] = trace_with_weights(variables, run, (inputs,), weights, cast_cache(model))
        while len(traces) > MAX_TRACES:
            traces.popitem(last=False)
    traces.move_to_end(key)
    feed, replay = traces[key]
    return replay(feed(weights), (inputs,))

"""Every torch-only fast path, in one module: the same arithmetic as Keras' torch backend,
with less Python or less memory traffic. The layers, the model bases and the decode loop call
these on torch only; no other backend imports torch.

- `traced_call`: `predict` and `predict_on_batch` replay a `torch.jit.trace` of the graph.
- `lean_body` inside `decoding()`: the decode loop's body, traced once, replayed every step
  (and the prompt's step, traced at the second call of a prompt shape).
- `lean_training_step`: a training step's float32 products on oneDNN, and its table
  gradients written into the previous step's buffers.
- `dropout`: a dropout mask from four 15-bit numbers per 64-bit draw.
- `write_in_place`: a decoding step written into its cache buffer in place.
- `written_slots` / `dot_product_attention`: decoding attends over the slots of its cache
  written so far, read where they lie.
- `int8_matmul` / `int8_dense_call`: Keras' int8 products on torch's int8 kernel
  (`torch._int_mm`) instead of an int32 `matmul` (Keras uses the kernel on CUDA only), and
  inside traces, up to `FBGEMM_FOR_ROWS` rows, on fbgemm's from prepacked kernels.

Before a trace is replayed its graph is rewritten: the weights it casts to 16 bits, the
float32 kernels of its products (which then run on oneDNN, with the bias and activation of a
`Dense` joined), the 16-bit and int8 kernels of a decoding step, and the kernels it packs for
fbgemm, it reads from copies kept per model instead (`_read_in_half`, `_read_onednn_packed`,
`_read_transposed`, `_read_fbgemm_packed`), and the sizes and no-op conversions it recorded are
dropped (`_drop_static_work`). The float32 copies cost as much memory as the kernels they
copy.

Traced inference. On the torch backend, `predict` and `predict_on_batch` of every backbone and
task run the functional graph from a `torch.jit.trace`, recorded at the first call with a given
input signature (names, shapes, dtypes) and replayed after: the same tensor operations, without
the Python work Keras does around every layer and op (input conversion, autocast and name
scopes, masks), which costs more than the arithmetic of a short input. On a RoBERTa-base-shaped
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
import contextlib
import contextvars
import functools
import math
import warnings
import weakref

import keras
import numpy as np

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


def _uses(value):
    """The uses of `value`, looking through its no-op `aten::to` conversions (to its own
    dtype), which Keras inserts wherever it reads a variable's value."""
    for use in value.uses():
        node = use.user
        same = node.kind() == "aten::to" and node.output().type().dtype() == value.type().dtype()
        if same and use.offset == 0:
            yield from _uses(node.output())
        else:
            yield use


def _half_casts(value):
    """The `aten::to` nodes casting `value` (a weight input) to a 16-bit dtype whose result
    is not written in place."""
    import torch

    return [
        use.user
        for use in _uses(value)
        if use.user.kind() == "aten::to"
        and use.offset == 0
        and use.user.output().type().dtype() in (torch.bfloat16, torch.float16)
        and not _written_in_place(use.user.output())
    ]


def _written_in_place(value):
    """Whether an in-place op writes into `value` or a no-op `aten::to` of it."""
    return any(use.offset == 0 and use.user.kind().endswith("_") for use in _uses(value))


def _weight_list(graph):
    """The node of a `trace_with_weights` graph that unpacks its weight list (its first
    input); the rewrites below append the copies they read to its outputs."""
    (unpack,) = [use.user for use in list(graph.inputs())[0].uses()]
    return unpack


def _read_in_half(graph):
    """Gives the 16-bit casts of weights in `graph` their own inputs.

    Every cast of a weight (input of the weight list) to 16 bits is removed and its uses read
    a new entry appended to the weight list, which the caller feeds with the weight cast.
    The trace must not have run yet: its executor keeps the graph of its first run.
    Returns `[(index of the weight, torch dtype)]`, one per appended entry.
    """
    import torch

    unpack = _weight_list(graph)
    added = {}
    for index, value in enumerate(list(unpack.outputs())):
        for cast in _half_casts(value):
            dtype = cast.output().type().dtype()
            if (index, dtype) not in added:
                added[(index, dtype)] = unpack.addOutput().setType(cast.output().type())
            cast.output().replaceAllUsesWith(added[(index, dtype)])
    torch._C._jit_pass_dce(graph)
    return list(added)


#: Measured for `_read_transposed`: OPT-125m's twelve layers of projections and feed-forward,
#: `x @ kernel` against `x @ copy.T` (the `[out, in]` layout torch's `Linear` keeps), ms a
#: step, on a 2-core AVX-512 CPU: bfloat16 at 1 and 8 rows 13 / 12 and 17 / 14; float16
#: 122 / 6 and 859 / 35; int8 (`torch._int_mm`) 6.8 / 4.2 and 8.3 / 7.4.


def _rows(value):
    """The number of rows `value` (a graph value) has as a matmul's left operand, or None."""
    sizes = value.type().sizes() if hasattr(value.type(), "sizes") else None
    if not sizes or any(size is None for size in sizes):
        return None
    return int(np.prod(sizes[:-1]))


def _read_transposed(graph):
    """Lets the 16-bit and int8 `x @ kernel` products of `graph` read transposed kernels.

    A matmul whose right operand is a 2-D 16-bit or int8 weight input (or a no-op `aten::to`
    of one) and whose left operand has known sizes is given `aten::t` of a new entry appended
    to the weight list, which the caller feeds with the contiguous transpose of that weight:
    the same product, computed as torch's `Linear` computes it (faster, measured above).
    Float32 products run on oneDNN instead (`_read_onednn_packed`). Run after
    `_read_in_half` (a 16-bit kernel is transposed after its cast). Returns the indices of the
    weights (in the fed list) the appended entries copy, in order.
    """
    import torch

    unpack = _weight_list(graph)
    added = {}

    for index, value in enumerate(list(unpack.outputs())):
        if len(value.type().sizes() or ()) != 2 or value.type().dtype() == torch.float32:
            continue
        products = [
            use.user
            for use in _uses(value)
            if use.user.kind() in ("aten::matmul", "aten::_int_mm") and use.offset == 1
        ]
        for node in products:
            if _rows(node.inputsAt(0)) is None:
                continue
            if index not in added:
                added[index] = unpack.addOutput()
                added[index].setType(value.type().with_sizes(value.type().sizes()[::-1]))
            flip = graph.create("aten::t", [added[index]])
            flip.insertBefore(node)
            flip.output().setType(value.type())
            node.replaceInput(1, flip.output())
    torch._C._jit_pass_dce(graph)
    return list(added)


#: What may stand between a weight and the kernel `quantized::linear_prepack` packs: no-op
#: conversions and copies, and transposes (each swaps the axes of a 2-D kernel).
_LAYOUT_OPS = (
    "aten::to",
    "aten::contiguous",
    "aten::t",
    "aten::numpy_T",
    "aten::transpose",
    "aten::permute",
)
_SWAPS = _LAYOUT_OPS[2:]


#: The number of rows oneDNN lays a packed kernel out for (`_onednn_pack`). One layout serves
#: every row count: packed for 8 or more rows, a product of 1, 8 or 1024 rows runs as fast as
#: from a kernel packed for exactly its rows (for 1 row it was 1.1-2x slower at 8).
ONEDNN_PACKED_FOR_ROWS = 64


def _weight_behind(value, weights):
    """`(index in weights, whether value is that weight as it is)` for a graph value that is
    a weight input of the trace seen through `_LAYOUT_OPS`, or `(None, None)`."""
    swaps = 0
    while value.unique() not in weights and value.node().kind() in _LAYOUT_OPS:
        swaps += value.node().kind() in _SWAPS
        value = value.node().inputsAt(0)
    if value.unique() not in weights:
        return None, None
    return weights[value.unique()], swaps % 2 == 0


def _read_onednn_packed(graph):
    """Runs the float32 products of `graph` with a 2-D weight (`x @ kernel`, and the few-row
    `table @ rows.T` of a tied LM head) on oneDNN, from packed kernels.

    Each such `aten::matmul` becomes `mkldnn::_linear_pointwise` (the kernel behind
    `torch.compile`'s CPU linear layers) of a new entry appended to the weight list, which
    the caller feeds with the weight packed by `_onednn_pack`. Run after `_read_in_half`.
    Returns `[(index of the weight, whether the product's kernel is the weight as it is)]`,
    one per appended entry.

    Why: on torch's CPU builds a float32 `matmul` runs on MKL, which on this project's CPUs
    (2-core AMD EPYC, AVX-512) is much slower than oneDNN from a packed kernel (ms, MKL /
    oneDNN): 768 -> 3072 at 1024 rows 25.6 / 22.0, at 8 rows 0.51 / 0.20, at 1 row 0.17 /
    0.09; OPT-125m's tied head (768 -> 50272) at 8 rows 22.8 / 5.1, at 1 row 11.4 / 4.2. The
    sums are the same up to float32 rounding (another summation order).
    """
    import torch

    if not torch.backends.mkldnn.is_available():
        return []
    unpack = _weight_list(graph)
    # Float32 weights only: a product may read a weight of another dtype converted to float32
    # (a float8 kernel), which a packed copy of the weight would not be.
    weights = {
        value.unique(): i
        for i, value in enumerate(unpack.outputs())
        if _float32_sizes(value) is not None
    }
    added = {}

    def insert(kind, inputs, before, like):
        node = graph.create(kind, inputs, 1)
        node.insertBefore(before)
        node.output().setType(like)
        return node.output()

    for node in list(graph.nodes()):
        if node.kind() != "aten::matmul":
            continue
        left, right = node.inputsAt(0), node.inputsAt(1)
        left_sizes, right_sizes = _float32_sizes(left), _float32_sizes(right)
        if left_sizes is None or right_sizes is None:
            continue
        # `x @ kernel`, or `weight @ y` (= `(y.T @ weight.T).T`, `y` 2-D), whose kernel is
        # the transpose of `weight`.
        flip = False
        index, as_is = _weight_behind(right, weights)
        if index is None and len(right_sizes) == 2:
            flip = True
            index, weight_as_is = _weight_behind(left, weights)
            as_is = not weight_as_is
        x, weight, kernel_sizes = (
            (right, left, left_sizes[::-1]) if flip else (left, right, right_sizes)
        )
        if index is None or len(kernel_sizes) != 2:
            continue
        if (index, as_is) not in added:  # the packed entry is `[n, k]`
            entry = unpack.addOutput()
            added[(index, as_is)] = entry.setType(weight.type().with_sizes(kernel_sizes[::-1]))
        # The bias and activation of a `Dense` join the product (the output is written once).
        bias, attr, algorithm, last = None, "none", "", node
        if not flip:
            bias, attr, algorithm, last = _bias_and_activation(node, kernel_sizes[1], weights)
        constants = [graph.insertConstant(c) for c in (None, attr, algorithm)]
        for constant in constants:  # inserted at the graph's end: move them
            constant.node().moveBefore(last)
        scalars = torch._C.ListType(torch._C.OptionalType(torch._C.NumberType.get()))
        scalars = insert("prim::ListConstruct", [], last, scalars)
        output = last.output().type()
        if flip:
            x = insert("aten::t", [x], node, x.type().with_sizes(right_sizes[::-1]))
            output = output.with_sizes(_float32_sizes(node.output())[::-1])
        bias = constants[0] if bias is None else bias
        operands = [x, added[(index, as_is)], bias, constants[1], scalars, constants[2]]
        product = insert("mkldnn::_linear_pointwise", operands, last, output)
        if flip:
            product = insert("aten::t", [product], node, node.output().type())
        last.output().replaceAllUsesWith(product)
    torch._C._jit_pass_dce(graph)
    return list(added)


#: The activations oneDNN applies inside a product, by the graph operation Keras records.
_FUSED_ACTIVATIONS = {"aten::relu": "relu", "aten::gelu": "gelu"}


def _bias_and_activation(node, width, weights):
    """What of a `Dense` follows the product `node` and can join it: `(bias, activation,
    its algorithm, the last node joined)`. The bias is a 1-D float32 weight added to the
    product alone (`aten::add` with alpha 1); an activation (`_FUSED_ACTIVATIONS`) joins only
    after a bias and when nothing else reads the sum."""

    def only_use(value, kinds):
        uses = list(_uses(value))  # through the no-op conversions Keras records
        if len(uses) == 1 and uses[0].offset == 0 and uses[0].user.kind() in kinds:
            return uses[0].user
        return None

    add = only_use(node.output(), ("aten::add",))
    if add is None:
        return None, "none", "", node
    bias = add.inputsAt(1)
    is_weight = _weight_behind(bias, weights)[0] is not None
    if not (is_weight and _float32_sizes(bias) == [width] and add.inputsAt(2).toIValue() == 1):
        return None, "none", "", node
    activation = only_use(add.output(), tuple(_FUSED_ACTIVATIONS))
    if activation is None:
        return bias, "none", "", add
    algorithm = activation.inputsAt(1).toIValue() if activation.kind() == "aten::gelu" else ""
    return bias, _FUSED_ACTIVATIONS[activation.kind()], algorithm, activation


def _float32_sizes(value):
    """The sizes of a graph value that is a float32 CPU tensor of known sizes, or None."""
    import torch

    kind = value.type()
    if getattr(kind, "dtype", lambda: None)() != torch.float32:
        return None
    if kind.device() != torch.device("cpu"):  # oneDNN's products are for the CPU
        return None
    sizes = kind.sizes()
    return None if sizes is None or None in sizes else list(sizes)


def _onednn_pack(weight, as_is):
    """The `[n, k]` kernel of `_read_onednn_packed` laid out for oneDNN: `weight` is the
    product's kernel (`[k, n]`) if `as_is`, else its transpose."""
    import torch

    weight = weight.t() if as_is else weight
    return torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), ONEDNN_PACKED_FOR_ROWS)


_FBGEMM_PRODUCT = "quantized::linear_with_input_q_dq_qweight_dq_output_fp32"


def _read_fbgemm_packed(graph):
    """Gives each `quantized::linear_prepack` of `graph` (`int8_matmul` records one per product
    it runs on fbgemm) whose kernel is a weight a new graph input instead: an entry of a list
    of packed kernels (the trace's third argument), which the caller feeds.

    Products of the same rows (the query, key and value projections, once
    `_drop_static_work` has merged the quantization each records of its rows) become one
    product of their kernels side by side, whose columns each reads: a packed product costs a
    fixed time besides its bytes (OPT-125m's three 768 x 768 kernels take 150 us a layer at
    batch 8, side by side 115).

    Returns, for each entry in order, a tuple of what it packs, side by side: `(index in the
    fed list of a weight, whether it packs the weight as it is (True) or its transpose
    (False))`; `[]` leaves the graph as it was. A kernel that is not a weight stays packed at
    every replay.
    """
    import torch

    weights = {value.unique(): i for i, value in enumerate(_weight_list(graph).outputs())}
    groups = {}  # (rows, scale, zero point) -> [(product node, index, as_is)]
    found = []
    for node in graph.nodes():
        if node.kind() != "quantized::linear_prepack":
            continue
        quantized = node.inputsAt(0).node().inputsAt(0)  # the `[n, k]` it quantizes
        index, as_is = _weight_behind(quantized, weights)
        if index is None:
            continue
        uses = [use.user for use in node.output().uses()]
        if len(uses) == 1 and uses[0].kind() == _FBGEMM_PRODUCT:
            product = uses[0]
            inputs = list(product.inputs())
            key = (inputs[0].unique(), inputs[1].toIValue(), inputs[2].toIValue())
            groups.setdefault(key, []).append((product, index, as_is))
        else:
            found.append((node.output(), ((index, as_is),)))
    if not found and not groups:
        return []
    kind = next(iter(graph.findAllNodes("quantized::linear_prepack"))).output().type()
    packed = graph.addInput("packed").setType(torch._C.ListType(kind))
    unpack = graph.create("prim::ListUnpack", [packed], 0)
    unpack.insertBefore(next(iter(graph.nodes())))
    entries = []
    for value, members in found:
        value.replaceAllUsesWith(unpack.addOutput().setType(kind))
        entries.append(members)
    for group in groups.values():
        entry = unpack.addOutput().setType(kind)
        entries.append(tuple((index, as_is) for _, index, as_is in group))
        if len(group) == 1:
            group[0][0].replaceInput(3, entry)
            continue
        first = group[0][0]
        rows, scale, zero = list(first.inputs())[:3]
        merged = graph.create(_FBGEMM_PRODUCT, [rows, scale, zero, entry], 1)
        merged.insertBefore(first)
        widths = [int(product.output().type().sizes()[-1]) for product, _, _ in group]
        sizes = list(first.output().type().sizes())
        merged.output().setType(first.output().type().with_sizes(sizes[:-1] + [sum(widths)]))
        start = 0
        for (product, _, _), width in zip(group, widths):
            arguments = [merged.output()]
            for number in (len(sizes) - 1, start, width):
                constant = graph.insertConstant(number)
                constant.node().moveBefore(product)
                arguments.append(constant)
            columns = graph.create("aten::narrow", arguments, 1)
            columns.insertBefore(product)
            columns.output().setType(product.output().type())
            product.output().replaceAllUsesWith(columns.output())
            product.destroy()
            start += width
    torch._C._jit_pass_dce(graph)
    return entries


def _fbgemm_pack_side_by_side(weights, members):
    """The fbgemm packing of `weights` (the fed tensors of `members`, see
    `_read_fbgemm_packed`), each as `[n, k]`, side by side along `n`."""
    import torch

    rows = [w if as_is else w.t() for w, (_, as_is) in zip(weights, members)]
    return _fbgemm_pack_as_is(rows[0] if len(rows) == 1 else torch.cat(rows, 0))


def _same_tensor_type(a, b):
    """Whether graph values `a` and `b` are tensors of one dtype, device, shape and layout."""
    a, b = a.type(), b.type()
    if not (isinstance(a, type(b)) and hasattr(a, "scalarType")):
        return False
    known = a.scalarType() is not None and a.device() is not None and a.sizes() is not None
    return known and all(
        getattr(a, f)() == getattr(b, f)() for f in ("scalarType", "device", "sizes", "strides")
    )


def _drop_static_work(graph):
    """Removes from `graph` the operations a replay would repeat for nothing.

    A trace is replayed only for arguments of the shapes it was recorded with, so each
    `aten::size` is a constant; and Keras' `convert_to_tensor` records an `aten::to` to the
    device and one to the dtype for every tensor it reads, which change nothing here. In an
    OPT-125m decoding step these were 2,876 of the ~6,300 operations the interpreter ran at
    every step (0.6 µs each, profiled). What only depended on sizes folds into constants, and
    work recorded twice runs once: the query, key and value projections of an int8 model each
    quantize the same rows (six operations each, 144 a step of OPT-125m).
    """
    import torch

    for node in list(graph.nodes()):
        kind = node.kind()
        if kind == "aten::size" and node.inputsSize() == 2:
            sizes = getattr(node.inputsAt(0).type(), "sizes", lambda: None)()
            dim = node.inputsAt(1).toIValue()
            if sizes is None or dim is None or sizes[dim] is None:
                continue
            constant = graph.insertConstant(int(sizes[dim]))
            constant.node().moveBefore(node)
            node.output().replaceAllUsesWith(constant)
        elif kind == "aten::to" and node.outputsSize() == 1:
            copy = node.namedInput("copy").toIValue()
            if copy is False and _same_tensor_type(node.inputsAt(0), node.output()):
                node.output().replaceAllUsesWith(node.inputsAt(0))
    torch._C._jit_pass_constant_propagation(graph)
    # Alias analysis keeps this from merging anything written in place or random; equal
    # constants are pooled first, so that operations reading them compare equal.
    torch._C._jit_pass_constant_pooling(graph)
    torch._C._jit_pass_cse(graph)
    torch._C._jit_pass_dce(graph)


def _derived(cache, variable, weight, kind, make):
    """`make(weight)` (`kind` names it), made again only when `variable` has changed since the
    last time."""
    return _derived_from(cache, [variable], [weight], kind, lambda weights: make(weights[0]))


def _derived_from(cache, variables, weights, kind, make):
    """`make(weights)` (`kind` names it), made again only when one of `variables` has changed
    since the last time."""
    # The tensors Keras assigns in place: their versions count writes.
    state = [(v.value, v.value._version) for v in variables]
    key = (id(variables[0]) if len(variables) == 1 else tuple(map(id, variables)), kind)
    entry = cache.get(key)
    if entry is None or any(
        a is not b or x != y for (a, x), (b, y) in zip(entry[0], state, strict=True)
    ):
        entry = (state, make(weights))
        cache[key] = entry
    return entry[-1]


def _transposed(weight):
    return weight.t().contiguous()


def _cast(cache, variable, weight, dtype):
    """`weight.to(dtype)`, made again only when `variable` has changed since the last time."""
    return _derived(cache, variable, weight, dtype, lambda w: w.to(dtype))


def trace_with_weights(variables, fn, args, weights, casts, transpose=False):
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
        transpose: whether 16-bit and int8 products read transposed kernels (see
            `_read_transposed`; the copies are kept in `casts` as well).

    Returns:
        `(feed, replay)`: `feed(weights)` is what the trace takes for `weights`, the pair
        `(tensors, packed)`: the weights with the 16-bit, oneDNN-packed and transposed copies
        it reads, and the kernels packed for fbgemm (constant while the weights are); `replay(fed, args)`
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
    onednn = _read_onednn_packed(trace.graph)
    flipped = _read_transposed(trace.graph) if transpose else []
    # First, so that the products of the same rows read one value (see `_read_fbgemm_packed`).
    _drop_static_work(trace.graph)
    fbgemm = _read_fbgemm_packed(trace.graph)
    if fbgemm:  # the graph has a new input: a new function
        trace = torch._C._create_function_from_graph("replay", trace.graph)
    # The variable behind each entry of the fed list, and what the entry holds of it.
    sources = [(v, w.dtype) for v, w in zip(variables, weights)]
    sources += [(variables[index], dtype) for index, dtype in half]
    sources += [(variables[index], ("onednn", as_is)) for index, as_is in onednn]
    sources += [(sources[index][0], ("T", sources[index][1])) for index in flipped]

    def feed(weights):
        fed = list(weights) + [
            _cast(casts, variables[index], weights[index], dtype) for index, dtype in half
        ]
        for index, as_is in onednn:
            pack = functools.partial(_onednn_pack, as_is=as_is)
            fed.append(_derived(casts, variables[index], weights[index], ("onednn", as_is), pack))
        for index in flipped:
            variable, dtype = sources[index]
            fed.append(_derived(casts, variable, fed[index], ("T", dtype), _transposed))
        packed = []
        for members in fbgemm:
            kind = ("fbgemm",) + tuple((sources[i][1], as_is) for i, as_is in members)
            pack = functools.partial(_fbgemm_pack_side_by_side, members=members)
            held = [fed[i] for i, _ in members]
            packed.append(
                _derived_from(casts, [sources[i][0] for i, _ in members], held, kind, pack)
            )
        return fed, packed

    def replay(fed, args):
        tensors, packed = fed
        # The packed kernels are the third input of a graph `_read_fbgemm_packed` rewrote.
        flat = trace(tensors, keras.tree.flatten(args), *([packed] if fbgemm else []))
        return keras.tree.pack_sequence_as(structure["out"], flat)

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


# --- the decode loop's body as a traced graph ----------------------------------------------
# `(traces, per-call values)` of the `generate` call in progress (None outside `decoding`).
_DECODING = contextvars.ContextVar("torch_decoding", default=None)


@contextlib.contextmanager
def decoding(traces):
    """The scope of one compiled decode-loop call: `lean_body` traces into `traces` (a dict
    kept with the compiled loop, so later calls of the same shape replay them), without
    autograd."""
    import torch

    token = _DECODING.set((traces, {}))
    try:
        with torch.no_grad():
            yield
    finally:
        _DECODING.reset(token)


def lean_body(model, name, body, from_call=1):
    """`body(*loop_vars)` replayed from a `torch.jit.trace` inside `decoding()`.

    The decode loop's Python body runs Keras' per-layer and per-op dispatch at every step,
    which on a batch-1 step costs more than its matmuls; the loop keeps every shape static, so
    one trace serves every step. The model's variables are inputs of the trace (bound through
    a `StatelessScope`), so weight updates are seen; every other tensor the body needs must be
    a loop variable, since closed-over tensors would be frozen into the trace. Outside
    `decoding()` (and on other backends) `body` is returned unchanged.

    `from_call`: the call of the compiled loop (of one shape) from which `body` is traced;
    the calls before run it as it is. For a body that runs once per call, whose trace costs
    more than many runs.
    """
    state = _DECODING.get()
    if state is None:
        return body
    traces, this_call = state
    if name not in traces:
        calls = traces[("calls", name)] = traces.get(("calls", name), 0) + 1
        if calls < from_call:
            return body
    variables = list(model.variables)

    def run(*args):
        # The weights cannot change during one `generate` call: gather them (and their 16-bit
        # copies) once per call, not at every step (~1 ms for OPT-125m's 200 variables).
        if name not in this_call:
            weights = weights_of(variables)
            if name not in traces:
                traces[name] = trace_with_weights(
                    variables, body, args, weights, cast_cache(model), transpose=True
                )
            feed = traces[name][0]
            this_call[name] = feed(weights)
        replay = traces[name][1]
        return replay(this_call[name], args)

    return run


# --- float32 products in a training step ---------------------------------------------------
def _linear(x, weight):
    """`x @ weight.T` on oneDNN (`weight` `[n, k]`, any strides)."""
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], "")


@functools.cache
def _onednn_product():
    """The autograd function of `lean_training_step` for products, made at first use (torch
    imports late)."""
    import torch

    class OnednnProduct(torch.autograd.Function):
        """`x @ kernel` (`kernel` 2-D, float32), forward and `x`'s gradient on oneDNN; the
        kernel's gradient stays `torch.mm`, which is as fast for it here."""

        @staticmethod
        def forward(x, kernel):
            return _linear(x, kernel.t())

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, grad):
            x, kernel = ctx.saved_tensors
            grad_x = _linear(grad, kernel) if ctx.needs_input_grad[0] else None
            grad_kernel = None
            if ctx.needs_input_grad[1]:
                rows = x.reshape(-1, x.shape[-1])
                grad_kernel = rows.t() @ grad.reshape(-1, grad.shape[-1])
            return grad_x, grad_kernel

    return OnednnProduct


@functools.cache
def _lookup_reusing_gradient():
    """The autograd function of `lean_training_step` for table lookups, made at first use."""
    import torch

    class LookupReusingGradient(torch.autograd.Function):
        """`F.embedding(ids, table)` whose backward writes the table's gradient into the
        gradient buffer of the previous step (`spare`), zeroed, instead of a new one."""

        @staticmethod
        def forward(ids, table, spare):
            return torch.nn.functional.embedding(ids, table)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ids, table, spare = inputs
            ctx.save_for_backward(ids)
            ctx.spare = spare
            ctx.table_shape = tuple(table.shape)

        @staticmethod
        def backward(ctx, grad):
            (ids,) = ctx.saved_tensors
            # Handed over with no other reference: autograd then keeps it as the table's
            # `.grad` rather than copying it.
            gradient, ctx.spare = ctx.spare, None
            gradient.zero_()
            rows = grad.reshape(-1, ctx.table_shape[-1])
            return None, gradient.index_add_(0, ids.reshape(-1), rows), None

    return LookupReusingGradient


def _plain_product(args, kwargs):
    """Whether `torch.matmul(*args, **kwargs)` is a float32 CPU product of a 2-D kernel."""
    import torch

    if len(args) != 2 or kwargs:
        return False
    tensors = all(
        isinstance(t, torch.Tensor)
        and t.dtype == torch.float32
        and t.device.type == "cpu"
        and t.layout == torch.strided
        for t in args
    )
    return tensors and args[1].dim() == 2 and args[0].dim() >= 2


def _plain_lookup(args, kwargs):
    """Whether `F.embedding(*args, **kwargs)` is a plain row lookup (the options that change
    the gradient, or the table, left at their defaults), as Keras' `take` calls it."""
    options = dict(padding_idx=None, max_norm=None, scale_grad_by_freq=False, sparse=False)
    return len(args) == 2 and all(kwargs.get(k, v) == v for k, v in options.items())


def _spare_gradient(table):
    """The gradient buffer `table` (a leaf) still holds from the previous step, if a lookup
    can reuse it: dense, with the table's dtype, shape and strides. (That tensor is then
    overwritten with the new gradient.)"""
    import torch

    if not (isinstance(table, torch.Tensor) and table.is_leaf and table.requires_grad):
        return None
    spare = table.grad
    same = (
        spare is not None
        and spare.layout == torch.strided
        and spare.dtype == table.dtype
        and spare.shape == table.shape
        and spare.stride() == table.stride()
    )
    return spare if same else None


@contextlib.contextmanager
def lean_training_step():
    """The scope of one training step on torch (a `TorchFunctionMode`, since a training step
    is not traced, so the graph rewrites above cannot reach it), with the same arithmetic:

    - Every float32 CPU `torch.matmul(x, kernel)` with a 2-D `kernel` (the product of Keras'
      `Dense`, and of a tied LM head) runs on oneDNN, forward and the inputs' gradient; the
      kernel's gradient stays on `torch.mm`. On this project's CPUs (2-core AMD EPYC,
      AVX-512), MKL, which `torch.matmul` uses, is slower, ms at 1024 rows (MKL / oneDNN):
      768 -> 3072 forward 27.2 / 23.0, the inputs' gradient 24.3 / 22.2; 3072 -> 768 24.5 /
      22.4 and 27.5 / 23.6. For the kernel's gradient it is as fast (26.8 / 24.8, 24.3 / 28.4).
    - A table lookup (Keras' `take` of rows: `F.embedding`) writes its table's gradient into
      the buffer of the previous step, zeroed, instead of a new one. Keras drops the
      gradients between steps (`zero_grad`), so torch would fill a new buffer every step, and
      a buffer that large comes fresh from the OS: RoBERTa-base's 154 MB word-embedding
      gradient took 0.18-0.20 s of a 3.3 s step (transformers pays the same), against about
      5 ms to zero one already in use.
    """
    import torch

    onednn = torch.backends.mkldnn.is_available()

    class Mode(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is torch.matmul and onednn and _plain_product(args, kwargs):
                return _onednn_product().apply(*args)
            if func is torch.nn.functional.embedding and _plain_lookup(args, kwargs):
                spare = _spare_gradient(args[1])
                if spare is not None and torch.is_grad_enabled():
                    return _lookup_reusing_gradient().apply(*args, spare)
            return func(*args, **kwargs)

    with Mode():
        yield


# --- dropout ---------------------------------------------------------------------------------
def dropout(inputs, rate):
    """`inputs` with each element dropped with probability `round(rate * 2**15) / 2**15` and
    the rest scaled to keep the expectation (training-time dropout, no seed).

    torch draws one Mersenne Twister number per element for `torch.nn.functional.dropout`
    (which Keras uses), about 10 ns each on a CPU: 0.6 s of a 4.3 s RoBERTa-base training step
    (batch 8 x 128), in transformers as in Keras. Here each 64-bit draw gives four 15-bit
    numbers, and an element is dropped when its number is below `round(rate * 2**15)` (0.1 ->
    0.100006). 8 x 12 x 128 x 128 probabilities: 23.5 -> 7.5 ms.
    """
    import torch

    threshold = round(rate * 2**15)
    count = inputs.numel()
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=inputs.device)
    numbers = words.random_().view(torch.int16)[:count].view(inputs.shape)
    keep = torch.bitwise_and(numbers, 0x7FFF) >= threshold
    return inputs * (keep.to(inputs.dtype) * (2**15 / (2**15 - threshold)))


# --- the cache write -----------------------------------------------------------------------
def write_in_place(buffer, axis, index, values):
    """`buffer` with `values` written at `index...index + n` along `axis`, in place.

    Keras' `slice_update` on torch clones the whole buffer (and with a tensor `index` builds a
    scatter over every element of `values`), so a decode step would cost the size of the
    cache, not of the step. The caller treats the `buffer` it passed as consumed.
    """
    import torch

    length = values.shape[axis]
    if isinstance(index, (int, np.integer)):
        buffer.narrow(axis, index, length).copy_(values)
        return buffer
    positions = torch.arange(length, device=buffer.device) + index.to(torch.int64)
    return buffer.index_copy_(axis, positions, values)


def written_slots(length, key, value, mask):
    """`key` and `value` (`[batch, slots, heads, head_dim]`) and `mask` (`[..., slots]`) cut
    to their first `length` slots: the part of a preallocated decoding cache written so far.

    The slots after it are masked out, so attention over the cut tensors has the same
    outputs (up to the order of float sums), and it reads `length` slots instead of all of
    them. A decoding step is bound by memory traffic and each step reads the whole cache: at
    batch 8, attention over the 96 slots of OPT-125m's int8 benchmark was a quarter of every
    step. `length` may be a tensor: a trace records the cut as a function of its value, so one
    trace serves every step. Under `torch.export` the tensors come back whole (an export
    cannot cut at a length known only at run time).
    """
    import torch

    if torch.compiler.is_exporting():
        return key, value, mask
    key, value = key[:, :length], value[:, :length]
    return key, value, None if mask is None else mask[..., :length]


def dot_product_attention(query, key, value, mask, scale):
    """Keras' torch `ops.dot_product_attention(query, key, value, mask=mask, scale=scale)`
    (`[batch, length, heads, head_dim]` tensors of one dtype, a boolean `mask` or None),
    without copying strided keys and values into contiguous ones first.

    torch's fused kernel reads strided tensors as they are; Keras copies them, which for the
    cut cache of `written_slots` is a copy of the cache at every step (1,600 copies, 120 ms of
    an OPT-125m int8 decoding call at batch 8).
    """
    import torch

    if mask is not None:
        # Keras' additive mask: a large finite negative, so that a row with no visible key
        # averages the values instead of giving NaN (the caller zeroes those rows).
        large = 65500.0 if query.dtype == torch.float16 else 3.38953e38
        negative = torch.tensor(large * -0.7, dtype=query.dtype, device=query.device)
        mask = torch.where(mask, torch.zeros((), dtype=query.dtype), negative)
    query, key, value = (x.transpose(1, 2) for x in (query, key, value))
    output = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, scale=scale
    )
    return output.transpose(1, 2)


# --- int8 products -------------------------------------------------------------------------
def _fbgemm_pack(kernel):
    """`kernel` (`[k, n]`) packed for `_fbgemm_product`."""
    return _fbgemm_pack_as_is(kernel.t())


def _fbgemm_pack_as_is(weight):
    """`weight` (`[n, k]`, the layout of torch's `Linear`) packed for fbgemm, with unit scales
    and zero points."""
    import torch

    n = int(weight.shape[0])
    with warnings.catch_warnings():
        # torch 2.13 deprecates making quantized tensors; its own dynamic int8 makes them too.
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
        weight = torch._make_per_channel_quantized_tensor(
            weight.contiguous(),
            torch.ones(n, dtype=torch.float64),
            torch.zeros(n, dtype=torch.int64),
            0,
        )
    return torch.ops.quantized.linear_prepack(weight, None)


def _fbgemm_product(rows, packed):
    """`rows @ kernel` (exact sums, as float32) from `packed`, for integer-valued `rows` in
    [-127, 127]: fbgemm quantizes the float32 `rows` with scale 1 and zero point 128, so its
    uint8 values are `rows + 128`, whose sums it corrects back to those of `rows`."""
    import torch

    op = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32
    return op(rows.to(torch.float32), 1.0, 128, packed)


@functools.cache
def _fbgemm_exact():
    """Whether fbgemm's int8 sums are exact on this CPU: with VNNI they are; without, its
    kernels add pairs of uint8 x int8 products in saturating 16 bits, which `255 * 127 * 2`
    overflows."""
    import torch

    # The first row saturates 16-bit pair sums; the second has values of both signs.
    rows = torch.stack([torch.full((64,), 127.0), torch.arange(64) * 4.0 - 126])
    kernel = torch.full((64, 2), 127, dtype=torch.int8)
    exact = (rows.double() @ kernel.double()).float()
    try:
        return bool(torch.equal(_fbgemm_product(rows, _fbgemm_pack(kernel)), exact))
    except (RuntimeError, AttributeError, NotImplementedError):  # no fbgemm in this torch
        return False


def int8_matmul(x, kernel):
    """`x @ kernel` of int8 tensors (`x` `[..., k]`, `kernel` `[k, n]`; on fbgemm `x` may hold
    the int8 values as floats, see `quantized_product`): the exact sums, as int32 (as float32
    from fbgemm: the value Keras' cast to float32 gives).

    Keras' torch `matmul` runs int8 products in int32 on the CPU (no fast kernel: OPT-125m's
    layers take 37 ms a step at one row); `torch._int_mm` computes the same sums with int8
    kernels (4-7 ms), on the CPU as on CUDA. Inside a trace, for at most `FBGEMM_FOR_ROWS`
    rows, on a CPU where fbgemm's sums are exact (`_fbgemm_exact`), the products run on fbgemm (the kernels of torch's own dynamic
    int8 `Linear`) from a prepacked kernel: the trace records the packing, and
    `_read_fbgemm_packed` has the replay read a packed copy kept with the model instead. In
    OPT-125m's decoding loop that is 94 -> 104 tok/s at batch 1 and 406 -> 493 at batch 8
    (a packed kernel is read in one pass; `_int_mm` reorders its kernel at every call).
    """
    import torch

    lead = tuple(x.shape[:-1])
    rows = x.reshape(-1, x.shape[-1])
    if _on_fbgemm(rows.shape[0], kernel):
        product = _fbgemm_product(rows, _fbgemm_pack(kernel))
    else:
        product = torch._int_mm(rows, kernel)
    return product.reshape(lead + (kernel.shape[-1],))


#: The most rows `int8_matmul` multiplies on fbgemm. From 16 rows on `torch._int_mm` is as
#: fast (OPT-125m's kernels at 16-128 rows), and needs no packed copy: a prompt's step, traced
#: once per prompt shape, then packs nothing (a packing of OPT-125m's kernels takes 0.5 s).
FBGEMM_FOR_ROWS = 16


def _on_fbgemm(rows, kernel):
    """Whether `int8_matmul` multiplies `rows` rows by `kernel` on fbgemm: inside a trace, for
    at most `FBGEMM_FOR_ROWS` rows, on a CPU where fbgemm computes Keras' values
    (`_fbgemm_exact`)."""
    import torch

    return (
        torch.jit.is_tracing()
        and int(rows) <= FBGEMM_FOR_ROWS
        and kernel.device.type == "cpu"
        and _fbgemm_exact()
    )


def quantized_product(inputs, kernel, quantizer=None):
    """`(quantized @ kernel, scale)` for `quantized, scale = quantizer(inputs, axis=-1)`
    (by default Keras' `abs_max_quantize`): the exact sums of `int8_matmul`.

    With Keras' default quantizer the clip to [-127, 127] is left out: it changes nothing,
    since `inputs * scale` lies within it by construction. On fbgemm, which takes float32
    rows (`_fbgemm_product`), the rounded rows go in as they are, with no cast to int8 either:
    OPT-125m int8 decoding 104 -> 108 tok/s at batch 1, 456 -> 473 at batch 8. On
    `torch._int_mm` the clip was 7% of RoBERTa-base's int8 inference (32 of 478 ms at 8 x
    128; Keras also takes the absolute values twice). (Leaving the rounding to fbgemm too is
    not exact: it adds the zero point 128 before it rounds, in float32, which moves values
    close to a tie.)
    """
    import torch
    from keras import ops

    quantizer = quantizer or keras.quantizers.AbsMaxQuantizer()
    plain = (
        type(quantizer) is keras.quantizers.AbsMaxQuantizer
        and tuple(quantizer.value_range) == (-127, 127)
        and quantizer.output_dtype == "int8"
    )
    if not plain:
        quantized, scale = quantizer(inputs, axis=-1)
        return int8_matmul(quantized, kernel), scale
    # Keras' `abs_max_quantize`, operation for operation, up to its clip.
    largest = ops.max(ops.abs(inputs), axis=-1, keepdims=True)
    scale = ops.divide(quantizer.value_range[1], ops.add(largest, quantizer.epsilon))
    scale = ops.cast(scale, keras.backend.standardize_dtype(inputs.dtype))
    quantized = ops.round(ops.multiply(inputs, scale))
    if not _on_fbgemm(math.prod(int(d) for d in inputs.shape[:-1]), kernel):
        quantized = quantized.to(torch.int8)  # exact: the values are whole, in [-127, 127]
    return int8_matmul(quantized, kernel), scale


def int8_dense_call(layer, keras_call):
    """The `_int8_call` of an int8 `keras.layers.Dense` on torch: Keras' arithmetic, with the
    product on `int8_matmul`.

    Inputs are quantized per row by the layer's own quantizer and the int32 product is scaled
    back as Keras does, so the outputs are Keras' own. Where gradients flow to the inputs (a
    LoRA or a head trained on top), with LoRA on the layer itself, or with a quantizer config
    that does not quantize the inputs, `keras_call` (Keras' method) runs instead.
    """
    import torch
    from keras import ops

    def call(inputs, training=None):
        grad = torch.is_grad_enabled() and getattr(inputs, "requires_grad", False)
        if grad or layer.lora_enabled or not layer.inputs_quantizer:
            return keras_call(inputs, training=training)
        kernel = ops.convert_to_tensor(layer._kernel)
        x, scale = quantized_product(inputs, kernel, layer.inputs_quantizer)
        x = ops.cast(x, layer.compute_dtype)
        scale = ops.multiply(ops.convert_to_tensor(layer.kernel_scale), scale)
        if layer.bias is not None and x.dtype == torch.float32:
            # `bias + x / scale` in one pass, with Keras' two roundings (the division's,
            # then the sum's): 20% of this step's time at 1024 x 3072.
            x = torch.addcdiv(ops.convert_to_tensor(layer.bias), x, scale)
        else:
            x = ops.divide(x, scale)
            if layer.bias is not None:
                x = ops.add(x, layer.bias)
        if layer.activation is not None:
            x = layer.activation(x)
        return x

    call.keras_call = keras_call
    return call

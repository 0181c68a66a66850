"""Weight tables: where each Hugging Face checkpoint tensor lives in a Keras model, as data.

A family's conversion is a tuple of rows; the same rows are walked in both directions:
`load_table` copies a checkpoint onto a model (import) and `export_table` gives the checkpoint
tensors back from a model (export).

A row has:

- `hf`: a key template, or a tuple of templates that name one tensor (tied pairs; the first is
  the canonical name, a checkpoint may hold any of them). `{p}` is the checkpoint's base-model
  prefix (`"roberta."` in a task checkpoint, `""` in a bare one) and `{i}` a layer index.
  Dense, LayerNorm and embedding rows name the torch module (`{p}encoder.layer.{i}.output.dense`)
  and add `.weight` / `.bias` themselves; the other kinds name whole keys.
- `keras`: an attribute path from the model the table is applied to (a backbone, or a task for
  head rows), e.g. `encoder_layers[{i}].attention.query_dense`. A row with `{i}` repeats for
  every item of the list before `[{i}]`. A path that ends at `None` (a layer this configuration
  does not build, such as OPT's `project_in` when no projection is needed) skips the row, so a
  checkpoint tensor meant for it stays unused and is reported.
- its kind, a constructor below: `dense` (torch Linear `[out, in]` <-> Keras `[in, out]`, with an
  optional head split or merge), `layer_norm`, `embedding`, `param` (one tensor, one variable),
  `tied` (a saved copy of a tensor another row loads), `ignore` (keys this model leaves out on
  purpose) and `fixed` (a table the model computes itself, checked rather than loaded).
- `missing`: what a checkpoint without the row's tensor means: `"error"` (the default),
  `"skip"` (an optional layer, such as the pooler, left to the caller) or `"keep"` (the variable
  keeps its initial value, as transformers does for `final_logits_bias`).
- `when`: a predicate on the model; the row applies only where it holds.

A task's head is a tuple of `Head` parts; see `Head`.
"""

import dataclasses
import re
from collections.abc import Callable

import keras
import numpy as np

_INDEXED = re.compile(r"^(\w+)\[(\d+)\]$")


@dataclasses.dataclass(frozen=True)
class Row:
    """One checkpoint tensor group <-> one Keras layer or variable (see the module docstring)."""

    hf: tuple
    keras: str
    missing: str = "error"
    when: Callable | None = None

    def __post_init__(self):
        if isinstance(self.hf, str):
            object.__setattr__(self, "hf", (self.hf,))
        if self.missing not in ("error", "skip", "keep"):
            raise ValueError(f"`missing` must be 'error', 'skip' or 'keep'; got {self.missing!r}.")

    #: Whether `load` runs when the row's tensors are absent (it checks for them itself).
    handles_absence = False

    # Kinds override these three.
    def tensor_keys(self, names):
        """The checkpoint keys this row reads, given its formatted module names."""
        return names

    def load(self, model, target, names, porter):
        raise NotImplementedError

    def export(self, model, target, names):
        """`(keys, value)` pairs: the checkpoint tensors of `target` (keys: the tied names of one
        tensor, canonical first)."""
        raise NotImplementedError

    # Shared by every kind.
    def present(self, names, porter):
        return any(porter.has(key) for key in self.tensor_keys(names))


def _linear_weight(kernel, split):
    """A Keras kernel as torch's Linear weight `[out, in]`, merging split head axes."""
    if split == "out":  # [in, heads, head_dim] -> [in, heads * head_dim]
        kernel = kernel.reshape(kernel.shape[0], -1)
    elif split == "in":  # [heads, head_dim, out] -> [heads * head_dim, out]
        kernel = kernel.reshape(-1, kernel.shape[-1])
    return kernel.T


@dataclasses.dataclass(frozen=True)
class _Dense(Row):
    # "out" / "in": the Keras kernel splits the output / input axis into heads (an EinsumDense
    # attention projection); torch keeps one flat axis.
    split: str | None = None

    def tensor_keys(self, names):
        return tuple(f"{name}.weight" for name in names)

    def load(self, model, target, names, porter):
        kernel = target.kernel
        porter.port(
            kernel,
            *self.tensor_keys(names),
            transform=lambda w: w.T if self.split is None else _fit(w.T, kernel.shape),
        )
        if _has_bias(target):
            bias = target.bias
            porter.port(
                bias, *(f"{n}.bias" for n in names), transform=lambda b: _fit(b, bias.shape)
            )

    def export(self, model, target, names):
        yield self.tensor_keys(names), _linear_weight(_numpy(target.kernel), self.split)
        if _has_bias(target):
            yield tuple(f"{n}.bias" for n in names), _numpy(target.bias).reshape(-1)


def _has_bias(layer):
    return getattr(layer, "use_bias", False) and layer.bias is not None


def _fit(value, shape):
    """`value` in the variable's `shape` when it has as many elements; otherwise as it is, so
    the porter's shape check names the key and the variable."""
    shape = tuple(shape)
    return value.reshape(shape) if value.size == int(np.prod(shape)) else value


@dataclasses.dataclass(frozen=True)
class _LayerNorm(Row):
    def tensor_keys(self, names):
        return tuple(f"{name}.weight" for name in names)

    def _parts(self, target, names):
        # Checkpoints converted from TensorFlow name the two `gamma` / `beta`.
        for variable, torch_name, tf_name in (
            (target.gamma, "weight", "gamma"),
            (target.beta, "bias", "beta"),
        ):
            if variable is not None:  # `center=False` / `scale=False` drops one
                yield variable, (*(f"{n}.{torch_name}" for n in names), f"{names[0]}.{tf_name}")

    def load(self, model, target, names, porter):
        for variable, keys in self._parts(target, names):
            porter.port(variable, *keys)

    def export(self, model, target, names):
        for variable, keys in self._parts(target, names):
            yield keys[:-1], _numpy(variable)


@dataclasses.dataclass(frozen=True)
class _Embedding(Row):
    def tensor_keys(self, names):
        return tuple(f"{name}.weight" for name in names)

    def load(self, model, target, names, porter):
        porter.port(target.embeddings, *self.tensor_keys(names))

    def export(self, model, target, names):
        yield self.tensor_keys(names), _numpy(target.embeddings)


@dataclasses.dataclass(frozen=True)
class _Param(Row):
    # The tensor's shape in the checkpoint where it differs from the variable's
    # (`final_logits_bias` is saved `[1, vocab]`).
    hf_shape: tuple | None = None

    def load(self, model, target, names, porter):
        transform = None if self.hf_shape is None else lambda v: _fit(v, target.shape)
        porter.port(target, *names, transform=transform)

    def export(self, model, target, names):
        value = _numpy(target)
        yield names, value if self.hf_shape is None else value.reshape(self.hf_shape)


@dataclasses.dataclass(frozen=True)
class _Tied(Row):
    handles_absence = True

    def load(self, model, target, names, porter):
        porter.skip_tied(*names)

    def export(self, model, target, names):
        yield names, _numpy(target)


@dataclasses.dataclass(frozen=True)
class _Ignore(Row):
    handles_absence = True

    def load(self, model, target, names, porter):
        for prefix in names:
            porter.used.update(porter.unused_keys(prefix))

    def export(self, model, target, names):
        return ()


@dataclasses.dataclass(frozen=True)
class _Fixed(Row):
    compute: Callable | None = None
    atol: float = 1e-6
    what: str = "the table this model computes"
    handles_absence = True

    def load(self, model, target, names, porter):
        key = names[0]
        if porter.has(key):
            stored = np.asarray(porter.get(key), dtype="float64")
            ours = np.asarray(self.compute(model), dtype="float64")
            if stored.shape != ours.shape:
                raise ValueError(
                    f"Weight {key!r} in the {porter.source} has shape {stored.shape}; "
                    f"{self.what} of this config is {ours.shape}."
                )
            diff = float(np.max(np.abs(stored - ours))) if stored.size else 0.0
            if diff > self.atol:
                raise ValueError(
                    f"Weight {key!r} in the {porter.source} is not {self.what} (max difference "
                    f"{diff:.3g}); the model computes this table itself and cannot use another."
                )
        if self.keras:  # the layer that holds a copy of the table
            porter.mark_set(target)

    def export(self, model, target, names):
        yield names, np.asarray(self.compute(model), dtype="float32")


def dense(hf, keras, split=None, **options):
    """A torch `nn.Linear` (`{hf}.weight` `[out, in]`, `{hf}.bias`) <-> a Keras `Dense`.

    `split="out"` / `"in"`: the Keras kernel splits its output / input axis into heads
    (`[in, heads, head_dim]` / `[heads, head_dim, out]`); the torch weight keeps it flat.
    """
    return _Dense(hf, keras, split=split, **options)


def layer_norm(hf, keras, **options):
    """A torch `nn.LayerNorm` (`weight`/`bias`, or TF-era `gamma`/`beta`) <-> a Keras one."""
    return _LayerNorm(hf, keras, **options)


def embedding(hf, keras, **options):
    """A torch `nn.Embedding` (`{hf}.weight`) <-> a Keras `Embedding` (`embeddings`)."""
    return _Embedding(hf, keras, **options)


def param(hf, keras, hf_shape=None, **options):
    """One tensor (a whole key) <-> one Keras variable (`keras` ends at the variable)."""
    return _Param(hf, keras, hf_shape=hf_shape, **options)


def tied(hf, keras, **options):
    """Saved copies of a tied tensor (keys) that another row loads: read and discarded on
    import, given back from the variable at `keras` on export."""
    return _Tied(hf, keras, missing="skip", **options)


def ignore(hf, **options):
    """Keys under the prefixes `hf` that this model leaves out on purpose (Pegasus' encoder in
    a decoder-only model); nothing on export."""
    return _Ignore(hf, "", missing="skip", **options)


def fixed(hf, keras, compute, atol=1e-6, what="the table this model computes", **options):
    """A table that checkpoints store but the model computes (`compute(model)`): a stored
    one must match it within `atol`; the layer at `keras` (if any) counts as set."""
    return _Fixed(hf, keras, missing="skip", compute=compute, atol=atol, what=what, **options)


@dataclasses.dataclass(frozen=True)
class Head:
    """One part of a task head in a checkpoint.

    Attributes:
        rows: the part's weight rows, applied to the task (`keras` paths start at the task).
        prefixes: key templates whose presence in a checkpoint means the part is there; by
            default the keys of its rows. (OPT's and Pegasus' LM heads are the tied word
            table alone, so any task checkpoint, `{p}`, carries them.)
        layer: the Keras layer the part fills: a head of several parts (pretraining: masked
            LM and next sentence) starts this layer fresh when its part is missing, and skips
            the part when the layer is `None` (not built).
    """

    rows: tuple
    prefixes: tuple = ()
    layer: str | None = None


# --- walking a table ---------------------------------------------------------------------------
def resolve(model, path):
    """The object at an attribute path (`encoder_layers[0].attention.query_dense`), or None
    when a step on the way is None."""
    obj = model
    for step in path.split(".") if path else ():
        match = _INDEXED.match(step)
        obj = getattr(obj, match.group(1) if match else step)
        if obj is None:
            return None
        if match:
            obj = obj[int(match.group(2))]
    return obj


def _list_length(model, path):
    """How many layers a `{i}` row spans: the length of the list before `[{i}]`."""
    head = path.split("[{i}]")[0]
    items = resolve(model, head)
    return 0 if items is None else len(items)


def expand(model, table, prefix=""):
    """`(row, target, names)` for each applicable row and layer index: `target` is the Keras
    object (never None) and `names` the row's formatted key templates."""
    for row in table:
        if row.when is not None and not row.when(model):
            continue
        indices = range(_list_length(model, row.keras)) if "{i}" in row.keras else (None,)
        for i in indices:
            fields = {"p": prefix, "i": i}
            target = resolve(model, row.keras.format(**fields)) if row.keras else model
            if target is None:
                continue
            yield row, target, tuple(t.format(**fields) for t in row.hf)


def load_table(model, table, porter, prefix=""):
    """Copies the checkpoint tensors in `porter` onto `model` by `table` (import).

    Every key read is marked used and every variable written set, so the caller's accounting
    (`porter.unused_keys()`, `porter.unset_variables(model)`) sees the whole table. A missing
    tensor is an error that names it, unless its row says `missing="skip"` or `"keep"`. Each
    weight group (a row at one layer index) advances the porter's progress bar.
    """
    for row, target, names in expand(model, table, prefix):
        absent = not row.handles_absence and row.missing != "error"
        if absent and not row.present(names, porter):
            if row.missing == "keep":
                porter.mark_set(target)
        else:
            row.load(model, target, names, porter)
        porter.advance()


def export_table(model, table, prefix=""):
    """The checkpoint tensors of `model` by `table` (export), as `(keys, value, optional)`:
    `keys` are the names of one tensor (canonical first, then the tied copies a checkpoint
    may hold instead), `value` the numpy array in the checkpoint's layout, and `optional`
    whether a checkpoint may leave it out."""
    for row, target, names in expand(model, table, prefix):
        for keys, value in row.export(model, target, names):
            yield tuple(keys), value, row.missing != "error"


def export_weights(model, table, prefix="", progress=None):
    """`{canonical key: numpy array}` of `model` by `table`: one tensor per row, as a
    checkpoint holds them (tied copies left out: transformers ties them again on load).
    `progress` (a `keras.utils.Progbar`), when given, advances once per weight group."""
    weights = {}
    for row, target, names in expand(model, table, prefix):
        if not isinstance(row, _Tied):
            weights.update((keys[0], value) for keys, value in row.export(model, target, names))
        if progress is not None:
            progress.add(1)
    return weights


def count_groups(model, table):
    """How many weight groups (rows, once per layer index) `model` has in `table`: the length
    of the progress bars of `load_table` and `export_weights`."""
    return sum(1 for _ in expand(model, table))


def _numpy(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable))

"""Data pipelines in `fit` / `evaluate` / `predict`, checked batch by batch on the host.

Keras turns each kind of input (`tf.data.Dataset`, `keras.utils.PyDataset`, a torch
`DataLoader`, a grain dataset, a Python generator) into a data adapter, and each backend's
trainer draws its batches from that adapter. `CheckedPipeline` wraps the adapter Keras chose:
every batch is brought to the host as numpy when it is drawn and handed to the model's
`prepare_batch` (raw text tokenized, ids and lengths checked) before the trainer gets it, so
a bad batch stops the loop before any compiled step runs on it. The pipeline is never read
whole: batches are drawn as the trainer asks for them (on tensorflow, tf.data prefetches a
few, as for Keras' own generator inputs, and a bad batch's error still arrives at its turn).
The number of batches, shuffling and the re-iteration of each epoch stay Keras' (the wrapped
adapter's).
"""

import itertools
import types

import keras
import numpy as np
from keras.src.trainers import data_adapters
from keras.src.trainers.data_adapters.data_adapter import DataAdapter
from keras.src.trainers.data_adapters.torch_data_loader_adapter import TorchDataLoaderAdapter


def is_pipeline(x):
    """Whether `fit` / `evaluate` / `predict` data is a pipeline that Keras draws batches from
    (rather than in-memory arrays, which are checked whole before the loop)."""
    if x is None or isinstance(x, DataAdapter):
        return False
    if data_adapters.is_tf_dataset(x):
        # A `tf.distribute.DistributedDataset` yields per-replica values, not batches.
        return not any(cls.__name__.startswith("Distributed") for cls in type(x).__mro__)
    return (
        isinstance(x, keras.utils.PyDataset)
        or data_adapters.is_torch_dataloader(x)
        or data_adapters.is_grain_dataset(x)
        or isinstance(x, types.GeneratorType)
    )


def checked_pipeline(model, x, what, training, **adapter_args):
    """`x` as the adapter Keras would build for it, with each batch checked by `model` as it is
    drawn; other data is returned as is.

    Args:
        model: the model whose `prepare_batch` checks each batch.
        x: the data given to `fit`, `evaluate` or `predict`.
        what: the data's name in error messages (`"the `fit` data"`).
        training: whether the batches carry labels for a loss (`fit`, `evaluate`).
        **adapter_args: the other arguments of Keras' `get_data_adapter` (`y`,
            `sample_weight`, `shuffle`, `class_weight`...); Keras refuses those a pipeline
            does not take.
    """
    if not is_pipeline(x):
        return x
    try:
        adapter = data_adapters.get_data_adapter(x, **adapter_args)
    except ValueError as error:
        # Keras' grain adapter reads the dtype of the first batch's arrays as a tensor dtype,
        # which numpy's string dtypes are not.
        if data_adapters.is_grain_dataset(x) and "Invalid dtype: str" in str(error):
            raise ValueError(
                f"{what[0].upper()}{what[1:]} is a grain dataset of raw text, which Keras' grain "
                "adapter cannot take (it makes tensors of every batch array, and strings are "
                "none). Tokenize inside the grain pipeline (`.map` with the model's "
                "preprocessor), or pass the text as a `tf.data.Dataset`, a "
                "`keras.utils.PyDataset` or a torch `DataLoader`."
            ) from error
        raise
    return CheckedPipeline(adapter, model, what, training)


class CheckedPipeline(DataAdapter):
    """A Keras data adapter whose batches `model.prepare_batch` checks (and may rewrite) on
    the host, one at a time, as the trainer draws them.

    Batches are counted from 1 in each pass over the data (each epoch, unless
    `steps_per_epoch` makes Keras continue one pass across epochs). A bad batch raises the
    model's `ValueError` prefixed with its position. On the tensorflow backend batches are
    drawn inside tf.data's threads, which re-wrap Python errors; the error is kept in
    `error` so the model can raise it as is.
    """

    def __init__(self, adapter, model, what, training):
        self._adapter = adapter
        self._model = model
        self._what = what
        self._training = training
        #: The last batch error raised (read after a tensorflow loop fails).
        self.error = None

    def _draw(self):
        """The wrapped adapter's batches, as host values."""
        if isinstance(self._adapter, TorchDataLoaderAdapter):
            # Keras' own numpy path for a DataLoader fails on batches of strings.
            return (to_host(batch) for batch in self._adapter.get_torch_dataloader())
        return self._adapter.get_numpy_iterator()

    def host_batches(self):
        """Checked numpy batches, counted from 1."""
        # A PyDataset that `fit` shuffles is drawn in another order than its indices.
        order = ", in shuffled order" if getattr(self._adapter, "shuffle", False) else ""
        for position, batch in enumerate(self._draw(), start=1):
            yield self._prepare(batch, f"Batch {position} (counting from 1{order})")

    def _prepare(self, batch, where):
        """`model.prepare_batch(batch)`; a `ValueError` is raised again with `where` first."""
        if isinstance(batch, list):
            batch = tuple(batch)  # Keras reads a list batch as (x, y, sample_weight) too
        try:
            return self._model.prepare_batch(batch, training=self._training)
        except ValueError as error:
            self.error = ValueError(f"{where} of {self._what}: {error}")
            raise self.error from error

    def get_numpy_iterator(self):
        return self.host_batches()

    def get_jax_iterator(self):
        # Numpy batches are what Keras' own adapters hand the JAX trainer.
        return self.host_batches()

    def get_torch_dataloader(self):
        # The torch trainer only iterates what it gets: each pass starts a new one.
        return _Passes(lambda: (_to_backend(batch) for batch in self.host_batches()))

    def get_tf_dataset(self):
        import tensorflow as tf

        # tf.data needs the batch structure up front: the first checked batch gives it (every
        # axis left open, since sequence lengths may vary). tf.data reads a list as one
        # tensor, not as a structure (a DataLoader collates to lists).
        first, pending = self._first_batch()
        first = keras.tree.lists_to_tuples(first)
        signature = keras.tree.map_structure(
            lambda value: tf.TensorSpec((None,) * np.ndim(value), np.asarray(value).dtype), first
        )
        pending = [pending] if pending is not None else []

        def one_pass():
            batches = pending.pop() if pending else self.host_batches()
            yield from (keras.tree.lists_to_tuples(batch) for batch in batches)

        dataset = tf.data.Dataset.from_generator(one_pass, output_signature=signature)
        if getattr(self._adapter, "enqueuer", None) is not None:
            # A PyDataset's workers already prefetch; Keras keeps tf.data's threads out of it.
            options = tf.data.Options()
            options.autotune.enabled = False
            options.threading.private_threadpool_size = 1
            return dataset.with_options(options)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _first_batch(self):
        """The first checked batch, and the pass it was drawn from (to go on with) or None."""
        adapter = self._adapter
        if getattr(adapter, "enqueuer", None) is not None:
            # Drawing through a PyDataset's worker queue now would leave batches queued for the
            # next pass: read its first item directly, as Keras does for its own signature.
            where = "The batch at index 0" if adapter.shuffle else "Batch 1 (counting from 1)"
            batch = adapter._standardize_batch(adapter.py_dataset[0])
            return self._prepare(to_host(batch), where), None
        batches = self.host_batches()
        try:
            first = next(batches)
        except StopIteration:
            raise ValueError(f"There is no batch in {self._what}.") from None
        # The first pass goes on from here (a generator yields its batches only once).
        return first, itertools.chain([first], batches)

    @property
    def num_batches(self):
        return self._adapter.num_batches

    @property
    def batch_size(self):
        return self._adapter.batch_size

    @property
    def has_partial_batch(self):
        return self._adapter.has_partial_batch

    @property
    def partial_batch_size(self):
        return self._adapter.partial_batch_size

    def on_epoch_begin(self):
        self._adapter.on_epoch_begin()

    def on_epoch_end(self):
        self._adapter.on_epoch_end()


class _Passes:
    """An iterable whose every iteration is a new pass (`make()`)."""

    def __init__(self, make):
        self._make = make

    def __iter__(self):
        return iter(self._make())


def to_host(batch):
    """`batch` with every tensor as a numpy array (strings and lists of strings as they are)."""

    def host(value):
        if isinstance(value, (str, bytes)):
            return value
        if hasattr(value, "detach"):  # torch, possibly on an accelerator
            return value.detach().cpu().numpy()
        if hasattr(value, "__array__") and not isinstance(value, np.ndarray):
            return np.asarray(value)
        return value

    return keras.tree.map_structure(host, batch)


def _to_backend(batch):
    return keras.tree.map_structure(
        lambda value: (
            keras.ops.convert_to_tensor(value) if isinstance(value, np.ndarray) else value
        ),
        batch,
    )


def raise_batch_error(error, pipelines):
    """Re-raises the batch error of one of `pipelines` that `error` (a tensorflow error out of
    tf.data) carries, unwrapped; otherwise returns (the batch error itself included)."""
    for pipeline in pipelines:
        found = getattr(pipeline, "error", None)
        if found is not None and found is not error and str(found).splitlines()[0] in str(error):
            raise found from None

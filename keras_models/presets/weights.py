"""Reading Hugging Face weight files and porting tensors onto Keras variables."""

import json
import os

import numpy as np

from keras_models.progress import progress_bar

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
TORCH_WEIGHTS = "pytorch_model.bin"
TORCH_INDEX = "pytorch_model.bin.index.json"


def _read_safetensors(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"Could not read the safetensors file {path}: {error}") from error


def _read_torch(path):
    try:
        import torch
    except ImportError as error:
        raise ValueError(
            f"{path} is a PyTorch pickle and reading it needs torch; install torch or convert "
            "the checkpoint to model.safetensors."
        ) from error
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise ValueError(f"Could not read the PyTorch weights file {path}: {error}") from error
    return {k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in state.items()}


def _weight_files(directory):
    """`(reader, [paths])` of a Hugging Face checkpoint directory's weights: the shards of an
    index, else the single file."""
    for index_name, reader in ((SAFE_INDEX, _read_safetensors), (TORCH_INDEX, _read_torch)):
        index_path = os.path.join(directory, index_name)
        if os.path.exists(index_path):
            with open(index_path) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            paths = [os.path.join(directory, shard) for shard in shards]
            for path in paths:
                if not os.path.exists(path):
                    raise ValueError(f"The shard {path} listed in {index_path} is missing.")
            return reader, paths
    for name, reader in ((SAFE_WEIGHTS, _read_safetensors), (TORCH_WEIGHTS, _read_torch)):
        if os.path.exists(os.path.join(directory, name)):
            return reader, [os.path.join(directory, name)]
    raise ValueError(
        f"No weights in {directory}: expected {SAFE_WEIGHTS}, {SAFE_INDEX}, {TORCH_WEIGHTS} or "
        f"{TORCH_INDEX}."
    )


def read_hf_weights(directory, verbose=None):
    """All tensors of a Hugging Face checkpoint directory, as numpy arrays.

    Reads `model.safetensors` (without torch), a sharded safetensors index, or
    `pytorch_model.bin` (single or sharded; needs torch).

    Args:
        directory: the checkpoint directory.
        verbose: a progress bar per weight file read; see `keras_models.progress`.
    """
    reader, paths = _weight_files(directory)
    noun = "file" if len(paths) == 1 else "files"
    bar = progress_bar(
        len(paths), verbose, f"Reading {len(paths)} weight {noun} of {directory}", "file"
    )
    tensors = {}
    for path in paths:
        tensors.update(reader(path))
        bar.add(1)
    return tensors


class WeightPorter:
    """Copies checkpoint tensors onto Keras variables, checking names and shapes.

    Every key read is remembered, so `unused_keys()` lists what the model did not take, and
    every variable written is remembered, so `unset_variables(model)` lists what the checkpoint
    did not provide.

    Args:
        tensors: dict of name -> numpy array.
        source: a description of where the tensors came from, for error messages.

    `track` starts a progress bar that `load_table` advances once per weight group.
    """

    def __init__(self, tensors, source="checkpoint"):
        self.tensors = tensors
        self.source = source
        self.used = set()
        self.assigned = set()
        self._bar = None
        self._done = 0

    def track(self, groups, verbose, title):
        """Shows a progress bar of `groups` steps (see `keras_models.progress`); `advance`
        moves it and `finish` completes it (groups a checkpoint lacks count as done)."""
        self._bar = progress_bar(groups, verbose, title, unit_name="weight group")
        self._done = 0

    def advance(self):
        """One weight group handled (loaded, or skipped as absent)."""
        if self._bar is not None and self._done < self._bar.target:
            self._done += 1
            self._bar.update(self._done)

    def finish(self):
        if self._bar is not None and self._done < self._bar.target:
            self._done = self._bar.target
            self._bar.update(self._done)
        self._bar = None

    def has(self, key):
        return key in self.tensors

    def has_prefix(self, prefix):
        return any(key.startswith(prefix) for key in self.tensors)

    def get(self, *keys):
        """The first present key among `keys` (tied pairs may be saved under either name)."""
        for key in keys:
            if key in self.tensors:
                self.used.update(k for k in keys if k in self.tensors)
                return self.tensors[key]
        raise ValueError(f"Missing weight {keys[0]!r} in the {self.source}.")

    def assign(self, variable, value, key):
        value = np.asarray(value)
        if tuple(variable.shape) != value.shape:
            raise ValueError(
                f"Weight {key!r} in the {self.source} has shape {value.shape}, but the model's "
                f"variable {variable.path} has shape {tuple(variable.shape)}."
            )
        variable.assign(value.astype(variable.dtype) if variable.dtype != value.dtype else value)
        self.assigned.add(id(variable))

    def port(self, variable, *keys, transform=None):
        value = self.get(*keys)
        self.assign(variable, transform(value) if transform else value, keys[0])

    def dense(self, layer, key, kernel_shape=None):
        """A torch Linear (`[out, in]`) onto a Keras Dense (`[in, out]`)."""
        self.port(layer.kernel, f"{key}.weight", transform=lambda w: _reshape(w.T, kernel_shape))
        if getattr(layer, "use_bias", False) and layer.bias is not None:
            self.port(layer.bias, f"{key}.bias")

    def layer_norm(self, layer, key):
        if layer.gamma is not None:
            self.port(layer.gamma, f"{key}.weight", f"{key}.gamma")
        if layer.beta is not None:
            self.port(layer.beta, f"{key}.bias", f"{key}.beta")

    def embedding(self, layer, *keys):
        self.port(layer.embeddings, *(f"{key}.weight" for key in keys))

    def skip_tied(self, *keys):
        """Marks present `keys` as read: copies of a tied tensor that was ported under another
        name (checkpoints may hold either name of a tied pair)."""
        self.used.update(key for key in keys if key in self.tensors)

    def unused_keys(self, prefix=""):
        return sorted(k for k in self.tensors if k not in self.used and k.startswith(prefix))

    def unset_variables(self, layer):
        return [v.path for v in layer.weights if id(v) not in self.assigned]

    def mark_set(self, layer):
        """Counts the variables of `layer` as handled (a freshly initialised head)."""
        self.assigned.update(id(v) for v in layer.weights)


def _reshape(value, shape):
    return value if shape is None else value.reshape(shape)

"""What the task preprocessors share: raw-text detection, argument checks, model inputs."""

import inspect

import numpy as np

from keras_models.arguments import StrictArguments
from keras_models.tasks.losses import IGNORE_INDEX  # noqa: F401  (the preprocessors' label padding)
from keras_models.tokenizers.base import Tokenizer

# Keys the tokenizer returns that are bookkeeping, not model inputs.
# The label transformers' losses ignore.
BOOKKEEPING = ("offset_mapping", "overflow_to_sample_mapping", "sequence_ids", "word_ids")


def holds_text(value):
    """Whether `value` is a string, or a (nested) list / array whose first item is one."""
    if isinstance(value, str):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "US" or (
            value.dtype == object and value.size > 0 and holds_text(value.flat[0])
        )
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and holds_text(value[0])
    return False


def is_raw_text(x):
    """Whether `fit` / `evaluate` / `predict` data is raw text for a preprocessor."""
    if isinstance(x, dict):
        return any(holds_text(v) for v in x.values())
    return holds_text(x)


def text_list(value, name):
    """`(list of strings, was_single)` for a string or a list / array of strings."""
    if isinstance(value, str):
        return [value], True
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(
            f"`{name}` must be a string or a list of strings; got {type(value).__name__}."
        )
    bad = [i for i, v in enumerate(value) if not isinstance(v, str)]
    if bad:
        raise ValueError(f"`{name}` must hold strings; entry {bad[0]} is {value[bad[0]]!r}.")
    return list(value), False


def text_lists(first, second, first_name, second_name):
    """`(first list, second list, was_single)` for two parallel texts: both strings, or both
    lists of strings of the same length."""
    firsts, single = text_list(first, first_name)
    seconds, single_second = text_list(second, second_name)
    if single != single_second:
        raise ValueError(
            f"`{first_name}` and `{second_name}` must both be strings or both be lists of strings."
        )
    same_length(**{first_name: firsts, second_name: seconds})
    return firsts, seconds, single


def same_length(**lists):
    lengths = {name: len(v) for name, v in lists.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"These lists must have the same length; got {lengths}.")


def pad_rows(inputs, batch_size):
    """Repeats the last row so the row count is a multiple of a power of two (at most
    `batch_size`): predictions on varying numbers of rows then reuse a few compiled shapes.
    Callers read the first rows of the outputs only (`predict` returns every row)."""
    count = len(next(iter(inputs.values())))
    bucket = 1
    while bucket < min(count, batch_size):
        bucket *= 2
    total = -(-count // bucket) * bucket
    if total == count:
        return inputs
    return {
        k: np.concatenate([v, np.repeat(v[-1:], total - count, axis=0)]) for k, v in inputs.items()
    }


def label_array(y, count, name="y"):
    """Labels as a numpy array with one entry per example."""
    if isinstance(y, dict) or y is None:
        return y
    array = np.asarray(y.numpy() if hasattr(y, "numpy") else y)
    if array.ndim == 0 or array.shape[0] != count:
        raise ValueError(
            f"`{name}` must hold one label per example ({count}); got shape {array.shape}."
        )
    return array


class Preprocessor(StrictArguments):
    """Base class: raw text in, the model's numpy inputs (and labels) out, on the host.

    A task with a `preprocessor` accepts raw text in `fit`, `evaluate` and `predict`; the
    preprocessor turns it into arrays before Keras sees it.

    Args:
        tokenizer: a `keras_models.Tokenizer` of the model's family.
        max_length: the most tokens per sequence (longer inputs are truncated).
    """

    #: Keys of a raw-text dict (the first is the one a bare string / list stands for).
    raw_keys = ()
    #: Keys that hold labels in a raw-text dict.
    label_keys = ()

    def __init__(self, tokenizer, max_length=512):
        if not isinstance(tokenizer, Tokenizer):
            raise ValueError(
                f"`tokenizer` must be a keras_models Tokenizer; got {type(tokenizer).__name__}."
            )
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
            raise ValueError(f"`max_length` must be a positive int; got {max_length!r}.")
        if max_length < 2:
            raise ValueError(f"`max_length` must be at least 2; got {max_length}.")
        self.tokenizer = tokenizer
        self.max_length = int(max_length)

    def raw_dict(self, x):
        """`x` as a dict of raw-text keys; a bare string or list stands for the first key."""
        if not isinstance(x, dict):
            x = {self.raw_keys[0]: x}
        unknown = [k for k in x if k not in self.raw_keys + self.label_keys]
        if unknown:
            raise ValueError(
                f"Unknown key(s) {unknown} for {type(self).__name__}; accepted: "
                f"{list(self.raw_keys + self.label_keys)}."
            )
        return x

    def labels_from(self, x, y):
        """`y`, or the labels given inside the raw dict under one of `label_keys`."""
        given = [k for k in self.label_keys if x.get(k) is not None]
        if given and y is not None:
            raise ValueError(f"Labels were given both as `y` and inside `x` ({given[0]!r}).")
        return x[given[0]] if given else y

    @staticmethod
    def require(x, *names):
        missing = [n for n in names if x.get(n) is None]
        if missing:
            raise ValueError(f"Raw-text input needs the key(s) {missing}; got {sorted(x)}.")

    @staticmethod
    def model_inputs(encoded, input_names=None):
        """The tokenizer outputs the model takes (`input_names`: the model's, when known)."""
        out = {k: v for k, v in encoded.items() if k not in BOOKKEEPING}
        if input_names is not None:
            out = {k: v for k, v in out.items() if k in input_names}
        return out

    def prepare(self, x, y=None, input_names=None, training=False):
        """`(features, labels)` for `fit` / `evaluate` / `predict` from raw text."""
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments besides the tokenizer (saved in `preprocessor.json`)."""
        return {"max_length": self.max_length}

    @classmethod
    def for_model(cls, tokenizer, model, hf_config=None, **config):
        """The preprocessor `from_preset` attaches to `model`: saved settings in `config`,
        the checkpoint's `config.json` (when it has one) in `hf_config`."""
        if "max_length" not in config:
            config["max_length"] = cls.default_max_length(tokenizer, model)
        return cls(tokenizer, **config)

    @classmethod
    def default_max_length(cls, tokenizer, model):
        """The class default, lowered to the tokenizer's `model_max_length` and to what the
        model's position table holds."""
        default = inspect.signature(cls.__init__).parameters["max_length"].default
        limits = [default, tokenizer.model_max_length, _position_limit(model)]
        return min(limit for limit in limits if limit is not None)

    def __repr__(self):
        return f"{type(self).__name__}(tokenizer={self.tokenizer!r}, max_length={self.max_length})"


PREPROCESSOR_FILE = "preprocessor.json"


def _position_limit(model):
    """A safe sequence length for the model's position table (two slots are kept for
    families whose positions start after an offset, such as RoBERTa's), or None."""
    backbone = getattr(model, "backbone", model)
    try:
        size = backbone.get_config().get("max_position_embeddings")
    except Exception:  # a user backbone whose get_config needs more
        return None
    return int(size) - 2 if isinstance(size, int) and size > 4 else None


def read_preprocessor_config(directory, cls):
    """The saved arguments of a `cls` preprocessor in `directory` ({} when none was saved)."""
    import json
    import os

    path = os.path.join(directory, PREPROCESSOR_FILE)
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Could not read {path}: {error}") from error
    return data.get("config", {}) if data.get("class_name") == cls.__name__ else {}


def preset_files(model):
    """The files `save_to_preset` writes next to the weights: the tokenizer's and the
    preprocessor's settings (`preprocessor.json`)."""
    import json

    tokenizer = model.tokenizer
    if tokenizer is None:
        return {}
    files = tokenizer.save_files()
    preprocessor = model.preprocessor
    if preprocessor is not None:
        data = {"class_name": type(preprocessor).__name__, "config": preprocessor.get_config()}
        files[PREPROCESSOR_FILE] = json.dumps(data, indent=2).encode("utf-8")
    return files

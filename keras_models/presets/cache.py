"""Converted-preset cache: a Hugging Face checkpoint fetched from the hub is converted once and
kept as a Keras preset, so later loads skip the conversion."""

import hashlib
import os


def cache_root():
    """`$KERAS_MODELS_CACHE`, else `$XDG_CACHE_HOME/keras_models`, else `~/.cache/keras_models`."""
    if os.environ.get("KERAS_MODELS_CACHE"):
        return os.environ["KERAS_MODELS_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "keras_models")


def converted_path(snapshot_dir, class_name):
    """Where the conversion of `snapshot_dir` (a hub snapshot, whose path names the exact
    revision) into `class_name` is kept."""
    key = hashlib.sha256(os.path.realpath(snapshot_dir).encode()).hexdigest()[:16]
    return os.path.join(cache_root(), "converted", key, class_name)

"""Progress bars for the slow steps: hub downloads, checkpoint conversion, export.

The bars are the ones Keras and huggingface_hub ship: conversion and export draw a
`keras.utils.Progbar` on stdout (per weight file or shard, then per weight group: one row of a
family's weight table, e.g. a Dense layer's kernel and bias), and hub downloads keep
huggingface_hub's own tqdm bars on stderr.

Every entry point that runs these steps (`from_preset`, `export_to_transformers`,
`convert_backbone` / `convert_task`, the tokenizers' `from_preset`) takes `verbose`:

- `None` (the default): automatic. A bar when the stream it is drawn on is a terminal (or a
  Jupyter kernel, where Keras' bars render too); nothing when it is a file or a pipe, so logs
  and CI output carry no bar updates.
- `1` (or `True`): a bar, terminal or not.
- `2`: one line per step when it ends, as Keras' `verbose=2` (for logs).
- `0` (or `False`): quiet.

Hub downloads follow the same switch, except that huggingface_hub's own settings
(`HF_HUB_DISABLE_PROGRESS_BARS=1`, `huggingface_hub.utils.disable_progress_bars()`) still
silence them: `verbose` turns the hub's bars off, never on against the user's setting.
"""

import contextlib
import sys

LEVELS = (0, 1, 2)


def is_terminal(stream=None):
    """Whether `stream` (default: `sys.stdout`) shows a live progress bar: a terminal, or a
    Jupyter kernel (whose output area renders Keras' and tqdm's bars)."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return "ipykernel" in sys.modules


def check_verbose(verbose):
    """Raises a ValueError unless `verbose` is None, a bool, 0, 1 or 2."""
    if verbose is not None and not isinstance(verbose, bool) and verbose not in LEVELS:
        raise ValueError(f"`verbose` must be None (automatic), 0, 1 or 2; got {verbose!r}.")


def verbosity(verbose, stream=None):
    """The level (0, 1 or 2) that `verbose` asks for on `stream` (see the module docstring).

    Raises:
        ValueError: for anything but None, a bool, 0, 1 or 2.
    """
    check_verbose(verbose)
    if verbose is None:
        return 1 if is_terminal(stream) else 0
    return int(verbose)


def fit_verbosity(verbose=None, stream=None):
    """`verbose` for Keras' `fit`: as given, else a bar on a terminal and one line per epoch
    (2) elsewhere, where a bar's thousands of updates would fill a log file."""
    if verbose is not None:
        return verbosity(verbose)
    return 1 if is_terminal(stream) else 2


class _Quiet:
    """What `progress_bar` returns when there is nothing to show."""

    target = 0

    def add(self, n, values=None):
        pass

    def update(self, current, values=None, finalize=None):
        pass


def progress_bar(target, verbose, title, unit_name="step"):
    """A `keras.utils.Progbar` of `target` steps on stdout, after a `title` line; a silent
    stand-in (the same `add` / `update`) at level 0 or with no steps.

    Args:
        target: the number of steps.
        verbose: see the module docstring.
        title: one line saying what the bar counts.
        unit_name: the step's name in the bar's timing (`"file"`, `"weight group"`).
    """
    level = verbosity(verbose)
    if level == 0 or not target:
        return _Quiet()
    import keras

    print(title, flush=True)
    return keras.utils.Progbar(target, verbose=level, unit_name=unit_name)


@contextlib.contextmanager
def hub_progress(verbose):
    """Inside: huggingface_hub's progress bars are off when `verbose` asks for quiet (on
    stderr, where tqdm draws them); its own settings are restored on exit."""
    if verbosity(verbose, sys.stderr) != 0:
        yield
        return
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    if are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()

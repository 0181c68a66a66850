"""Streaming `generate`: token ids handed to a Python object while the loop still runs.

A streamer follows transformers' protocol (`BaseStreamer`): `put` receives the prompt once,
then the new tokens of every decoding step, and `end` marks the end of generation.
`TextStreamer` prints the decoded text as it grows.

The decode loop is compiled (`keras_models.generation.loop.compiled`), so the tokens of a
step reach Python through a host callback (`host_callback`) placed in the loop body:

* JAX: `jax.experimental.io_callback(..., ordered=True)`: kept by `jax.jit` although it
  returns nothing, run in program order (also inside `lax.while_loop`), and, unlike an
  ordered `jax.debug.callback`, accepted when the computation spans several devices (a
  `keras.distribution`). It runs on a runtime thread, possibly after the jitted call has
  returned: `wait_for_callbacks()` (`jax.effects_barrier`) waits for the last one.
* TensorFlow: `tf.py_function`. XLA cannot compile it, so a loop that streams must be traced
  with `tf.function(..., jit_compile=False)` (see `needs_plain_tf_function`). Inside a
  `tf.function` the automatic control dependencies keep a stateful call (also in a
  `tf.while_loop` body, where it runs at every iteration) but do not order it against other
  stateful ops (a callback before the loop could run after it): every call therefore takes
  the handle of one module-level variable, which makes the calls one resource's users,
  chained in program order.
* torch: Keras' `while_loop` is a Python loop, so the function is called right away. A body
  replayed from a `torch.jit.trace` (`keras_models.torch_fast_paths.lean_body`) would call it
  only once, while tracing, so `host_callback` refuses to run under a trace: call it from a
  wrapper around the traced body instead.

The graph of a compiled loop is cached and reused by later `generate` calls, so the function
baked into it must not be a particular streamer. `open_stream` registers the streamer of one
call under an integer handle, passed to the compiled function as a tensor;
`stream_tokens(handle, tokens)` in the loop delivers the tokens to whichever streamer holds
that handle. An exception raised by the streamer does not stop the compiled loop: it is
raised again, on the caller's thread, when the `open_stream` block ends.

Sketch of the loop's side:

    with open_stream(streamer, prompt_ids) as handle:       # puts the prompt
        ids, length = run(*args, handle)                    # loop calls stream_tokens
        ids = np.asarray(ops.convert_to_numpy(ids))
    # every step has been delivered and `streamer.end()` called here
"""

import contextlib
import itertools
import threading

import keras
import numpy as np

# --- the streamer protocol -----------------------------------------------------------------


class BaseStreamer:
    """What `generate(..., streamer=...)` calls while it decodes.

    Subclass it and implement both methods. The calls come in this order for one `generate`
    call: one `put` with the prompt, one `put` per decoding step, then one `end`.
    """

    def put(self, value):
        """Receives token ids.

        Args:
            value: a numpy int array. The first call of a generation gets the prompt,
                `[batch, prompt_length]` (for an encoder-decoder model, the decoder start
                tokens); every later call gets the tokens chosen at one step, `[batch]`
                (rows that already stopped get the padding id).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `put`.")

    def end(self):
        """Called once after the last `put` of a generation."""
        raise NotImplementedError(f"{type(self).__name__} must implement `end`.")


def _decoder_of(tokenizer):
    """The object whose `decode(ids, **kwargs)` turns ids into text: `tokenizer` itself, or
    the tokenizer a preprocessor holds (a preprocessor's own `decode` takes batches)."""
    from keras_models.tokenizers.base import Tokenizer

    inner = getattr(tokenizer, "tokenizer", None)
    if not isinstance(tokenizer, Tokenizer) and inner is not None:
        tokenizer = inner
    if not callable(getattr(tokenizer, "decode", None)):
        raise ValueError(
            "`tokenizer` must be a tokenizer with a `decode` method or a preprocessor holding "
            f"one; got {type(tokenizer).__name__}."
        )
    return tokenizer


# Unicode blocks of CJK ideographs: text in these scripts has no spaces between words, so
# each character is printed as soon as it is decoded.
_CJK_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2CEAF),
    (0x2F800, 0x2FA1F),
)


def _is_cjk(char):
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


class TextStreamer(BaseStreamer):
    """Prints the generated text to stdout as it is decoded (transformers' `TextStreamer`).

    The ids received so far are decoded together at each `put`, and the text is printed up
    to its last complete word: the end of the word before the last space (the space itself
    waits, since the next token may make the decoder's clean-up remove it, as in `" ."`).
    A line ending in a newline is printed whole; a CJK character is printed at once. `end`
    prints what is left and a newline. Only a batch of one prompt can be streamed.

    Args:
        tokenizer: a `keras_models` tokenizer, or a preprocessor (its `tokenizer` is used);
            any object with a transformers-style `decode(ids, **decode_kwargs)` works too.
        skip_prompt: do not print the prompt (the first `put` of each generation).
        **decode_kwargs: passed to `decode`, e.g. `skip_special_tokens=True`.

    Examples:
    >>> import numpy as np
    >>> class Words:  # any object with a transformers-style `decode`
    ...     words = ["Hello", " big", " world", "!"]
    ...     def decode(self, ids, **kwargs):
    ...         return "".join(self.words[i] for i in ids)
    >>> streamer = TextStreamer(Words(), skip_prompt=True)
    >>> def generate(prompt, tokens):  # what `generate` does with a streamer
    ...     streamer.put(np.array([prompt]))
    ...     for token in tokens:
    ...         streamer.put(np.array([token]))
    ...     streamer.end()
    >>> generate([0], [1, 2, 3])  # the prompt ("Hello") is skipped
     big world!

    With a model: `model.generate(ids, streamer=TextStreamer(model.tokenizer))`, or
    `model.generate("a text prompt", streamer=True)`.
    """

    def __init__(self, tokenizer, skip_prompt=False, **decode_kwargs):
        self.tokenizer = _decoder_of(tokenizer)
        self.skip_prompt = bool(skip_prompt)
        self.decode_kwargs = decode_kwargs
        self._reset()

    def _reset(self):
        self._ids = []  # ids decoded together; their text is printed up to `_printed`
        self._printed = 0
        self._expect_prompt = True

    def _decode(self, ids):
        return self.tokenizer.decode(ids, **self.decode_kwargs)

    def put(self, value):
        """Decodes the new ids with the ones before and prints the text that is final.

        Args:
            value: `[1, length]` (the prompt) or `[1]` (one step) int ids.

        Raises:
            ValueError: for a batch of more than one row.
        """
        ids = np.asarray(value)
        if ids.ndim > 2 or (ids.ndim and ids.shape[0] != 1):
            raise ValueError(
                "TextStreamer streams a batch of size 1 only; got ids of shape "
                f"{ids.shape} (`[batch, length]` or `[batch]`)."
            )
        is_prompt, self._expect_prompt = self._expect_prompt, False
        if is_prompt and self.skip_prompt:
            return
        self._ids.extend(int(i) for i in ids.reshape(-1))
        text = self._decode(self._ids)
        if text.endswith("\n"):
            new = text[self._printed :]
            # Start over from the last token, decoded again as context: a decoder that drops
            # the leading space of its first token would otherwise lose the next line's.
            self._ids = self._ids[-1:]
            self._printed = len(self._decode(self._ids))
        elif text and _is_cjk(text[-1]):
            new = text[self._printed :]
            self._printed = len(text)
        else:
            stop = max(text.rfind(" "), self._printed)
            new = text[self._printed : stop]
            self._printed = stop
        if new:
            self.on_finalized_text(new)

    def end(self):
        """Prints the rest of the text and a newline, and gets ready for the next prompt."""
        rest = self._decode(self._ids)[self._printed :] if self._ids else ""
        self._reset()
        self.on_finalized_text(rest, stream_end=True)

    def on_finalized_text(self, text, stream_end=False):
        """Where the final text goes: stdout. Override it to send the text elsewhere.

        Args:
            text: the new text (may be empty when `stream_end`).
            stream_end: whether generation ended (a newline follows the text).
        """
        print(text, end="\n" if stream_end else "", flush=True)


# --- calling Python from compiled code -----------------------------------------------------


def needs_plain_tf_function():
    """Whether a loop calling `host_callback` must be compiled without XLA.

    True on TensorFlow: `tf.py_function` has no XLA kernel, so the loop's `tf.function` needs
    `jit_compile=False` (an inner `tf.function(jit_compile=True)` around the model step can
    keep its arithmetic in XLA). False on the other backends.
    """
    return keras.backend.backend() == "tensorflow"


_TF_ORDER = []  # the variable whose handle orders the TensorFlow callbacks


def _tf_order_variable():
    import tensorflow as tf

    if not _TF_ORDER:
        with tf.init_scope():  # created eagerly, even while a tf.function is traced
            _TF_ORDER.append(tf.Variable(0, trainable=False, name="host_callback_order"))
    return _TF_ORDER[0]


def _as_numpy(values):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in values]


def host_callback(fn, *tensors):
    """Calls `fn(*arrays)` on the host, with `tensors` as numpy arrays, from compiled code.

    Traced into a function compiled as `keras_models.generation.loop.compiled` compiles it
    (a `keras.ops.while_loop` body included), `fn` runs at every execution, in program order,
    although nothing uses its result (it returns nothing). See the module docstring for what
    each backend needs: `jit_compile=False` on TensorFlow (`needs_plain_tf_function`), and
    on torch a call outside any `torch.jit.trace` (outside `lean_body`'s traced body).
    Outside compiled code `fn` is called right away.

    Args:
        fn: a Python function of numpy arrays; its return value is ignored.
        *tensors: tensors (or arrays) of the current backend.

    Raises:
        RuntimeError: on torch, when called while `torch.jit.trace` records a function.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        from jax.experimental import io_callback

        def call(*values):
            fn(*_as_numpy(values))

        io_callback(call, None, *tensors, ordered=True)
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.executing_eagerly():
            fn(*_as_numpy(tensors))
            return

        def call(order, *values):
            fn(*[np.array(v.numpy()) for v in values])

        # The order variable's handle makes every call a user of one resource: the automatic
        # control dependencies then chain the calls (and the loops holding them) in program
        # order. Without it they are only sure to run, in any order.
        tf.py_function(call, [_tf_order_variable().handle, *tensors], Tout=[])
    elif backend == "torch":
        import torch

        if torch.jit.is_tracing():
            raise RuntimeError(
                "`host_callback` was called while `torch.jit.trace` records a function (such "
                "as a decode-loop body inside `lean_body`): the replays would not call it. "
                "Call it from a wrapper around the traced body instead."
            )
        fn(*_as_numpy(tensors))
    else:
        fn(*_as_numpy(tensors))


def wait_for_callbacks():
    """Waits until every `host_callback` of the computations launched so far has run.

    JAX runs the callbacks on a runtime thread, possibly after the jitted call returned; the
    other backends run them before the compiled call returns (this is then a no-op).
    """
    if keras.backend.backend() == "jax":
        import jax

        jax.effects_barrier()


# --- one streamer per generate call ----------------------------------------------------------


class _Stream:
    def __init__(self, streamer):
        self.streamer = streamer
        self.error = None


_STREAMS = {}  # handle -> _Stream of an open `open_stream` block
_HANDLES = itertools.count(1)
_LOCK = threading.Lock()


@contextlib.contextmanager
def open_stream(streamer, prompt_ids=None):
    """Registers `streamer` for one generation and yields its handle for `stream_tokens`.

    On entry `streamer.put(prompt_ids)` is called (unless `prompt_ids` is None), so a
    streamer that refuses the batch does so before decoding starts. When the block ends
    without an exception, it waits for the pending callbacks (`wait_for_callbacks`), raises
    the first exception the streamer raised in one of them, if any, and else calls
    `streamer.end()`.

    Args:
        streamer: a `BaseStreamer`.
        prompt_ids: the `[batch, prompt_length]` numpy prompt (decoder start tokens for an
            encoder-decoder model), or None to put nothing on entry.

    Yields:
        The handle: a numpy int32 scalar, to pass into the compiled function as a tensor.
    """
    if not (callable(getattr(streamer, "put", None)) and callable(getattr(streamer, "end", None))):
        raise ValueError(
            f"`streamer` must have `put` and `end` methods (see BaseStreamer); got "
            f"{type(streamer).__name__}."
        )
    if prompt_ids is not None:
        streamer.put(np.asarray(keras.ops.convert_to_numpy(prompt_ids)))
    with _LOCK:
        handle = next(_HANDLES) % (2**31 - 1)
        _STREAMS[handle] = stream = _Stream(streamer)
    try:
        yield np.int32(handle)
        wait_for_callbacks()
    finally:
        with _LOCK:
            _STREAMS.pop(handle, None)
    if stream.error is not None:
        raise stream.error
    streamer.end()


def _deliver(handle, tokens):
    stream = _STREAMS.get(int(handle))
    if stream is None or stream.error is not None:
        return
    try:
        stream.streamer.put(tokens)
    except Exception as error:  # raised again by `open_stream`, on the caller's thread
        stream.error = error


def stream_tokens(handle, tokens):
    """Hands `tokens` (`[batch]` ids of one step) to the streamer registered as `handle`.

    Call it in the compiled decode loop, once per step (see `host_callback` for where); the
    traced graph refers to the handle only as a tensor, so it serves every later call.

    Args:
        handle: the handle from `open_stream`, as a tensor (an argument of the compiled
            function) or a number.
        tokens: `[batch]` int tensor.
    """
    host_callback(_deliver, handle, tokens)

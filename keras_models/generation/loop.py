"""The one decode loop shared by every causal and seq2seq model.

A model plugs in through four methods (see `GenerationMixin`):

* `generation_inputs(inputs, decoder_start_token_id)` -> `(prompt_ids, prompt_mask, context)`:
  host-side numpy prompt (left padded) and a dict of extra tensors (a seq2seq model's encoder inputs);
* `init_cache(batch_size, max_length, context)` -> any nest of tensors, built inside the
  compiled function (a seq2seq model runs its encoder and its cross-attention K/V here, once);
* `call_with_cache(token_ids, padding_mask, cache, cache_index, last_only=False)` ->
  `(logits, cache)`: the logits of the current tokens (of the last one only, `[batch, 1,
  vocab]`, with `last_only`), after writing their keys/values at `cache_index`;
* `generation_defaults()` -> `{"eos_token_id": ..., "pad_token_id": ...}`.

The loop keeps every shape static (a `[batch, prompt + max_new_tokens]` id buffer and mask, a
cache of `max_length` slots written in place, see `write_along`), so it compiles once per prompt
shape:
`jax.jit` (variables passed as arguments through a `StatelessScope`), `tf.function` with XLA,
and on torch a `no_grad` Python loop whose body (one decode step and the token choice) is
recorded once with `torch.jit.trace` and replayed at every step: the same tensor ops without
Keras' per-layer and per-op Python dispatch, which otherwise costs more than the matmuls of a
batch-1 step. The static shapes make the trace valid at every step.
Inside a `keras.distribution` scope (JAX) the caches are laid out by batch and heads
(`shard_cache`); the sharded variables go into `jax.jit` as they are.
"""

import weakref

import keras
import numpy as np
from keras import ops

from keras_models.generation.processors import LogitsProcessors
from keras_models.generation.samplers import greedy, sample, warp
from keras_models.generation.streamers import stream_tokens
from keras_models.layers.cache_update import write_along
from keras_models.torch_fast_paths import decoding, lean_body

NEG_INF = -1.0e9


def _isin(tokens, eos_ids):
    hit = ops.zeros_like(tokens, dtype="bool")
    for eos in eos_ids:
        hit = ops.logical_or(hit, ops.equal(tokens, eos))
    return hit


def _write(buffer, index, values):
    """`buffer[:, index] = values` for a `[batch, length]` buffer (in place on torch)."""
    return write_along(buffer, 1, index, values[:, None])


def _buffers(prompt_ids, prompt_mask, max_new_tokens, pad_id):
    batch = ops.shape(prompt_ids)[0]
    ids = ops.concatenate(
        [prompt_ids, ops.full((batch, max_new_tokens), pad_id, dtype="int32")], axis=1
    )
    mask = ops.concatenate(
        [ops.cast(prompt_mask, "int32"), ops.zeros((batch, max_new_tokens), dtype="int32")],
        axis=1,
    )
    return ids, mask


# --- distribution ----------------------------------------------------------------------------
def _heads_axis(model, distribution):
    """The mesh axis splitting the attention heads: the one the layout puts on the output
    columns of the first attention key projection (`None` when they are not split)."""
    from keras_models.layers.attention import MultiHeadAttention

    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, MultiHeadAttention):
            return distribution.get_variable_layout(layer.key_dense.kernel).axes[-1]
    return None


def shard_cache(model, cache):
    """Lays out every `[batch, heads, length, head_dim]` tensor of `cache` for the current
    `keras.distribution` (JAX): batch along the data axis, heads along the axis that splits
    the key/value projections, so each device keeps the keys and values it computed itself
    and decoding moves no cache between devices. Axes that do not divide stay replicated;
    without a distribution the cache is returned as is."""
    if keras.backend.backend() != "jax":
        return cache
    distribution = keras.distribution.distribution()
    if distribution is None:
        return cache
    mesh = distribution.device_mesh
    sizes = dict(zip(mesh.axis_names, mesh.shape))
    heads_axis = _heads_axis(model, distribution)

    def fits(axis, dim):
        return axis in sizes and dim is not None and dim % sizes[axis] == 0

    def place(tensor):
        if len(tensor.shape) != 4:
            return tensor
        axes = [None] * 4
        if fits(distribution.batch_dim_name, tensor.shape[0]):
            axes[0] = distribution.batch_dim_name
        if heads_axis != axes[0] and fits(heads_axis, tensor.shape[1]):
            axes[1] = heads_axis
        layout = keras.distribution.TensorLayout(axes, mesh)
        return keras.distribution.distribute_tensor(tensor, layout)

    return keras.tree.map_structure(place, cache)


# --- greedy and sampling -------------------------------------------------------------------
def _prompt_step(model, prompt_ids, mask, cache):
    """`(logits of the last position, cache)` after the prompt's step.

    On torch, from the second call of a compiled loop (one prompt shape) on, it is replayed
    from a trace, as the loop's body is. Run through Keras' layers the step costs more than
    its arithmetic (OPT-125m int8, 32 tokens: 87 ms at batch 1, 28 ms replayed, 25 ms for
    transformers), but its trace costs as much as 30 of those runs (0.6 s in float32, 2.7 s
    in int8), which a shape generated once would pay for nothing.
    """

    def step(prompt_ids, mask, cache):
        return model.call_with_cache(prompt_ids, mask, cache, 0, last_only=True)

    return lean_body(model, "prompt", step, from_call=2)(prompt_ids, mask, cache)


def search(
    model,
    prompt_ids,
    prompt_mask,
    context,
    uniforms,
    *,
    max_new_tokens,
    config,
    eos,
    pad,
    stream=None,
):
    """Greedy or sampled decoding, with the `LogitsProcessors` the config switches on.

    Returns `(ids [batch, prompt + max_new_tokens], length, scores)`: columns from `length` on
    were never reached (every row had stopped); `scores` is `[max_new_tokens, batch, vocab]`
    (the processed scores of each step; rows past `length - prompt` unused) with
    `config.output_scores`, else `None`. `stream`, when given, is the handle of an open
    streamer (`streamers.open_stream`): each step's tokens go to it from inside the loop.
    """
    batch, prompt_length = ops.shape(prompt_ids)[0], prompt_ids.shape[1]
    max_length = prompt_length + max_new_tokens
    ids, mask = _buffers(prompt_ids, prompt_mask, max_new_tokens, pad)
    cache = shard_cache(model, model.init_cache(batch, max_length, context))
    processors = LogitsProcessors(config, eos, prompt_length, max_length)

    def select(logits, index, ids, mask, finished, extra):
        logits = processors(logits, index, ids, extra["state"])
        if config.do_sample:
            uniform = ops.take(extra["uniforms"], index - prompt_length, axis=0)
            token = sample(logits, uniform, config)
        else:
            token = greedy(logits)
        # Rows that already produced a stop token get padding, as in transformers.
        token = ops.where(finished, ops.cast(pad, "int32"), token)
        finished = ops.logical_or(finished, _isin(token, eos))
        ids = _write(ids, index, token)
        mask = _write(mask, index, ops.ones_like(token))
        extra = dict(extra, state=processors.update(extra["state"], token))
        if config.output_scores:
            step = warp(logits, config) if config.do_sample else ops.cast(logits, "float32")
            extra["scores"] = write_along(extra["scores"], 0, index - prompt_length, step[None])
        return ids, mask, finished, extra

    logits, cache = _prompt_step(model, prompt_ids, mask, cache)
    vocab = logits.shape[-1]
    # `extra` rides along as a loop variable so that a traced body reads it as an input.
    extra = {"uniforms": uniforms, "state": processors.init_state(ids, mask, vocab)}
    if config.output_scores:
        extra["scores"] = ops.zeros((max_new_tokens, batch, vocab), "float32")
    finished = ops.zeros((batch,), dtype="bool")
    ids, mask, finished, extra = select(logits[:, -1], prompt_length, ids, mask, finished, extra)
    if stream is not None:
        stream_tokens(stream, ops.take(ids, prompt_length, axis=1))

    def cond(index, ids, mask, finished, cache, extra):
        return ops.logical_and(index < max_length, ops.logical_not(ops.all(finished)))

    def body(index, ids, mask, finished, cache, extra):
        token = ops.slice(ids, (0, index - 1), (batch, 1))
        logits, cache = model.call_with_cache(token, mask, cache, index - 1)
        cache = shard_cache(model, cache)
        ids, mask, finished, extra = select(logits[:, -1], index, ids, mask, finished, extra)
        return index + 1, ids, mask, finished, cache, extra

    step = lean_body(model, "search", body)
    if stream is not None:
        traced = step

        # Outside the body torch traces (a callback there would run at trace time only); on
        # jax and tensorflow this wrapper is simply part of the compiled loop.
        def step(*loop_vars):
            loop_vars = traced(*loop_vars)
            stream_tokens(stream, ops.take(loop_vars[1], loop_vars[0] - 1, axis=1))
            return loop_vars

    start = ops.convert_to_tensor(prompt_length + 1, dtype="int32")
    loop_vars = (start, ids, mask, finished, cache, extra)
    index, ids, _, _, _, extra = ops.while_loop(cond, step, loop_vars)
    return ids, index, extra.get("scores")


# --- beam search ---------------------------------------------------------------------------
def _gather_beams(values, indices):
    """`values[b, indices[b, j]]` for `values` `[batch, beams, ...]`, `indices` `[batch, k]`."""
    shape = ops.shape(values)
    batch, beams = shape[0], shape[1]
    offsets = ops.arange(batch, dtype="int32")[:, None] * beams
    flat = ops.reshape(values, (-1,) + tuple(values.shape[2:]))
    picked = ops.take(flat, ops.reshape(ops.cast(indices, "int32") + offsets, (-1,)), axis=0)
    return ops.reshape(picked, (batch, -1) + tuple(values.shape[2:]))


def beam_fill(pad, eos):
    """The id transformers' beam search writes after a finished hypothesis: the pad id when it
    is not 0, else the first stop token; -1 without stop tokens."""
    if not eos:
        return -1
    return pad if pad else eos[0]


def beam_search(model, prompt_ids, prompt_mask, context, *, max_new_tokens, config, eos, pad):
    """Beam search as transformers runs it (length penalty, `early_stopping` True / False /
    "never", the finished-hypotheses store and its early-stop heuristic), on static shapes,
    with the `LogitsProcessors` applied to the log-probabilities.

    `prompt_ids` is `[batch * num_beams, prompt]` (each prompt repeated `num_beams` times).
    Returns `(best, length, sequences_scores, steps, scores)`: `best` is
    `[batch * num_return_sequences, prompt + max_new_tokens]`, the best hypotheses of each
    prompt, cut at `length`; `sequences_scores` their length-normalised scores; `steps` the
    decoding steps run; `scores` (`[max_new_tokens, batch * num_beams, vocab]`, the processed
    log-probabilities of each step) with `config.output_scores`, else `None`.
    """
    beams = config.num_beams
    prompt_length = prompt_ids.shape[1]
    max_length = prompt_length + max_new_tokens
    flat_batch = ops.shape(prompt_ids)[0]
    batch = flat_batch // beams
    keep = max(2, 1 + len(eos)) * beams
    penalty = float(config.length_penalty)
    stops_when_full = config.early_stopping is True
    flat_ids, mask = _buffers(prompt_ids, prompt_mask, max_new_tokens, beam_fill(pad, eos))
    running = ops.reshape(flat_ids, (batch, beams, max_length))
    cache = shard_cache(model, model.init_cache(flat_batch, max_length, context))
    top_beam = ops.convert_to_tensor(np.arange(keep) < beams)
    processors = LogitsProcessors(config, eos, prompt_length, max_length)
    if config.early_stopping == "never" and penalty > 0:
        # transformers' heuristic: with a positive penalty the longest possible hypothesis
        # could score best.
        best_length = float(max_length - prompt_length)
    else:
        best_length = None

    def step(logits, index, state, mask, cache):
        vocab = logits.shape[-1]
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        flat_running = ops.reshape(state["running"], (flat_batch, max_length))
        log_probs = processors(log_probs, index, flat_running, state["processors"])
        if config.output_scores:
            state["scores_out"] = write_along(
                state["scores_out"], 0, index - prompt_length, log_probs[None]
            )
        log_probs = (
            ops.reshape(log_probs, (batch, beams, vocab)) + state["running_scores"][..., None]
        )
        top_scores, top_indices = ops.top_k(ops.reshape(log_probs, (batch, beams * vocab)), keep)
        top_indices = ops.cast(top_indices, "int32")
        parents = top_indices // vocab
        tokens = top_indices % vocab
        candidates = _gather_beams(state["running"], parents)
        candidates = ops.reshape(
            _write(
                ops.reshape(candidates, (batch * keep, max_length)),
                index,
                ops.reshape(tokens, (-1,)),
            ),
            (batch, keep, max_length),
        )
        hits = ops.logical_or(_isin(tokens, eos), index + 1 >= max_length)
        # The best `beams` candidates that did not stop keep running.
        running_scores = top_scores + ops.cast(hits, "float32") * NEG_INF
        _, chosen = ops.top_k(running_scores, beams)
        running = _gather_beams(candidates, chosen)
        new_running_scores = _gather_beams(running_scores, chosen)
        flat_parents = ops.reshape(
            _gather_beams(parents, chosen) + ops.arange(batch, dtype="int32")[:, None] * beams,
            (-1,),
        )
        running_tokens = ops.reshape(_gather_beams(tokens, chosen), (-1,))
        # Stopped candidates among the top `beams` join the finished store, length-normalised.
        generated = ops.cast(index + 1 - prompt_length, "float32")
        just_finished = ops.logical_and(hits, top_beam[None, :])
        normed = top_scores / ops.power(generated, penalty)
        if stops_when_full:
            full = ops.all(state["finished"], axis=-1, keepdims=True)
            normed = normed + ops.cast(full, "float32") * NEG_INF
        normed = normed + ops.cast(ops.logical_not(state["open"]), "float32") * NEG_INF
        normed = normed + ops.cast(ops.logical_not(just_finished), "float32") * NEG_INF
        merged_scores = ops.concatenate([state["scores"], normed], axis=1)
        _, best = ops.top_k(merged_scores, beams)
        new_lengths = ops.zeros((batch, keep), dtype="int32") + (index + 1 - prompt_length)
        sequences = _gather_beams(ops.concatenate([state["sequences"], candidates], axis=1), best)
        scores = _gather_beams(merged_scores, best)
        finished = _gather_beams(ops.concatenate([state["finished"], just_finished], axis=1), best)
        lengths = _gather_beams(ops.concatenate([state["lengths"], new_lengths], axis=1), best)
        # Whether a running beam could still beat the worst finished hypothesis.
        hypothetical = generated if best_length is None else best_length
        best_possible = new_running_scores[:, :1] / ops.power(hypothetical, penalty)
        worst = ops.where(finished, ops.min(scores, axis=1, keepdims=True), NEG_INF)
        still_open = ops.logical_and(
            state["open"], ops.any(best_possible > worst, axis=-1, keepdims=True)
        )
        go = ops.logical_and(ops.any(still_open), ops.logical_not(ops.all(hits)))
        if stops_when_full:
            go = ops.logical_and(go, ops.logical_not(ops.all(finished)))
        new_state = dict(
            state,
            running=running,
            running_scores=new_running_scores,
            sequences=sequences,
            scores=scores,
            finished=finished,
            lengths=lengths,
            open=still_open,
            go=go,
            processors=processors.update(state["processors"], running_tokens, flat_parents),
        )
        cache = keras.tree.map_structure(lambda c: ops.take(c, flat_parents, axis=0), cache)
        cache = shard_cache(model, cache)
        mask = _write(mask, index, ops.ones((flat_batch,), dtype="int32"))
        return new_state, mask, cache

    logits, cache = _prompt_step(model, prompt_ids, mask, cache)
    vocab = logits.shape[-1]
    state = dict(
        running=running,
        running_scores=ops.tile(
            ops.convert_to_tensor(np.where(np.arange(beams) == 0, 0.0, NEG_INF), "float32")[None],
            (batch, 1),
        ),
        sequences=running,
        scores=ops.full((batch, beams), NEG_INF, dtype="float32"),
        finished=ops.zeros((batch, beams), dtype="bool"),
        lengths=ops.zeros((batch, beams), dtype="int32"),
        open=ops.ones((batch, 1), dtype="bool"),
        go=ops.convert_to_tensor(True),
        processors=processors.init_state(flat_ids, mask, vocab),
    )
    if config.output_scores:
        state["scores_out"] = ops.zeros((max_new_tokens, flat_batch, vocab), "float32")
    state, mask, cache = step(logits[:, -1], prompt_length, state, mask, cache)

    def cond(index, state, mask, cache):
        return ops.logical_and(index < max_length, state["go"])

    def body(index, state, mask, cache):
        tokens = ops.reshape(
            ops.slice(state["running"], (0, 0, index - 1), (batch, beams, 1)), (-1, 1)
        )
        logits, cache = model.call_with_cache(tokens, mask, cache, index - 1)
        state, mask, cache = step(logits[:, -1], index, state, mask, cache)
        return index + 1, state, mask, cache

    start = ops.convert_to_tensor(prompt_length + 1, dtype="int32")
    index, state, _, _ = ops.while_loop(
        cond, lean_body(model, "beam_search", body), (start, state, mask, cache)
    )
    returned = config.num_return_sequences
    best = ops.reshape(state["sequences"][:, :returned], (-1, max_length))
    best_scores = ops.reshape(state["scores"][:, :returned], (-1,))
    length = prompt_length + ops.max(state["lengths"][:, :returned])
    return best, length, best_scores, index - prompt_length, state.get("scores_out")


# --- compilation per backend ---------------------------------------------------------------
_COMPILED = weakref.WeakKeyDictionary()


def compiled(model, fn, key, xla=True):
    """`fn(*tensors)` compiled for the current backend, cached per `model` and `key`.

    `xla=False` compiles a TensorFlow function without XLA (needed by host callbacks, which
    XLA cannot hold); the other backends ignore it."""
    table = _COMPILED.setdefault(model, {})
    if keras.backend.backend() == "jax":
        # The traced loop lays out its caches for the distribution current at trace time.
        key = (key, keras.distribution.distribution())
    if key in table:
        return table[key]
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def stateless(trainable, non_trainable, *args):
            mapping = list(zip(model.trainable_variables, trainable))
            mapping += list(zip(model.non_trainable_variables, non_trainable))
            with keras.StatelessScope(state_mapping=mapping):
                return fn(*args)

        jitted = jax.jit(stateless)

        def run(*args):
            return jitted(
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
                *args,
            )

    elif backend == "tensorflow":
        import tensorflow as tf

        run = tf.function(fn, jit_compile=xla)
    elif backend == "torch":
        traces = {}  # the loop bodies of this model and key, traced at the first call

        def run(*args):
            with decoding(traces):
                return fn(*args)

    else:
        run = fn
    table[key] = run
    return run

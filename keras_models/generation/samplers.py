"""Token selection: greedy, and sampling with temperature / top-k / top-p.

Sampling draws one uniform number per row and step (made on the host from `seed` before the
loop starts) and inverts the cumulative distribution, so the compiled loop needs no random
state and the same seed gives the same tokens on every backend.
"""

import dataclasses

from keras import ops


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """The static settings of one decode loop (hashable: a compiled loop is cached per config).

    `generate` builds it from the resolved `GenerationConfig`; the fields keep transformers'
    names and meaning.

    Attributes:
        do_sample: sample instead of taking the argmax.
        temperature: logits are divided by it before sampling.
        top_k: keep only the `top_k` most likely tokens (`None` or 0: all).
        top_p: keep the smallest set of most likely tokens whose probability reaches `top_p`.
        num_beams: beam width; 1 for greedy or sampling.
        length_penalty: beam scores are divided by `generated_length ** length_penalty`.
        early_stopping: beam search stopping rule, `True`, `False` or `"never"`.
        forced_bos_token_id: token forced at position 1; `None` for none.
        forced_eos_token_id: token forced at the last position (`max_length - 1`); `None`.
        repetition_penalty: scores of tokens already present are divided by it (multiplied
            when negative).
        no_repeat_ngram_size: no n-gram of this size occurs twice (0: off).
        bad_words_ids: token sequences never generated (a tuple of tuples).
        min_length: stop tokens are banned while the sequence is shorter.
        min_new_tokens: stop tokens are banned before this many new tokens.
        num_return_sequences: sequences returned per prompt.
        output_scores: also return the processed scores of every step.
        stream: call the streamer's host callback with each step's tokens.
    """

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | None = None
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    bad_words_ids: tuple | None = None
    min_length: int = 0
    min_new_tokens: int | None = None
    num_return_sequences: int = 1
    output_scores: bool = False
    stream: bool = False


def greedy(logits):
    """The most likely token of each row, `[batch]` int32."""
    return ops.cast(ops.argmax(logits, axis=-1), "int32")


def sample(logits, uniform, config):
    """Samples one token per row of `logits` (`[batch, vocab]`) with the uniform draws
    `uniform` (`[batch]`), after temperature, top-k and top-p filtering (in that order, as
    transformers applies its warpers).

    Examples:
    >>> import numpy as np
    >>> logits = np.log(np.array([[0.1, 0.6, 0.3]], "float32"))
    >>> int(sample(logits, np.array([0.5], "float32"), SamplerConfig(do_sample=True))[0])
    1
    """
    logits = ops.cast(logits, "float32")
    if config.temperature != 1.0:
        logits = logits / config.temperature
    vocab = logits.shape[-1]
    k = config.top_k if config.top_k else vocab
    k = min(k, vocab)
    if k < vocab or config.top_p is not None:
        values, indices = ops.top_k(logits, k=k, sorted=True)
    else:
        values, indices = logits, None
    probs = ops.softmax(values, axis=-1)
    if config.top_p is not None and config.top_p < 1.0:
        # Drop a token when the tokens more likely than it already reach top_p; the most
        # likely token is always kept.
        before = ops.cumsum(probs, axis=-1) - probs
        probs = ops.where(before < config.top_p, probs, ops.zeros_like(probs))
    cdf = ops.cumsum(probs, axis=-1)
    threshold = ops.cast(uniform, "float32")[:, None] * cdf[:, -1:]
    choice = ops.sum(ops.cast(cdf < threshold, "int32"), axis=-1)
    choice = ops.minimum(choice, values.shape[-1] - 1)
    if indices is None:
        return ops.cast(choice, "int32")
    picked = ops.take_along_axis(indices, choice[:, None], axis=-1)[:, 0]
    return ops.cast(picked, "int32")


def warp(logits, config):
    """The sampling scores over the whole vocabulary, as transformers returns them with
    `output_scores`: logits divided by the temperature, tokens outside the top-k / top-p
    sets at -inf."""
    logits = ops.cast(logits, "float32")
    if config.temperature != 1.0:
        logits = logits / config.temperature
    vocab = logits.shape[-1]
    if config.top_k and config.top_k < vocab:
        kth = ops.top_k(logits, k=config.top_k, sorted=True)[0][:, -1:]
        logits = ops.where(logits < kth, float("-inf"), logits)
    if config.top_p is not None and config.top_p < 1.0:
        values = ops.top_k(logits, k=vocab, sorted=True)[0]
        probs = ops.softmax(values, axis=-1)
        keep = ops.cumsum(probs, axis=-1) - probs < config.top_p
        cut = ops.min(ops.where(keep, values, float("inf")), axis=-1, keepdims=True)
        logits = ops.where(logits < cut, float("-inf"), logits)
    return logits

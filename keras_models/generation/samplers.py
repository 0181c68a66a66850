"""Token selection: greedy, and sampling with temperature / top-k / top-p.

Sampling draws one uniform number per row and step (made on the host from `seed` before the
loop starts) and inverts the cumulative distribution, so the compiled loop needs no random
state and the same seed gives the same tokens on every backend.
"""

import dataclasses

from keras import ops


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """How the next token is chosen (hashable: a compiled loop is cached per config).

    Attributes:
        do_sample: sample instead of taking the argmax.
        temperature: logits are divided by it before sampling.
        top_k: keep only the `top_k` most likely tokens (`None` or 0: all).
        top_p: keep the smallest set of most likely tokens whose probability reaches `top_p`.
        num_beams: beam width; 1 for greedy or sampling.
        length_penalty: beam scores are divided by `generated_length ** length_penalty`.
        early_stopping: stop a beam search row once `num_beams` hypotheses finished.
        forced_eos_token_id: token forced at the last position (`max_length - 1`), as
            transformers' `ForcedEOSTokenLogitsProcessor`; `None` for none.
    """

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool = False
    forced_eos_token_id: int | None = None

    def validate(self):
        if self.num_beams < 1:
            raise ValueError(f"`num_beams` must be >= 1, got {self.num_beams}.")
        if self.num_beams > 1 and self.do_sample:
            raise ValueError("Beam search with `do_sample=True` is not supported; pick one.")
        if self.do_sample:
            if not self.temperature > 0:
                raise ValueError(f"`temperature` must be > 0, got {self.temperature}.")
            if self.top_k is not None and self.top_k < 0:
                raise ValueError(f"`top_k` must be a non-negative integer, got {self.top_k}.")
            if self.top_p is not None and not 0 < self.top_p <= 1:
                raise ValueError(f"`top_p` must be in (0, 1], got {self.top_p}.")


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

"""Logits processors: transformers' generation controls, in keras.ops on static shapes.

They run inside the compiled decode loop on the scores of the position being chosen (`index`,
transformers' `cur_len`: the tokens so far, prompt included), in transformers' order:
repetition penalty, no-repeat n-grams, bad words, minimum length, minimum new tokens, forced
BOS, forced EOS. Greedy decoding and sampling apply them to the logits, beam search to the
log-probabilities. A control that is off adds no op to the loop.

The token history is the loop's `[rows, max_length]` id buffer, valid before `index`. The
repetition penalty keeps its own `[rows, vocab]` "seen" mask as loop state (updated with each
chosen token), so no step scans the whole history for it.
"""

import numpy as np
from keras import ops

NEG_INF = float("-inf")


def _ban(scores, banned):
    """`scores` with -inf where `banned` (broadcast to `scores`) holds."""
    return ops.where(banned, ops.cast(NEG_INF, scores.dtype), scores)


def _one_hot_rows(tokens, valid, vocab):
    """`[rows, vocab]` bool: `out[r, v]` when some `tokens[r, j] == v` with `valid[r, j]`.

    A scatter (duplicates add up), so the cost is that of `tokens`, not `tokens x vocab`."""
    rows, length = tokens.shape[0], tokens.shape[1]
    row_ids = ops.repeat(ops.arange(rows, dtype="int32"), length)
    indices = ops.stack([row_ids, ops.reshape(ops.cast(tokens, "int32"), (-1,))], axis=1)
    counts = ops.scatter(indices, ops.reshape(ops.cast(valid, "float32"), (-1,)), (rows, vocab))
    return counts > 0


class LogitsProcessors:
    """The processors a `SamplerConfig` switches on, for one decode loop.

    Args:
        config: the `SamplerConfig`.
        eos: the stop token ids (a tuple).
        prompt_length: the prompt's length (its left padding included), for `min_new_tokens`.
        max_length: the id buffer's length (prompt plus new tokens), for the forced EOS.
    """

    def __init__(self, config, eos, prompt_length, max_length):
        self.config = config
        self.eos = tuple(eos)
        self.prompt_length = prompt_length
        self.max_length = max_length
        # transformers drops a bad "word" that is a stop token on its own.
        words = [w for w in (config.bad_words_ids or ()) if not (len(w) == 1 and w[0] in self.eos)]
        self.banned_tokens = sorted({w[0] for w in words if len(w) == 1})
        self.banned_sequences = [w for w in words if len(w) > 1]
        min_length = config.min_length or 0
        if config.min_new_tokens:
            min_length = max(min_length, prompt_length + config.min_new_tokens)
        # Both minimum-length processors ban the stop tokens below one length: the larger one.
        self.min_length = min_length if self.eos else 0

    @property
    def tracks_seen(self):
        return self.config.repetition_penalty != 1.0

    def init_state(self, ids, mask, vocab):
        """The loop state the processors keep: `{"seen": [rows, vocab]}` (prompt tokens whose
        mask is set, as transformers skips the left padding) with a repetition penalty."""
        if not self.tracks_seen:
            return {}
        prompt = ids[:, : self.prompt_length]
        return {"seen": _one_hot_rows(prompt, mask[:, : self.prompt_length] != 0, vocab)}

    def update(self, state, tokens, parents=None):
        """`state` after `tokens` (`[rows]`) were chosen; `parents` (`[rows]`, beam search)
        are the rows the new rows continue."""
        if not state:
            return state
        seen = state["seen"]
        if parents is not None:
            seen = ops.take(seen, parents, axis=0)
        vocab = seen.shape[-1]
        new = ops.equal(ops.arange(vocab, dtype="int32")[None, :], tokens[:, None])
        return {"seen": ops.logical_or(seen, new)}

    def __call__(self, scores, index, ids, state):
        """Processed `scores` (`[rows, vocab]`) for the token at `index`."""
        config = self.config
        vocab = scores.shape[-1]
        vocab_ids = ops.arange(vocab, dtype="int32")[None, :]
        if self.tracks_seen:
            penalty = config.repetition_penalty
            penalised = ops.where(scores < 0, scores * penalty, scores / penalty)
            scores = ops.where(state["seen"], penalised, scores)
        if config.no_repeat_ngram_size:
            scores = _ban(scores, self._repeated_ngrams(ids, index, vocab))
        if self.banned_tokens:
            banned = np.zeros((1, vocab), bool)
            banned[0, self.banned_tokens] = True
            scores = _ban(scores, ops.convert_to_tensor(banned))
        for word in self.banned_sequences:
            scores = _ban(scores, self._completes(ids, index, word, vocab_ids))
        if self.min_length:
            stop = np.zeros((1, vocab), bool)
            stop[0, list(self.eos)] = True
            scores = _ban(scores, ops.logical_and(index < self.min_length, stop))
        if config.forced_bos_token_id is not None:
            scores = _force(scores, ops.equal(index, 1), config.forced_bos_token_id)
        if config.forced_eos_token_id is not None:
            at_end = ops.equal(index, self.max_length - 1)
            scores = _force(scores, at_end, config.forced_eos_token_id)
        return scores

    def _repeated_ngrams(self, ids, index, vocab):
        """`[rows, vocab]` bool: the tokens that would repeat an n-gram of the history."""
        n = self.config.no_repeat_ngram_size
        starts = ids.shape[1] - n + 1
        # Window s covers ids[s : s + n]; it counts once it lies before `index`, and it bans its
        # last token when its first n - 1 tokens equal the last n - 1 tokens of the history.
        match = ops.arange(starts, dtype="int32")[None, :] <= index - n
        for j in range(n - 1):
            previous = ops.take(ids, ops.maximum(index - (n - 1) + j, 0), axis=1)
            match = ops.logical_and(match, ops.equal(ids[:, j : j + starts], previous[:, None]))
        return _one_hot_rows(ids[:, n - 1 :], match, vocab)

    @staticmethod
    def _completes(ids, index, word, vocab_ids):
        """`[rows, vocab]` bool: `word[-1]` where the history ends with `word[:-1]`."""
        prefix = len(word) - 1
        match = ops.broadcast_to(index >= prefix, (ids.shape[0],))
        for j, token in enumerate(word[:-1]):
            previous = ops.take(ids, ops.maximum(index - prefix + j, 0), axis=1)
            match = ops.logical_and(match, ops.equal(previous, token))
        return ops.logical_and(match[:, None], ops.equal(vocab_ids, word[-1]))


def _force(scores, when, token):
    """Where `when`: every score -inf but `token`'s, which is 0 (transformers' forced BOS/EOS)."""
    vocab = scores.shape[-1]
    forced = np.full((1, vocab), NEG_INF, "float32")
    forced[0, token] = 0.0
    return ops.where(when, ops.cast(forced, scores.dtype), scores)

"""From a `GenerationConfig` to the static settings of one decode loop, every value checked.

transformers warns about several bad values, or fails deep inside `generate` (a division by
zero for `num_beams=0`); here each is a `ValueError` naming the setting before anything runs.
"""

import dataclasses

import numpy as np

from keras_models.generation.samplers import SamplerConfig

#: Settings that only sampling reads, and those that only beam search reads: passing one in
#: a call that does not use it is refused rather than ignored.
SAMPLING_ONLY = ("temperature", "top_k", "top_p")
BEAM_ONLY = ("length_penalty", "early_stopping")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What `generate` runs: the loop's `SamplerConfig`, the stop tokens, the pad id, the
    number of new tokens and whether a dict is returned."""

    sampler: SamplerConfig
    eos: tuple
    pad: int
    max_new_tokens: int
    return_dict: bool


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _token(name, value, vocab):
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value < vocab:
        raise ValueError(f"`{name}` must be a token id in [0, {vocab}), got {value!r}.")
    return int(value)


def _count(name, value, minimum):
    if not _is_int(value) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _eos(value, vocab):
    if value is None:
        return ()
    values = [value] if _is_int(value) else value
    try:
        values = list(values)
    except TypeError:
        values = None
    if values is None or not all(_is_int(v) and 0 <= v < vocab for v in values):
        raise ValueError(
            f"`eos_token_id` must be a token id in [0, {vocab}), a list of them or None, "
            f"got {value!r}."
        )
    return tuple(int(v) for v in values)


def _bad_words(value, vocab):
    if value is None:
        return None
    message = (
        "`bad_words_ids` must be a non-empty list of non-empty lists of token ids in "
        f"[0, {vocab}), got {value!r}."
    )
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(message)
    words = []
    for word in value:
        if not isinstance(word, (list, tuple)) or not word:
            raise ValueError(message)
        if not all(_is_int(t) and 0 <= t < vocab for t in word):
            raise ValueError(message)
        words.append(tuple(int(t) for t in word))
    return tuple(words)


def resolve_settings(config, explicit, prompt_length, streaming, vocab):
    """Checks `config` (a resolved `GenerationConfig`) for a prompt of `prompt_length` tokens
    (the decoder's, with a seq2seq model) and returns the `Settings` to run.

    Args:
        config: the `GenerationConfig` of the call.
        explicit: the names the call set (refused when inert, e.g. `top_k` without sampling).
        prompt_length: the prompt's length, left padding included.
        streaming: whether a streamer was given.
        vocab: the vocabulary size (token ids are checked against it).
    """
    not_built = config.not_built()
    if not_built:
        raise ValueError(
            f"Generation settings {not_built} are not supported by keras-models; set them to "
            "their off value (None) in the call or in `model.generation_config`."
        )
    do_sample = config.do_sample
    if not isinstance(do_sample, bool):
        raise ValueError(f"`do_sample` must be True or False, got {do_sample!r}.")
    num_beams = _count("num_beams", config.num_beams, 1)
    returned = _count("num_return_sequences", config.num_return_sequences, 1)
    if num_beams > 1 and do_sample:
        raise ValueError(
            "Beam search with `do_sample=True` (beam sampling) is not supported; set "
            "`num_beams=1` to sample or `do_sample=False` for beam search."
        )
    if not do_sample and returned > num_beams:
        raise ValueError(
            f"`num_return_sequences`={returned} needs sampling (`do_sample=True`) or at least "
            f"as many beams (`num_beams`={num_beams}): greedy decoding has one answer."
        )
    unused = [n for n in SAMPLING_ONLY if n in explicit and not do_sample]
    unused += [n for n in BEAM_ONLY if n in explicit and num_beams == 1]
    if unused:
        raise ValueError(
            f"{unused} have no effect in this call: "
            + ("sampling settings need `do_sample=True`; " if not do_sample else "")
            + "`length_penalty` and `early_stopping` need `num_beams` > 1."
        )
    temperature = config.temperature
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"`temperature` must be a number > 0, got {temperature!r}.")
    top_k = config.top_k
    if top_k is not None:
        top_k = _count("top_k", top_k, 0)
    top_p = config.top_p
    if top_p is not None and (not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ValueError(f"`top_p` must be in (0, 1], got {top_p!r}.")
    penalty = config.repetition_penalty
    if not isinstance(penalty, (int, float)) or not penalty > 0:
        raise ValueError(f"`repetition_penalty` must be a number > 0, got {penalty!r}.")
    length_penalty = config.length_penalty
    if not isinstance(length_penalty, (int, float)):
        raise ValueError(f"`length_penalty` must be a number, got {length_penalty!r}.")
    if config.early_stopping not in (True, False, "never"):
        raise ValueError(
            f"`early_stopping` must be True, False or 'never', got {config.early_stopping!r}."
        )
    if streaming and num_beams > 1:
        raise ValueError("`streamer` cannot be used with beam search (`num_beams` > 1).")
    if config.output_scores and not config.return_dict_in_generate:
        raise ValueError(
            "`output_scores=True` needs `return_dict_in_generate=True` (the scores are returned "
            "in the output dict)."
        )
    for name in ("output_scores", "return_dict_in_generate"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"`{name}` must be True or False, got {getattr(config, name)!r}.")

    # Lengths, counted as transformers counts them (the prompt included).
    if config.max_new_tokens is not None:
        max_new_tokens = _count("max_new_tokens", config.max_new_tokens, 1)
        max_length = prompt_length + max_new_tokens
    else:
        max_length = _count("max_length", config.max_length, 1)
        max_new_tokens = max_length - prompt_length
        if max_new_tokens < 1:
            raise ValueError(
                f"`max_length`={max_length} leaves no room after the prompt of "
                f"{prompt_length} tokens; raise it or pass `max_new_tokens`."
            )
    min_length = _count("min_length", config.min_length, 0)
    if min_length > max_length:
        raise ValueError(f"`min_length`={min_length} is above `max_length`={max_length}.")
    min_new_tokens = config.min_new_tokens
    if min_new_tokens is not None:
        min_new_tokens = _count("min_new_tokens", min_new_tokens, 0)
        if min_new_tokens > max_new_tokens:
            raise ValueError(
                f"`min_new_tokens`={min_new_tokens} is above the {max_new_tokens} new tokens "
                "this call generates (`max_new_tokens` / `max_length`)."
            )
    no_repeat = _count("no_repeat_ngram_size", config.no_repeat_ngram_size, 0)

    eos = _eos(config.eos_token_id, vocab)
    pad = config.pad_token_id
    if pad is None:
        pad = eos[0] if eos else 0
    pad = _token("pad_token_id", pad, vocab)
    forced_eos = config.forced_eos_token_id
    # -1 is how a config says "none" (older Keras presets of this library wrote it).
    if _is_int(forced_eos) and forced_eos < 0:
        forced_eos = None
    sampler = SamplerConfig(
        do_sample=do_sample,
        temperature=float(temperature),
        top_k=top_k or None,
        top_p=float(top_p) if top_p is not None and top_p < 1 else None,
        num_beams=num_beams,
        length_penalty=float(length_penalty),
        early_stopping=config.early_stopping,
        forced_bos_token_id=_token("forced_bos_token_id", config.forced_bos_token_id, vocab),
        forced_eos_token_id=_token("forced_eos_token_id", forced_eos, vocab),
        repetition_penalty=float(penalty),
        no_repeat_ngram_size=no_repeat,
        bad_words_ids=_bad_words(config.bad_words_ids, vocab),
        min_length=min_length,
        min_new_tokens=min_new_tokens,
        num_return_sequences=returned,
        output_scores=config.output_scores,
        stream=streaming,
    )
    return Settings(sampler, eos, pad, max_new_tokens, config.return_dict_in_generate)

"""`generate()` in the transformers style, for any model that implements the loop's hooks."""

import numpy as np
from keras import ops

from keras_models.generation.loop import beam_search, compiled, search
from keras_models.generation.samplers import SamplerConfig
from keras_models.models.raw_text import TextGenerationMixin
from keras_models.tokenizers.preprocessors.base import holds_text


def _numpy(value):
    return np.asarray(ops.convert_to_numpy(value))


def _eos_tuple(eos_token_id):
    if eos_token_id is None:
        return ()
    if isinstance(eos_token_id, (int, np.integer)):
        return (int(eos_token_id),)
    try:
        return tuple(int(e) for e in eos_token_id)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`eos_token_id` must be an int, a list of ints or None, got {eos_token_id!r}."
        ) from error


class GenerationMixin(TextGenerationMixin):
    """Adds `generate()` to a model that implements the decode-loop hooks of
    `keras_models.generation.loop` (`generation_inputs`, `init_cache`, `call_with_cache`,
    `generation_defaults`)."""

    def generation_defaults(self):
        """`{"eos_token_id": ..., "pad_token_id": ...}` (optionally `"forced_eos_token_id"`)
        used when `generate` gets none."""
        return {"eos_token_id": None, "pad_token_id": 0}

    def check_generation_length(self, prompt_ids, prompt_mask, max_new_tokens):
        """Refuses, before decoding starts, a prompt plus `max_new_tokens` that would need
        positions past the backbone's table (`max_position_embeddings`). Backbones whose
        positions count only real tokens (`positions_follow_mask`) are measured without the
        left padding."""
        limit = getattr(self.backbone, "max_position_embeddings", None)
        if limit is None:
            return
        if getattr(self.backbone, "positions_follow_mask", False):
            used = int(np.max(np.sum(prompt_mask != 0, axis=-1)))
        else:
            used = int(prompt_ids.shape[-1])
        if used + max_new_tokens > limit:
            raise ValueError(
                f"The prompt (length {used}) plus `max_new_tokens`={max_new_tokens} needs "
                f"{used + max_new_tokens} positions, but this model's position table holds "
                f"{limit} (`max_position_embeddings`). Lower `max_new_tokens` to at most "
                f"{max(limit - used, 0)} or shorten the prompt."
            )

    def generate(
        self,
        inputs,
        max_new_tokens=20,
        do_sample=False,
        temperature=1.0,
        top_k=None,
        top_p=None,
        num_beams=1,
        eos_token_id=None,
        pad_token_id=None,
        length_penalty=1.0,
        early_stopping=False,
        seed=None,
        forced_eos_token_id=None,
        decoder_start_token_id=None,
    ):
        """Generates token ids after the prompt(s), with a key/value cache; or text from text.

        A string or a list of strings needs the model's preprocessor (attached by
        `from_preset` when the preset has tokenizer files): the prompts are tokenized (padded
        on the left for decoder-only models) and the result is the generated text of each
        prompt, decoded without the prompt and without special tokens (transformers'
        text-generation pipeline with `return_full_text=False`): a string for a string, a
        list for a list.

        Batched prompts must be left-padded (`attention_mask` 0 on the left), as transformers
        expects for decoder-only models. Rows that produce a stop token get `pad_token_id`
        afterwards; generation ends when every row stopped or after `max_new_tokens`.

        Args:
            inputs: the prompt, in any form the model accepts (ids tensor, list, dict), or
                raw text (a string or a list of strings).
            max_new_tokens: the most tokens to add.
            do_sample: sample instead of greedy decoding.
            temperature: softmax temperature for sampling.
            top_k: sample among the `top_k` most likely tokens.
            top_p: sample among the most likely tokens whose probability reaches `top_p`.
            num_beams: beam search with this many beams when > 1 (returns the best beam).
            eos_token_id: stop token id(s); defaults to the model's (`[]` for none).
            pad_token_id: id written after a row stopped; defaults to the model's.
            length_penalty: beam scores are divided by `length ** length_penalty`.
            early_stopping: end a beam search row as soon as `num_beams` hypotheses finished.
            seed: integer seed of the sampling draws (same seed, same tokens on each backend).
            forced_eos_token_id: token forced as the last one when `max_new_tokens` is reached;
                defaults to the model's (`-1` for none).
            decoder_start_token_id: the decoder's first token, for encoder-decoder models
                (defaults to the model's); decoder-only models refuse it.

        Returns:
            A numpy int32 array: the prompt followed by the new tokens (for a decoder-only
            model), or the decoder sequence (for a seq2seq model), `[batch, length]`; for
            raw-text prompts, the generated text (see above).
        """
        if holds_text(inputs):
            options = dict(locals())
            for name in ("self", "inputs", "__class__"):
                options.pop(name, None)
            return self.generate_text(inputs, options)
        if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
            raise ValueError(
                f"`max_new_tokens` must be a positive integer, got {max_new_tokens!r}."
            )
        defaults = self.generation_defaults()
        if forced_eos_token_id is None:
            forced_eos_token_id = defaults.get("forced_eos_token_id")
        if forced_eos_token_id is not None and int(forced_eos_token_id) < 0:
            forced_eos_token_id = None
        config = SamplerConfig(
            do_sample=bool(do_sample),
            temperature=float(temperature),
            top_k=int(top_k) if top_k else None,
            top_p=float(top_p) if top_p is not None else None,
            num_beams=int(num_beams),
            length_penalty=float(length_penalty),
            early_stopping=bool(early_stopping),
            forced_eos_token_id=None if forced_eos_token_id is None else int(forced_eos_token_id),
        )
        config.validate()
        eos = _eos_tuple(defaults["eos_token_id"] if eos_token_id is None else eos_token_id)
        pad = defaults["pad_token_id"] if pad_token_id is None else pad_token_id
        if pad is None:
            pad = eos[0] if eos else 0
        prompt_ids, prompt_mask, context = self.generation_inputs(inputs, decoder_start_token_id)
        if np.any(prompt_mask[:, -1] == 0):
            raise ValueError(
                "`generate` needs left-padded prompts: the `attention_mask` of every row must "
                "end with 1 (pad on the left, as `tokenizer(padding_side='left')` does)."
            )
        batch = prompt_ids.shape[0]
        max_new_tokens = int(max_new_tokens)
        self.check_generation_length(prompt_ids, prompt_mask, max_new_tokens)
        key = (prompt_ids.shape, max_new_tokens, config, eos, int(pad))
        if config.num_beams > 1:
            beams = config.num_beams
            prompt_ids = np.repeat(prompt_ids, beams, axis=0)
            prompt_mask = np.repeat(prompt_mask, beams, axis=0)
            context = {k: np.repeat(_numpy(v), beams, axis=0) for k, v in context.items()}

            def fn(prompt_ids, prompt_mask, context):
                return beam_search(
                    self,
                    prompt_ids,
                    prompt_mask,
                    context,
                    max_new_tokens=max_new_tokens,
                    config=config,
                    eos=eos,
                    pad=int(pad),
                )

            run = compiled(self, fn, ("beam",) + key)
            args = (prompt_ids, prompt_mask, context)
        else:
            uniforms = np.zeros((max_new_tokens, batch), "float32")
            if config.do_sample:
                uniforms = np.random.default_rng(seed).random((max_new_tokens, batch))
                uniforms = uniforms.astype("float32")

            def fn(prompt_ids, prompt_mask, context, uniforms):
                return search(
                    self,
                    prompt_ids,
                    prompt_mask,
                    context,
                    uniforms,
                    max_new_tokens=max_new_tokens,
                    config=config,
                    eos=eos,
                    pad=int(pad),
                )

            run = compiled(self, fn, ("search",) + key)
            args = (prompt_ids, prompt_mask, context, uniforms)
        args = tuple(
            {k: ops.convert_to_tensor(v) for k, v in a.items()}
            if isinstance(a, dict)
            else ops.convert_to_tensor(a)
            for a in args
        )
        ids, length = run(*args)
        return _numpy(ids).astype("int32")[:, : int(_numpy(length))]

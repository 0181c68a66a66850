"""`generate()` in the transformers style, for any model that implements the loop's hooks."""

import keras
import numpy as np
from keras import ops

from keras_models.generation.config import GenerationConfig
from keras_models.generation.loop import beam_search, compiled, search
from keras_models.generation.settings import resolve_settings
from keras_models.generation.streamers import TextStreamer, open_stream
from keras_models.models.outputs import ModelOutput
from keras_models.models.raw_text import TextGenerationMixin
from keras_models.tokenizers.preprocessors.base import holds_text


def _numpy(value):
    return np.asarray(ops.convert_to_numpy(value))


class GenerationMixin(TextGenerationMixin):
    """Adds `generate()` to a model that implements the decode-loop hooks of
    `keras_models.generation.loop` (`generation_inputs`, `init_cache`, `call_with_cache`,
    `generation_defaults`).

    The model's defaults are `model.generation_config` (a `GenerationConfig`, a constructor
    argument saved with the model; a checkpoint's `generation_config.json` when loaded from
    one).
    """

    def __init__(self, *args, generation_config=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.generation_config = generation_config

    @property
    def generation_config(self):
        """The defaults of `generate` (a `GenerationConfig`; a call's arguments override them)."""
        return self._generation_config

    @generation_config.setter
    def generation_config(self, value):
        if value is None:
            defaults = self.generation_defaults()
            value = GenerationConfig(**{k: v for k, v in defaults.items() if v is not None})
        elif isinstance(value, dict):
            value = GenerationConfig(**value)
        elif not isinstance(value, GenerationConfig):
            raise ValueError(
                "`generation_config` must be a GenerationConfig, a dict of its fields or None, "
                f"got {type(value).__name__}."
            )
        self._generation_config = value

    def get_config(self):
        return {**super().get_config(), "generation_config": self.generation_config.to_dict()}

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

    def generate(self, inputs=None, generation_config=None, streamer=None, seed=None, **kwargs):
        """Generates token ids after the prompt(s), with a key/value cache; or text from text.

        Works as transformers' `generate`: the settings are `model.generation_config` (the
        checkpoint's `generation_config.json`), overridden by `generation_config` and then by
        keyword arguments; lengths count as transformers counts them (`max_length` includes the
        prompt of a decoder-only model and the start token of a seq2seq decoder). Everything
        runs in one compiled loop per prompt shape and settings (on torch: the decoding step
        traced at the first call, the prompt's step at the second).

        A string or a list of strings needs the model's preprocessor (attached by
        `from_preset` when the preset has tokenizer files): the prompts are tokenized (padded
        on the left for decoder-only models) and the result is the generated text of each
        prompt, decoded without the prompt and without special tokens (transformers'
        text-generation pipeline with `return_full_text=False`): a string for a string, a
        list for a list (of `num_return_sequences` texts per prompt when that is above 1).

        Batched prompts must be left-padded (`attention_mask` 0 on the left), as transformers
        expects for decoder-only models. Rows that produce a stop token get `pad_token_id`
        afterwards.

        Args:
            inputs: the prompt, in any form the model accepts (ids tensor, list, dict), or
                raw text (a string or a list of strings). The inputs may also come as keyword
                arguments (`generate(**tokenizer(...))`: `input_ids`, `attention_mask`, ...).
            generation_config: a `GenerationConfig` (or dict) whose set fields override the
                model's.
            streamer: an object with `put(ids)` / `end()` (see
                `keras_models.generation.streamers`): it gets the prompt, then each step's
                tokens as they are chosen, then `end()`. `True` with text prompts prints the
                generated text as it arrives (a `TextStreamer`). Not with beam search.
            seed: integer seed of the sampling draws (same seed, same tokens on each backend).
            **kwargs: model inputs, and `GenerationConfig` fields: `max_length`,
                `max_new_tokens`, `min_length`, `min_new_tokens`, `do_sample`, `temperature`,
                `top_k`, `top_p`, `num_beams`, `length_penalty`, `early_stopping` (True /
                False / "never"), `repetition_penalty`, `no_repeat_ngram_size`,
                `bad_words_ids`, `num_return_sequences`, `eos_token_id`, `pad_token_id`,
                `bos_token_id`, `decoder_start_token_id`, `forced_bos_token_id`,
                `forced_eos_token_id`, `output_scores`, `return_dict_in_generate`. Any other
                name is a ValueError.

        Returns:
            A numpy int32 array `[batch * num_return_sequences, length]`: the prompt followed
            by the new tokens (decoder-only) or the decoder sequence (seq2seq). With
            `return_dict_in_generate=True`, a `ModelOutput` with `sequences`, and with
            `output_scores=True` also `scores` (a tuple of `[rows, vocab]` numpy arrays, one
            per step: the processed logits, or for beam search the processed
            log-probabilities of every beam) and, for beam search, `sequences_scores`. For
            raw-text prompts, the generated text (see above).

        Examples:
        >>> import numpy as np
        >>> from keras_models import OPTBackbone, OPTForCausalLM
        >>> backbone = OPTBackbone(vocab_size=40, hidden_size=8, num_hidden_layers=1,
        ...     ffn_dim=16, num_attention_heads=2, max_position_embeddings=32)
        >>> model = OPTForCausalLM(backbone)
        >>> model.generate(np.array([[2, 7, 9]]), max_new_tokens=4).shape[1] <= 7
        True
        >>> out = model.generate(input_ids=np.array([[2, 7, 9]]), max_length=6,
        ...     num_beams=2, num_return_sequences=2, output_scores=True,
        ...     return_dict_in_generate=True)
        >>> sorted(out), out.sequences.shape[0]
        (['scores', 'sequences', 'sequences_scores'], 2)
        """
        inputs, settings = self._split_generate_arguments(inputs, kwargs)
        config = self.generation_config.merged(generation_config, **settings)
        if holds_text(inputs):
            # Checked on the merged settings: the model's defaults may ask for a dict too.
            if config.return_dict_in_generate or config.output_scores:
                raise ValueError(
                    "`return_dict_in_generate` / `output_scores` need token-id prompts: "
                    "generate from text returns the text. Tokenize the prompts first."
                )
            return self.generate_text(
                inputs,
                dict(generation_config=generation_config, streamer=streamer, seed=seed, **settings),
            )
        if streamer is True:
            tokenizer = self.require_preprocessor("`generate(..., streamer=True)`").tokenizer
            streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        seq2seq = getattr(self, "is_encoder_decoder_generation", False)
        explicit = set(settings) | set(
            generation_config.to_dict()
            if isinstance(generation_config, GenerationConfig)
            else (generation_config or {})
        )
        start = (
            config.decoder_start_token_id
            if seq2seq or "decoder_start_token_id" in explicit
            else None
        )
        prompt_ids, prompt_mask, context = self.generation_inputs(inputs, start)
        if np.any(prompt_mask[:, -1] == 0):
            raise ValueError(
                "`generate` needs left-padded prompts: the `attention_mask` of every row must "
                "end with 1 (pad on the left, as `tokenizer(padding_side='left')` does)."
            )
        run = resolve_settings(
            config, explicit, prompt_ids.shape[1], streamer is not None, self.vocabulary_size()
        )
        self.check_generation_length(prompt_ids, prompt_mask, run.max_new_tokens)
        return self._decode(prompt_ids, prompt_mask, context, run, streamer, seed)

    def vocabulary_size(self):
        """The size of the scores `generate` chooses from."""
        return int(self.backbone.token_embedding.input_dim)

    def _split_generate_arguments(self, inputs, kwargs):
        """`(inputs, settings)`: model inputs given as keyword arguments join `inputs`."""
        names = getattr(self, "positional_names", None) or self.input_names
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        for name in kwargs:
            GenerationConfig.check_field(name, kwargs[name])
        if not given:
            if inputs is None:
                raise ValueError("`generate` needs a prompt: `inputs` or `input_ids=`.")
            return inputs, kwargs
        if inputs is None:
            return given, kwargs
        if isinstance(inputs, dict):
            both = sorted(set(inputs) & set(given))
            if both:
                raise ValueError(f"`generate` got {both} both in `inputs` and as arguments.")
            return {**inputs, **given}, kwargs
        if "input_ids" in given:
            raise ValueError("`generate` got `input_ids` both as `inputs` and as an argument.")
        return {"input_ids": inputs, **given}, kwargs

    def _decode(self, prompt_ids, prompt_mask, context, run, streamer, seed):
        """Runs the compiled loop of `run` (a `Settings`) and shapes its result."""
        config = run.sampler
        eos, pad = run.eos, run.pad
        max_new_tokens = run.max_new_tokens
        copies = config.num_beams if config.num_beams > 1 else config.num_return_sequences
        if copies > 1:
            prompt_ids = np.repeat(prompt_ids, copies, axis=0)
            prompt_mask = np.repeat(prompt_mask, copies, axis=0)
            context = {k: np.repeat(_numpy(v), copies, axis=0) for k, v in context.items()}
        batch = prompt_ids.shape[0]
        key = (prompt_ids.shape, max_new_tokens, config, eos, pad)
        if config.num_beams > 1:

            def fn(prompt_ids, prompt_mask, context):
                return beam_search(
                    self,
                    prompt_ids,
                    prompt_mask,
                    context,
                    max_new_tokens=max_new_tokens,
                    config=config,
                    eos=eos,
                    pad=pad,
                )

            loop = compiled(self, fn, ("beam",) + key)
            args = (prompt_ids, prompt_mask, context)
        else:
            uniforms = np.zeros((max_new_tokens, batch), "float32")
            if config.do_sample:
                uniforms = np.random.default_rng(seed).random((max_new_tokens, batch))
                uniforms = uniforms.astype("float32")

            def fn(prompt_ids, prompt_mask, context, uniforms, stream=None):
                return search(
                    self,
                    prompt_ids,
                    prompt_mask,
                    context,
                    uniforms,
                    max_new_tokens=max_new_tokens,
                    config=config,
                    eos=eos,
                    pad=pad,
                    stream=stream,
                )

            loop = compiled(self, fn, ("search",) + key, xla=not config.stream)
            args = (prompt_ids, prompt_mask, context, uniforms)
        args = tuple(
            {k: ops.convert_to_tensor(v) for k, v in a.items()}
            if isinstance(a, dict)
            else ops.convert_to_tensor(a)
            for a in args
        )
        if streamer is not None:
            with open_stream(streamer, prompt_ids) as handle:
                result = loop(*args, ops.convert_to_tensor(handle))
                result = keras.tree.map_structure(_numpy, result)
        else:
            result = loop(*args)
        if config.num_beams > 1:
            ids, length, sequences_scores, steps, scores = result
        else:
            (ids, length, scores), sequences_scores = result, None
            steps = int(_numpy(length)) - prompt_ids.shape[1]
        sequences = _numpy(ids).astype("int32")[:, : int(_numpy(length))]
        if not run.return_dict:
            return sequences
        out = ModelOutput(sequences=sequences)
        if config.output_scores:
            scores = _numpy(scores)
            out["scores"] = tuple(scores[step] for step in range(int(_numpy(steps))))
            if sequences_scores is not None:
                out["sequences_scores"] = _numpy(sequences_scores)
        return out

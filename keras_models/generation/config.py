"""`GenerationConfig`: the generation settings of a model, as transformers' `GenerationConfig`.

A checkpoint's `generation_config.json` (or, without one, the generation fields of its
`config.json`, as transformers falls back) gives a model's defaults; `generate(**kwargs)` and
`generate(generation_config=...)` override them per call. Fields keep transformers' names,
defaults and meaning. transformers fields this library does not run are kept (a checkpoint
that sets one still loads), and `generate` refuses to run while one is on, with a
`ValueError` naming it.
"""

import copy
import json
import os
import warnings

#: The fields `generate` runs, with transformers' defaults (`_get_default_generation_params`).
DEFAULTS = {
    "max_length": 20,
    "max_new_tokens": None,
    "min_length": 0,
    "min_new_tokens": None,
    "do_sample": False,
    "num_beams": 1,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "early_stopping": False,
    "num_return_sequences": 1,
    "output_scores": False,
    "return_dict_in_generate": False,
    "bos_token_id": None,
    "eos_token_id": None,
    "pad_token_id": None,
    "decoder_start_token_id": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    # Whether transformers decodes with a cache: the tokens are the same either way, and
    # `generate` here always uses one.
    "use_cache": True,
}

#: transformers fields not built here -> the values that mean "off" (the only ones accepted).
NOT_BUILT = {
    "typical_p": (None, 1.0),
    "min_p": (None,),
    "top_h": (None,),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "encoder_repetition_penalty": (None, 1.0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "num_beam_groups": (None, 1),
    "diversity_penalty": (None, 0.0),
    "penalty_alpha": (None,),
    "remove_invalid_values": (None, False),
    "exponential_decay_length_penalty": (None,),
    "suppress_tokens": (None, []),
    "begin_suppress_tokens": (None, []),
    "sequence_bias": (None,),
    "guidance_scale": (None, 1.0),
    "renormalize_logits": (None, False),
    "constraints": (None,),
    "force_words_ids": (None,),
    "stop_strings": (None,),
    "max_time": (None,),
    "output_attentions": (None, False),
    "output_hidden_states": (None, False),
    "output_logits": (None, False),
    "low_memory": (None, False),
    "watermarking_config": (None,),
    "token_healing": (None, False),
    "cache_implementation": (None,),
    "prefill_chunk_size": (None,),
}

#: Keys transformers writes that carry no setting.
METADATA = ("transformers_version", "_from_model_config", "_commit_hash", "_original_object_hash")

_MAX_LENGTHS = ("max_length", "max_new_tokens", "min_length", "min_new_tokens")


class GenerationConfig:
    """The generation settings of a model: what `generate` uses when a call passes nothing.

    Only the fields that were set are stored (`to_dict()`); reading any other field gives
    transformers' default. `model.generation_config` holds one, loaded from the checkpoint's
    `generation_config.json` (or its `config.json`'s generation fields), kept by the Keras
    preset and `.keras` formats and written back by `export_to_transformers`.

    Args:
        **fields: transformers' `GenerationConfig` fields (`max_length`, `num_beams`,
            `eos_token_id`, ...). An unknown name is a `ValueError`; a transformers field
            this library does not run is kept, and `generate` refuses to run while it is on.

    Examples:
    >>> config = GenerationConfig(num_beams=4, max_length=64)
    >>> config.num_beams, config.top_k
    (4, 50)
    >>> config.update(num_beams=1).to_dict()
    {'num_beams': 1, 'max_length': 64}
    """

    def __init__(self, **fields):
        object.__setattr__(self, "_fields", {})
        self.update(**fields)

    @staticmethod
    def check_field(name, value):
        """Refuses a name that is not a transformers generation setting."""
        if name not in DEFAULTS and name not in NOT_BUILT:
            raise ValueError(
                f"`{name}` is not a generation setting. Supported settings: {', '.join(DEFAULTS)}."
            )

    def update(self, **fields):
        """Sets `fields` (names checked) and returns `self`."""
        for name, value in fields.items():
            self.check_field(name, value)
            self._fields[name] = value
        return self

    def not_built(self):
        """The transformers settings set here to a value this library does not run."""
        return {
            name: value
            for name, value in self._fields.items()
            if name in NOT_BUILT and value not in NOT_BUILT[name]
        }

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in DEFAULTS:
            return self._fields.get(name, DEFAULTS[name])
        if name in NOT_BUILT:
            return self._fields.get(name, NOT_BUILT[name][0])
        raise AttributeError(f"GenerationConfig has no field {name!r}.")

    def __setattr__(self, name, value):
        self.update(**{name: value})

    def __eq__(self, other):
        return isinstance(other, GenerationConfig) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"GenerationConfig({json.dumps(self.to_dict(), sort_keys=True)})"

    def is_set(self, name):
        """Whether `name` was set (by the checkpoint, the model or the caller)."""
        return name in self._fields

    def to_dict(self):
        """The fields that were set, as generation_config.json holds them."""
        return copy.deepcopy(self._fields)

    def merged(self, other=None, **fields):
        """A copy of `self` with the set fields of `other` (a `GenerationConfig` or a dict)
        and then `fields` on top."""
        result = GenerationConfig(**self._fields)
        if isinstance(other, dict):
            other = GenerationConfig(**other)
        if other is not None:
            result.update(**other.to_dict())
        return result.update(**fields)

    @classmethod
    def from_dict(cls, values, source="the generation config"):
        """A config from a generation_config.json-style dict: keys that are neither settings
        nor metadata warn and are left out (transformers keeps them, unused)."""
        fields = {}
        for name, value in values.items():
            if name in METADATA:
                continue
            if name not in DEFAULTS and name not in NOT_BUILT:
                warnings.warn(
                    f"{source}: `{name}` is not a generation setting; it is left out.",
                    stacklevel=2,
                )
                continue
            fields[name] = value
        return cls(**fields)

    @classmethod
    def from_checkpoint(cls, directory):
        """The config transformers' `from_pretrained` gives a checkpoint directory: its
        `generation_config.json`, else the generation fields of its `config.json`, else
        `None`."""
        path = os.path.join(directory, "generation_config.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return cls.from_dict(json.load(f), source=path)
        path = os.path.join(directory, "config.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        fields = {k: v for k, v in config.items() if k in DEFAULTS or k in NOT_BUILT}
        return cls.from_dict({k: v for k, v in fields.items() if v is not None}, source=path)

    def save(self, directory):
        """Writes `generation_config.json` into `directory`."""
        with open(os.path.join(directory, "generation_config.json"), "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)

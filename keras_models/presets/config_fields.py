"""Every field of a Hugging Face `config.json`, accounted for.

Each field a family's transformers config has falls in exactly one group:

- **used**: the converter's backbone fields, the label fields of the task heads, the family
  (`model_type`) and the dtype;
- **no effect in Keras** (`NO_EFFECT`, the reason beside each field): metadata, PyTorch
  execution switches that compute the same values, and generation defaults;
- **refused** (`REFUSED`): fields whose value changes the math in a way not built here. Their
  default (transformers') value is accepted; any other is a `ValueError` naming the field.

A field that is in none of the groups is not a field of that transformers config (configs
written by older versions carry a few): transformers ignores it, and `from_preset` warns.
"""

from keras_models.layers.activations import get_activation

#: Fields every family reads: the family and the dtype policy.
USED_COMMON = ("model_type", "dtype", "torch_dtype")
#: Label fields, read by the task heads that take them (`num_labels`, ...).
LABEL_FIELDS = ("num_labels", "id2label", "label2id", "problem_type", "classifier_dropout")

_GENERATION = (
    "a generation default: without a generation_config.json it goes into "
    "`model.generation_config` (the defaults of `generate`); the forward pass does not read it"
)
_SPECIAL_ID = "a special-token id: the tokenizer files hold the special tokens"

NO_EFFECT = {
    "_name_or_path": "where transformers loaded the config from",
    "transformers_version": "the transformers version that wrote the file",
    "architectures": "the class `from_preset` is called on (or the Auto class) picks the head",
    "return_dict": "outputs are always a dict keyed by transformers' output names",
    "use_cache": "a call default of transformers: a call here returns `past_key_values` when "
    "it passes `use_cache=True`; `generate` always decodes with a cache",
    "chunk_size_feed_forward": "PyTorch computes the feed-forward in chunks to save memory; "
    "the values are the same",
    "attn_implementation": "which PyTorch attention kernel runs; Keras' "
    "`dot_product_attention` picks the backend's, with the same values",
    "_attn_implementation": "as `attn_implementation`",
    "gradient_checkpointing": "PyTorch trades memory for compute in training; same values",
    "torchscript": "a PyTorch export switch",
    "use_bfloat16": "a TensorFlow-era switch superseded by `dtype`",
    "tf_legacy_loss": "TensorFlow-only loss variant",
    "tokenizer_class": "the family's tokenizer reads the tokenizer files",
    "finetuning_task": "metadata of the fine-tuning run",
    "task_specific_params": "pipeline settings",
    "prefix": "a pipeline text prefix",
    "bos_token_id": _SPECIAL_ID,
    "sep_token_id": _SPECIAL_ID,
    "eos_token_id": _SPECIAL_ID,
    "max_length": _GENERATION,
    "min_length": _GENERATION,
    "do_sample": _GENERATION,
    "early_stopping": _GENERATION,
    "num_beams": _GENERATION,
    "num_beam_groups": _GENERATION,
    "diversity_penalty": _GENERATION,
    "temperature": _GENERATION,
    "top_k": _GENERATION,
    "top_p": _GENERATION,
    "typical_p": _GENERATION,
    "repetition_penalty": _GENERATION,
    "length_penalty": _GENERATION,
    "no_repeat_ngram_size": _GENERATION,
    "encoder_no_repeat_ngram_size": _GENERATION,
    "bad_words_ids": _GENERATION,
    "num_return_sequences": _GENERATION,
    "output_scores": _GENERATION,
    "return_dict_in_generate": _GENERATION,
    "forced_bos_token_id": _GENERATION,
    "forced_eos_token_id": _GENERATION,
    "remove_invalid_values": _GENERATION,
    "exponential_decay_length_penalty": _GENERATION,
    "suppress_tokens": _GENERATION,
    "begin_suppress_tokens": _GENERATION,
    "decoder_start_token_id": _GENERATION,
}

#: Per family: fields with no effect there (beyond `NO_EFFECT`), with the reason.
FAMILY_NO_EFFECT = {
    "opt": {
        "eos_token_id": "the stop token of `generate`, read into `model.generation_config` "
        "without a generation_config.json",
        "bos_token_id": "the tokenizer adds OPT's `</s>` start token",
    },
    "pegasus": {
        "is_decoder": "`PegasusForCausalLM` is always a decoder and the seq2seq model never",
    },
}


def _absent(value):
    return value in (None, {}, [], False)


def _is(expected):
    return lambda value: value == expected


def _zero(value):
    return value in (None, 0, 0.0)


#: field -> (accepts(value), what is not built). A value `accepts` refuses is a ValueError.
REFUSED = {
    "pruned_heads": (_absent, "pruned attention heads"),
    # Used by the BERT-style families (a backbone argument there); refused elsewhere.
    "add_cross_attention": (_absent, "cross-attention layers in this family"),
    "cross_attention_hidden_size": (_absent, "a cross-attention width other than the model's"),
    "tie_encoder_decoder": (_absent, "encoder weights tied to the decoder's"),
    "is_encoder_decoder": (_absent, "an encoder-decoder variant of this family"),
    "position_embedding_type": (
        _is("absolute"),
        "relative position embeddings (`relative_key`, `relative_key_query`)",
    ),
    "layerdrop": (
        _zero,
        "LayerDrop (layers skipped at random in training; set it to 0.0, "
        "which does not change inference)",
    ),
    "encoder_layerdrop": (_zero, "LayerDrop in the encoder (set it to 0.0)"),
    "decoder_layerdrop": (_zero, "LayerDrop in the decoder (set it to 0.0)"),
    "tie_word_embeddings": (
        lambda value: value in (None, True),
        "LM heads with their own output matrix (`tie_word_embeddings=False`)",
    ),
}
#: Refused fields that matter only to a task with a tied LM head (elsewhere: no effect).
LM_HEAD_ONLY = ("tie_word_embeddings",)
#: Used fields whose value is checked when the config is read.
ACTIVATION_FIELDS = ("hidden_act", "activation_function")


def groups(model_type, backbone_fields):
    """`(used, no_effect, refused)` for a family: three disjoint collections of field names
    (`no_effect` maps each to its reason, `refused` to `(accepts, what)`)."""
    # A family whose backbone builds a refused field (Pegasus: `is_encoder_decoder`) lists it
    # among its backbone fields, which moves it to "used".
    used = set(USED_COMMON) | set(LABEL_FIELDS) | set(backbone_fields)
    no_effect = {**NO_EFFECT, **FAMILY_NO_EFFECT.get(model_type, {})}
    no_effect = {k: v for k, v in no_effect.items() if k not in used}
    refused = {k: v for k, v in REFUSED.items() if k not in used and k not in no_effect}
    return used, no_effect, refused


def check(model_type, backbone_fields, hf_config, source, tied_lm_head=False):
    """Raises for a refused value or an unknown activation; returns the fields that are in
    no group (to warn about). `tied_lm_head`: the task reads the word table as its output
    matrix."""
    used, no_effect, refused = groups(model_type, backbone_fields)
    for field in ACTIVATION_FIELDS:
        if field in used and hf_config.get(field) is not None:
            get_activation(hf_config[field], field=f"{field} in {source}")
    for field, value in hf_config.items():
        if field in LM_HEAD_ONLY and not tied_lm_head:
            continue
        if field in refused:
            accepts, what = refused[field]
            if not accepts(value):
                raise ValueError(
                    f"{source} sets `{field}={value!r}`, which asks for {what}: not "
                    f"implemented in keras_models, so the model cannot be built as transformers "
                    f"would build it."
                )
    return sorted(f for f in hf_config if f not in used and f not in no_effect and f not in refused)

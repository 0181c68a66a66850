"""Encoder-decoder language modelling: tied LM head plus a logits bias, label shifting,
`encode` / `decode`, and cached `generate` on the shared decode loop."""

import keras
import numpy as np
from keras import ops

from keras_models.generation.mixin import GenerationMixin
from keras_models.models.inputs import _in_memory, match_inputs, normalize_inputs
from keras_models.models.outputs import SEQ2SEQ_OUTPUT_ORDER, ModelOutput, finish_outputs
from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, param, tied
from keras_models.tasks.losses import IGNORE_INDEX, cross_entropy
from keras_models.tokenizers.preprocessors import Seq2SeqLMPreprocessor


def shift_tokens_right(labels, pad_token_id, decoder_start_token_id):
    """Decoder inputs from labels: `[start, labels[:, :-1]]` with -100 replaced by the pad id
    (transformers' `shift_tokens_right`); `keras.ops`, so it runs on tensors of any backend.

    Examples:
    >>> import numpy as np
    >>> np.asarray(shift_tokens_right(np.array([[5, 6, -100]]), 0, 2)).tolist()
    [[2, 5, 6]]
    """
    labels = ops.cast(labels, "int32")
    start = ops.full((ops.shape(labels)[0], 1), decoder_start_token_id, dtype="int32")
    shifted = ops.concatenate([start, labels[:, :-1]], axis=1)
    return ops.where(ops.equal(shifted, IGNORE_INDEX), ops.cast(pad_token_id, "int32"), shifted)


def _shift_numpy(labels, pad_token_id, decoder_start_token_id):
    labels = np.asarray(labels).astype("int32")
    shifted = np.concatenate(
        [np.full((labels.shape[0], 1), decoder_start_token_id, "int32"), labels[:, :-1]], axis=1
    )
    shifted[shifted == IGNORE_INDEX] = pad_token_id
    return shifted


@keras.saving.register_keras_serializable(package="keras_models")
class LogitsBias(keras.layers.Layer):
    """Adds a fixed (non-trainable) per-token bias to logits, as Bart/Pegasus'
    `final_logits_bias` buffer.

    Examples:
    >>> import numpy as np
    >>> LogitsBias(5)(np.zeros((1, 2, 5), "float32")).shape
    (1, 2, 5)
    """

    def __init__(self, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size

    def build(self, inputs_shape=None):
        self.bias = self.add_weight(
            shape=(self.vocab_size,), initializer="zeros", trainable=False, name="bias"
        )
        self.built = True

    def call(self, logits):
        return logits + ops.cast(self.bias, logits.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size)
        return config


@keras.saving.register_keras_serializable(package="keras_models")
class Seq2SeqLM(GenerationMixin, Task):
    """Encoder-decoder LM: `logits = decoder_states @ E.T + final_logits_bias`.

    The backbone must take `input_ids`, `attention_mask`, `decoder_input_ids`,
    `decoder_attention_mask`, return `last_hidden_state` and `encoder_last_hidden_state`, and
    expose `token_embedding`, `encode`, `decode`, `init_cache`, `call_with_cache` and the ids
    `pad_token_id`, `eos_token_id`, `decoder_start_token_id`, `forced_eos_token_id` (see
    `PegasusBackbone`).

    Outputs `logits` (`[batch, tgt_len, vocab]`) and `encoder_last_hidden_state`. Label:
    `labels` (`[batch, tgt_len]`, -100 ignored), scored position by position (no shift).
    When `labels` are given without `decoder_input_ids` (inside the `x` dict, or as `y` to
    `fit` / `evaluate` with in-memory data), the decoder inputs are the labels shifted right
    behind `decoder_start_token_id`, -100 replaced by the pad id, as transformers does.

    Args:
        backbone: the encoder-decoder backbone.
    """

    head = "seq2seq_lm"

    tied_lm_head = True
    label_names = ("labels",)
    preprocessor_cls = Seq2SeqLMPreprocessor
    # The tied word table plus `final_logits_bias`, saved `[1, vocab]`; transformers reads a
    # missing bias as zeros (`_keys_to_ignore_on_load_missing`).
    hf_head = (
        Head(
            (
                param("final_logits_bias", "final_logits_bias.bias", (1, -1), missing="keep"),
                tied("lm_head.weight", "backbone.token_embedding.embeddings"),
            ),
            prefixes=("{p}",),
        ),
    )
    # `generate` returns decoder sequences, with no prompt to cut off.
    is_encoder_decoder_generation = True
    #: transformers' `Seq2SeqLMOutput` order.
    output_order = ("loss", "logits", *SEQ2SEQ_OUTPUT_ORDER[1:])

    def __init__(self, backbone, **kwargs):
        if not getattr(backbone, "is_encoder_decoder", True):
            raise ValueError(
                f"{type(self).__name__} needs an encoder-decoder backbone; this one was built "
                "with `is_encoder_decoder=False`."
            )
        inputs = backbone.input
        outputs = backbone(inputs)
        logits_bias = LogitsBias(
            backbone.vocab_size, dtype=backbone.dtype_policy, name="final_logits_bias"
        )
        logits = logits_bias(backbone.token_embedding(outputs["last_hidden_state"], reverse=True))
        super().__init__(
            backbone=backbone,
            inputs=inputs,
            outputs={
                "logits": logits,
                "encoder_last_hidden_state": outputs["encoder_last_hidden_state"],
            },
            **kwargs,
        )
        self.final_logits_bias = logits_bias

    # --- labels ----------------------------------------------------------------------------
    def derived_inputs(self, values, extras):
        if (
            "decoder_input_ids" not in values
            and "decoder_inputs_embeds" not in values
            and extras.get("labels") is not None
        ):
            values["decoder_input_ids"] = shift_tokens_right(
                ops.convert_to_tensor(extras["labels"]),
                self.backbone.pad_token_id,
                self.backbone.decoder_start_token_id,
            )
        return values

    def _with_decoder_inputs(self, x, y):
        """In-memory `x` plus decoder inputs shifted from the labels, when it has none.

        Keras does not pass `y` to the model's call, so labels given as `y` are turned into
        decoder inputs here, on the host, before training or evaluation starts.
        """
        if x is None or not _in_memory(x):
            return x
        items = match_inputs(x, self.input_names, self.extra_input_names)
        if items.get("decoder_input_ids") is not None:
            return x
        labels = self.collect_labels(items, y).get("labels")
        if labels is None or not _in_memory(labels):
            return x
        items["decoder_input_ids"] = _shift_numpy(
            ops.convert_to_numpy(labels),
            self.backbone.pad_token_id,
            self.backbone.decoder_start_token_id,
        )
        return items

    def preprocess_batch(self, x, y=None, training=False):
        # Keras does not pass `y` to the model: a drawn batch gets its decoder inputs here.
        x, y = super().preprocess_batch(x, y, training=training)
        return self._with_decoder_inputs(x, y), y

    def fit(self, x=None, y=None, *args, **kwargs):
        x, y = self.preprocess_raw(x, y, training=True)
        return super().fit(self._with_decoder_inputs(x, y), y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = self.preprocess_raw(x, y, training=True)
        return super().evaluate(self._with_decoder_inputs(x, y), y, *args, **kwargs)

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        return cross_entropy(outputs["logits"], labels["labels"])

    # --- the two halves (as transformers' Flax encode / decode) -----------------------------
    def encode(self, input_ids, attention_mask=None, training=None):
        """Runs the encoder once: a `ModelOutput` with `last_hidden_state`
        `[batch, src_len, d_model]`."""
        return ModelOutput(
            last_hidden_state=self.backbone.encode(input_ids, attention_mask, training)
        )

    def decode(
        self,
        decoder_input_ids,
        encoder_outputs,
        encoder_attention_mask=None,
        decoder_attention_mask=None,
        training=None,
        decoder_position_ids=None,
        past_key_values=None,
        use_cache=None,
        output_hidden_states=None,
        output_attentions=None,
        decoder_head_mask=None,
        cross_attn_head_mask=None,
        return_dict=None,
    ):
        """Decoder logits over `decoder_input_ids` given encoder outputs (transformers' Flax
        `decode`).

        Args:
            decoder_input_ids: `[batch, tgt_len]` ids (with `past_key_values`: the new ones).
            encoder_outputs: the dict from `encode` (or the encoder states tensor).
            encoder_attention_mask: the encoder padding mask (ones by default).
            decoder_attention_mask: the decoder padding mask (ones by default); with
                `past_key_values` it covers the cached tokens too.
            training: whether dropout applies.
            decoder_position_ids: optional `[batch, tgt_len]` rows of the sinusoid table.
            past_key_values: the cache a previous `decode` (or call) with `use_cache=True`
                returned; decoding continues after it exactly as one pass over all tokens.
            use_cache: also return `past_key_values` (per layer: self keys, self values,
                cross keys, cross values, `[batch, heads, length, head_dim]` each).
            output_hidden_states: also return `hidden_states` (the decoder's).
            output_attentions: also return `attentions` and `cross_attentions`.
            decoder_head_mask: `[heads]` or `[layers, heads]` factors on the self-attention
                probabilities.
            cross_attn_head_mask: the same for the cross-attention.
            return_dict: False gives a tuple in the order below.

        Returns:
            `{"logits": [batch, tgt_len, vocab]}`, then `past_key_values`, `hidden_states`,
            `attentions`, `cross_attentions` as asked for.
        """
        states = encoder_outputs
        if isinstance(encoder_outputs, dict):
            states = encoder_outputs.get(
                "last_hidden_state", encoder_outputs.get("encoder_last_hidden_state")
            )
        options = {
            "decoder_position_ids": decoder_position_ids,
            "past_key_values": past_key_values,
            "use_cache": use_cache,
            "output_hidden_states": output_hidden_states,
            "output_attentions": output_attentions,
        }
        masks = {"head_mask": decoder_head_mask, "cross_attn_head_mask": cross_attn_head_mask}
        for name, mask in masks.items():
            if mask is not None:
                key = "decoder_head_mask" if name == "head_mask" else name
                options[name] = self.expand_head_mask(mask, name=key)
        options = {k: v for k, v in options.items() if v is not None and v is not False}
        out = self.backbone.decode(
            decoder_input_ids,
            states,
            encoder_attention_mask,
            decoder_attention_mask,
            training,
            **options,
        )
        if not isinstance(out, dict):
            return ModelOutput(logits=self._logits(out))
        hidden = out.pop("last_hidden_state")
        return finish_outputs({"logits": self._logits(hidden), **out}, return_dict)

    def _logits(self, hidden):
        return self.final_logits_bias(self.backbone.token_embedding(hidden, reverse=True))

    # --- generation hooks (keras_models.generation.loop) ---------------------------------
    def generation_defaults(self):
        return {
            "eos_token_id": self.backbone.eos_token_id,
            "pad_token_id": self.backbone.pad_token_id,
            "forced_eos_token_id": self.backbone.forced_eos_token_id,
        }

    def generation_inputs(self, inputs, decoder_start_token_id=None):
        names = self.input_names
        values, _ = normalize_inputs(inputs, names, self.input_rank, (), None)
        self.check_values(values, tuple(values))
        ids = np.asarray(ops.convert_to_numpy(values["input_ids"]), "int32")
        mask = values.get("attention_mask")
        mask = np.ones_like(ids) if mask is None else np.asarray(ops.convert_to_numpy(mask))
        if "decoder_input_ids" in values:
            prompt = np.asarray(ops.convert_to_numpy(values["decoder_input_ids"]), "int32")
            prompt_mask = values.get("decoder_attention_mask")
            prompt_mask = (
                np.ones_like(prompt)
                if prompt_mask is None
                else np.asarray(ops.convert_to_numpy(prompt_mask))
            )
        else:
            start = decoder_start_token_id
            if start is None:
                start = self.backbone.decoder_start_token_id
            prompt = np.full((ids.shape[0], 1), start, "int32")
            prompt_mask = np.ones_like(prompt)
        context = {"input_ids": ids, "attention_mask": mask.astype("int32")}
        return prompt, prompt_mask.astype("int32"), context

    def init_cache(self, batch_size, max_length, context=None):
        states = self.backbone.encode(context["input_ids"], context["attention_mask"])
        return self.backbone.init_cache(batch_size, max_length, states, context["attention_mask"])

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index, last_only=False):
        """Logits `[batch, n, vocab]` of the current decoder tokens and the updated cache; with
        `last_only`, of the last one only (`[batch, 1, vocab]`: a prompt's first step needs
        no vocabulary projection of its other positions)."""
        hidden, cache = self.backbone.call_with_cache(token_ids, padding_mask, cache, cache_index)
        if last_only:
            hidden = hidden[:, -1:]
        return self._logits(hidden), cache

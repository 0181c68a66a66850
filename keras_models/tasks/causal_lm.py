"""Decoder-only language modelling with a tied, bias-free output projection and `generate`."""

import keras
import numpy as np
from keras import ops

from keras_models.generation.mixin import GenerationMixin
from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, tied
from keras_models.tasks.losses import causal_lm_loss, cross_entropy
from keras_models.tokenizers.preprocessors import CausalLMPreprocessor


@keras.saving.register_keras_serializable(package="keras_models")
class DecoderCausalLM(GenerationMixin, Task):
    """Next-token logits from the backbone's word table (`logits = h @ E.T`, no bias), with
    cached generation.

    The backbone must expose `token_embedding` (a `ReversibleEmbedding`) and, for `generate`,
    `init_cache(batch_size, max_length)` and
    `call_with_cache(token_ids, padding_mask, cache, cache_index)` (see `OPTBackbone`).

    Outputs `logits` (`[batch, seq, vocab]`). Label: `labels` (`[batch, seq]`, -100 ignored);
    position t is scored against `labels[t + 1]` (`shift_labels = True`, transformers'
    causal-LM loss) or against `labels[t]` (`shift_labels = False`, PegasusForCausalLM).

    Args:
        backbone: the decoder backbone.
    """

    head = "causal_lm"

    tied_lm_head = True
    label_names = ("labels",)
    preprocessor_cls = CausalLMPreprocessor
    # The LM head is the word table itself (`lm_head.weight` is tied and often not saved), so
    # any task checkpoint (`{p}...`) carries it.
    hf_head = (
        Head((tied("lm_head.weight", "backbone.token_embedding.embeddings"),), prefixes=("{p}",)),
    )
    #: Whether the loss shifts labels left by one.
    shift_labels = True
    #: Stop token used by `generate` when none is given.
    default_eos_token_id = None

    def __init__(self, backbone, **kwargs):
        inputs = backbone.input
        hidden = backbone(inputs)["last_hidden_state"]
        logits = backbone.token_embedding(hidden, reverse=True)
        super().__init__(backbone=backbone, inputs=inputs, outputs={"logits": logits}, **kwargs)

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        if self.shift_labels:
            return causal_lm_loss(outputs["logits"], labels["labels"])
        return cross_entropy(outputs["logits"], labels["labels"])

    def export_decoding_step(self, filepath, max_length, format="tf_saved_model"):
        """Writes one cached decoding step, so a server can drive generation: a TF
        SavedModel whose `decode_step` signature runs it (`format="tf_saved_model"`,
        tensorflow and jax backends) or an ONNX file (`format="onnx"`, every backend; run it
        in onnxruntime). Any other pair of backend and format is a `ValueError` with the
        reason.

        Inputs (the batch and token axes dynamic): `input_ids` `[batch, tokens]` (the prompt
        at the first step, then one token; at most `max_length`), `attention_mask`
        `[batch, max_length]` (1 for every real token so far, the current ones included;
        left padding allowed), `cache_index` (scalar int32: the slot of the first current
        token) and, per layer `i`, `past_key_{i}` / `past_value_{i}`
        `[batch, heads, max_length, head_dim]` float32 (zeros at the first step). Outputs:
        `logits` `[batch, 1, vocab]` of the last current token and `present_key_{i}` /
        `present_value_{i}`, the next step's cache.

        Args:
            filepath: the SavedModel directory, or the ONNX file.
            max_length: the cache length: prompt plus new tokens.
            format: `"tf_saved_model"` or `"onnx"`.
        """
        from keras_models.models.serving import export_decoding_step

        export_decoding_step(self, filepath, max_length, format=format)

    # --- generation hooks (keras_models.generation.loop) ---------------------------------
    def generation_defaults(self):
        return {
            "eos_token_id": self.default_eos_token_id,
            "pad_token_id": getattr(self.backbone, "pad_token_id", None),
        }

    def generation_inputs(self, inputs, decoder_start_token_id=None):
        if decoder_start_token_id is not None:
            raise ValueError(
                f"`decoder_start_token_id` is for encoder-decoder models; {type(self).__name__} "
                "continues the prompt itself."
            )
        values, _ = self.normalize_inputs(inputs)
        ids = np.asarray(ops.convert_to_numpy(values["input_ids"]), "int32")
        mask = np.asarray(ops.convert_to_numpy(values["attention_mask"]), "int32")
        return ids, mask, {}

    def init_cache(self, batch_size, max_length, context=None):
        return self.backbone.init_cache(batch_size, max_length)

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index, last_only=False):
        """Logits `[batch, n, vocab]` of the current tokens and the updated cache; with
        `last_only`, of the last one only (`[batch, 1, vocab]`: a prompt's first step needs
        no vocabulary projection of its other positions)."""
        hidden, cache = self.backbone.call_with_cache(token_ids, padding_mask, cache, cache_index)
        if last_only:
            hidden = hidden[:, -1:]
        return self.backbone.token_embedding(hidden, reverse=True), cache

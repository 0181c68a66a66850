"""Masked and causal language modelling with a weight-tied prediction head."""

import keras
import numpy as np
from keras import ops

from keras_models.generation.mixin import GenerationMixin
from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, dense, layer_norm, param, tied
from keras_models.tasks.causal_lm import DecoderCausalLM
from keras_models.tasks.common import word_table_lm_head
from keras_models.tasks.losses import causal_lm_loss, cross_entropy
from keras_models.tokenizers.preprocessors import CausalLMPreprocessor

#: BERT's LM head, `cls.predictions`; its decoder weight is the tied word table.
BERT_LM_HEAD = Head(
    (
        dense("cls.predictions.transform.dense", "lm_head.dense"),
        layer_norm("cls.predictions.transform.LayerNorm", "lm_head.layer_norm"),
        param(("cls.predictions.bias", "cls.predictions.decoder.bias"), "lm_head.bias"),
        tied("cls.predictions.decoder.weight", "lm_head.token_embedding.embeddings"),
    ),
    prefixes=("cls.predictions.",),
    layer="lm_head",
)


@keras.saving.register_keras_serializable(package="keras_models")
class MaskedLM(Task):
    """Predicts the vocabulary at every position with the tied BERT-style LM head.

    Outputs `logits` (`[batch, seq, vocab]`). Label: `labels` (`[batch, seq]`, -100 ignored).

    Args:
        backbone: a backbone exposing `token_embedding`.
        head_activation: activation of the head's transform; defaults to the backbone's
            `hidden_act` (RoBERTa pins `"gelu"`).

    Examples:
    >>> import numpy as np
    >>> from keras_models import RobertaBackbone
    >>> backbone = RobertaBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, add_pooling_layer=False)
    >>> MaskedLM(backbone)(np.array([[0, 5, 2]]))["logits"].shape
    (1, 3, 50)
    """

    head = "masked_lm"

    tied_lm_head = True
    label_names = ("labels",)
    hf_head = (BERT_LM_HEAD,)
    #: Family default for the head activation (`None`: the backbone's `hidden_act`).
    default_head_activation = None

    def __init__(self, backbone, head_activation=None, **kwargs):
        head_activation = head_activation or self.default_head_activation or backbone.hidden_act
        inputs = backbone.input
        hidden = backbone(inputs)["last_hidden_state"]
        lm_head = word_table_lm_head(backbone, head_activation)
        logits = lm_head(hidden)
        super().__init__(backbone=backbone, inputs=inputs, outputs={"logits": logits}, **kwargs)
        self.lm_head = lm_head
        self.head_activation = head_activation

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        return cross_entropy(outputs["logits"], labels["labels"])

    def get_config(self):
        config = super().get_config()
        config.update(head_activation=self.head_activation)
        return config


@keras.saving.register_keras_serializable(package="keras_models")
class CausalLM(GenerationMixin, MaskedLM):
    """The BERT-family `*ForCausalLM`: the same tied head, trained on the next token.

    The loss shifts labels left by one (position t predicts `labels[t + 1]`). The attention is
    causal only when the backbone has `is_decoder=True`, exactly as in transformers.

    A decoder backbone also gives (see `BertStyleBackbone`): `encoder_hidden_states` /
    `encoder_attention_mask` inputs with `add_cross_attention`, `use_cache=True` /
    `past_key_values` in calls, and cached `generate()` (the prompt's
    `encoder_hidden_states` / `encoder_attention_mask`, when given, are attended to at every
    step). `generate` stops at no token unless `eos_token_id` is given.
    """

    head = "causal_lm"
    preprocessor_cls = CausalLMPreprocessor
    #: Stop token used by `generate` when none is given.
    default_eos_token_id = None
    # The decoder-only hooks that do not depend on the head.
    generation_defaults = DecoderCausalLM.generation_defaults

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        return causal_lm_loss(outputs["logits"], labels["labels"])

    def add_loss_output(self, outputs, labels):
        # transformers turns `use_cache` off when labels are given: no `past_key_values`.
        if any(v is not None for v in labels.values()):
            outputs = {k: v for k, v in outputs.items() if k != "past_key_values"}
        return super().add_loss_output(outputs, labels)

    # --- generation hooks (keras_models.generation.loop) ---------------------------------
    def generation_inputs(self, inputs, decoder_start_token_id=None):
        ids, mask, _ = DecoderCausalLM.generation_inputs(self, inputs, decoder_start_token_id)
        if not getattr(self.backbone, "is_decoder", False):
            raise ValueError(
                f"`generate` needs a decoder: build the backbone of {type(self).__name__} with "
                "`is_decoder=True` (causal attention, as transformers' `generate` expects)."
            )
        values, _ = self.normalize_inputs(inputs)
        context = {
            name: np.asarray(ops.convert_to_numpy(values[name]))
            for name in ("encoder_hidden_states", "encoder_attention_mask")
            if name in values
        }
        return ids, mask, context

    def init_cache(self, batch_size, max_length, context=None):
        context = context or {}
        return self.backbone.init_cache(
            batch_size,
            max_length,
            context.get("encoder_hidden_states"),
            context.get("encoder_attention_mask"),
        )

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index, last_only=False):
        """Logits `[batch, n, vocab]` of the current tokens and the updated cache; with
        `last_only`, of the last one only."""
        hidden, cache = self.backbone.call_with_cache(token_ids, padding_mask, cache, cache_index)
        if last_only:
            hidden = hidden[:, -1:]
        return self.lm_head(hidden), cache

"""Masked and causal language modelling with a weight-tied prediction head."""

import keras

from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, dense, layer_norm, param, tied
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
class CausalLM(MaskedLM):
    """The BERT-family `*ForCausalLM`: the same tied head, trained on the next token.

    The loss shifts labels left by one (position t predicts `labels[t + 1]`). The attention is
    causal only when the backbone has `is_decoder=True`, exactly as in transformers.
    """

    head = "causal_lm"
    preprocessor_cls = CausalLMPreprocessor

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        return causal_lm_loss(outputs["logits"], labels["labels"])

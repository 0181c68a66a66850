"""Next-sentence prediction: does sentence B follow sentence A?"""

import keras
from keras import ops

from keras_models.layers.heads import NextSentenceHead
from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, dense
from keras_models.tasks.common import init_range
from keras_models.tasks.losses import cross_entropy


def next_sentence_loss(logits, labels):
    """Cross-entropy over the two NSP classes; labels `[batch]` (or `[batch, 1]`), -100 ignored."""
    return cross_entropy(logits, ops.reshape(labels, (-1,)))


#: BERT's next-sentence head, `cls.seq_relationship`.
NSP_HEAD = Head(
    (dense("cls.seq_relationship", "seq_relationship.dense"),), layer="seq_relationship"
)


def pooled_output(backbone, outputs):
    if "pooler_output" not in outputs:
        raise ValueError(
            "Next-sentence prediction reads the pooler output; build the backbone with "
            "`add_pooling_layer=True`."
        )
    return outputs["pooler_output"]


@keras.saving.register_keras_serializable(package="keras_models")
class NextSentencePrediction(Task):
    """Next-sentence prediction from the backbone's pooler output (`*ForNextSentencePrediction`).

    Outputs `logits` (`[batch, 2]`; class 0: sentence B continues sentence A, class 1: B is
    random). Label: `labels` (`[batch]`), the name transformers uses for this head.

    Args:
        backbone: a backbone with a pooler (`add_pooling_layer=True`).

    Examples:
    >>> import numpy as np
    >>> from keras_models import MegatronBertBackbone
    >>> backbone = MegatronBertBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16)
    >>> NextSentencePrediction(backbone)(np.array([[2, 5, 6, 3, 7]]))["logits"].shape
    (1, 2)
    """

    head = "next_sentence_prediction"

    label_names = ("labels",)
    default_pooling = "pooled"
    hf_head = (NSP_HEAD,)

    def __init__(self, backbone, **kwargs):
        inputs = backbone.input
        pooled = pooled_output(backbone, backbone(inputs))
        seq_relationship = NextSentenceHead(
            initializer_range=init_range(backbone),
            dtype=backbone.dtype_policy,
            name="seq_relationship",
        )
        logits = seq_relationship(pooled)
        super().__init__(backbone=backbone, inputs=inputs, outputs={"logits": logits}, **kwargs)
        self.seq_relationship = seq_relationship

    @classmethod
    def needs_pooler(cls, task_kwargs):
        return True

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        return next_sentence_loss(outputs["logits"], labels["labels"])

"""Token classification (NER, POS tagging)."""

import keras

from keras_models.layers.heads import ClassificationHead
from keras_models.models.raw_text import TagMixin
from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, dense
from keras_models.tasks.common import hidden_dropout, init_range, label_maps
from keras_models.tasks.losses import cross_entropy
from keras_models.tokenizers.preprocessors import TokenClassificationPreprocessor


@keras.saving.register_keras_serializable(package="keras_models")
class TokenClassification(TagMixin, Task):
    """One label per token: dropout and a Linear over every position.

    Outputs `logits` (`[batch, seq, num_labels]`). Label: `labels` (`[batch, seq]`, -100
    ignored).

    Args:
        backbone: the backbone.
        num_labels: number of token classes; defaults to the size of `id2label`, else 2.
        classifier_dropout: dropout rate; defaults to the backbone's `hidden_dropout_prob`.
        problem_type: kept in `model.config` only: transformers' token-classification heads
            always use cross-entropy, whatever the config says, and so does this one.
        id2label: label names, `{id: name}`; `tag` and `model.config.id2label` read them.
        label2id: the inverse map (derived from `id2label` by default).

    Examples:
    >>> import numpy as np
    >>> from keras_models import RobertaBackbone
    >>> backbone = RobertaBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, add_pooling_layer=False)
    >>> TokenClassification(backbone, num_labels=5)(np.array([[0, 5, 2]]))["logits"].shape
    (1, 3, 5)
    """

    head = "token_classification"

    label_names = ("labels",)
    preprocessor_cls = TokenClassificationPreprocessor
    hf_head = (Head((dense("classifier", "classifier.out_proj"),)),)
    hf_config_fields = ("num_labels", "classifier_dropout", "problem_type", "id2label", "label2id")

    def __init__(
        self,
        backbone,
        num_labels=None,
        classifier_dropout=None,
        problem_type=None,
        id2label=None,
        label2id=None,
        **kwargs,
    ):
        num_labels, id2label, label2id = label_maps(num_labels, id2label, label2id, problem_type)
        inputs = backbone.input
        hidden = backbone(inputs)["last_hidden_state"]
        classifier = ClassificationHead(
            num_labels,
            dropout=hidden_dropout(backbone, classifier_dropout),
            initializer_range=init_range(backbone),
            dtype=backbone.dtype_policy,
            name="classifier",
        )
        logits = classifier(hidden)
        super().__init__(backbone=backbone, inputs=inputs, outputs={"logits": logits}, **kwargs)
        self.classifier = classifier
        self.set_label_config(num_labels, id2label, label2id, problem_type)
        self.classifier_dropout = classifier_dropout

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        return cross_entropy(outputs["logits"], labels["labels"])

    def get_config(self):
        config = super().get_config()
        config.update(self.label_config(), classifier_dropout=self.classifier_dropout)
        return config

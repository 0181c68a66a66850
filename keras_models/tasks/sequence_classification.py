"""Sequence classification and regression."""

import keras
from keras import ops

from keras_models.layers.heads import ClassificationHead
from keras_models.models.raw_text import ClassifyMixin
from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, dense
from keras_models.tasks.common import (
    backbone_hidden_size,
    hidden_dropout,
    init_range,
    label_maps,
)
from keras_models.tasks.losses import sequence_classification_loss
from keras_models.tokenizers.preprocessors import SequenceClassificationPreprocessor

POOLINGS = ("pooled", "first", "last_non_pad")


def _two_layers(task):
    return task.classifier.dense is not None


def _one_layer(task):
    return task.classifier.dense is None


def last_non_pad_index(input_ids, pad_token_id):
    """Index of the rightmost non-pad token of each row (0 for an all-pad row), as OPT picks."""
    # Positions from a cumsum rather than arange so this also runs on symbolic inputs.
    positions = ops.cumsum(ops.ones_like(input_ids, dtype="int32"), axis=-1) - 1
    return ops.argmax(positions * ops.cast(ops.not_equal(input_ids, pad_token_id), "int32"), -1)


@keras.saving.register_keras_serializable(package="keras_models")
class SequenceClassification(ClassifyMixin, Task):
    """One label (or score) per sequence.

    Outputs `logits` (`[batch, num_labels]`). Label: `labels`, integer classes
    (single-label), float multi-hot vectors (multi-label) or floats with `num_labels=1`
    (regression); `problem_type` fixes the choice as in transformers.

    Args:
        backbone: the backbone.
        num_labels: number of classes (1 for regression); defaults to the size of `id2label`,
            else 2.
        problem_type: `None` (inferred from the labels), `"regression"`,
            `"single_label_classification"` or `"multi_label_classification"`.
        pooling: the vector read per sequence: `"pooled"` (the backbone's `pooler_output`),
            `"first"` (`h[:, 0]`) or `"last_non_pad"` (OPT: the rightmost non-pad token).
        head_hidden_size: width of an inner `dense -> activation` before the output layer
            (RoBERTa and RoFormer); `None` for a single Linear.
        head_activation: activation of that inner layer (`"tanh"` for RoBERTa; RoFormer uses
            the backbone's `hidden_act`, the default when the family sets no activation).
        classifier_dropout: dropout rate; defaults to the backbone's `hidden_dropout_prob`.
        use_bias: bias of the output layer (OPT's `score` has none).
        id2label: class names, `{id: name}` (transformers' `LABEL_i` by default); `classify`
            and `model.config.id2label` read them.
        label2id: the inverse map (derived from `id2label` by default).

    Examples:
    >>> import numpy as np
    >>> from keras_models import RobertaBackbone
    >>> backbone = RobertaBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, add_pooling_layer=False)
    >>> SequenceClassification(backbone, num_labels=3)(np.array([[0, 5, 2]]))["logits"].shape
    (1, 3)
    """

    head = "sequence_classification"

    label_names = ("labels",)
    preprocessor_cls = SequenceClassificationPreprocessor
    #: Family defaults, overridden by the thin family subclasses.
    default_pooling = "first"
    default_head_hidden = False
    default_head_activation = "tanh"
    # transformers names the output layer `classifier` alone, or `classifier.out_proj` after an
    # inner `classifier.dense` (RoBERTa, RoFormer).
    hf_head = (
        Head(
            (
                dense("classifier.dense", "classifier.dense"),
                dense("classifier.out_proj", "classifier.out_proj", when=_two_layers),
                dense("classifier", "classifier.out_proj", when=_one_layer),
            )
        ),
    )
    hf_config_fields = (
        "num_labels",
        "problem_type",
        "classifier_dropout",
        "id2label",
        "label2id",
    )

    def __init__(
        self,
        backbone,
        num_labels=None,
        problem_type=None,
        pooling=None,
        head_hidden_size=None,
        head_activation=None,
        classifier_dropout=None,
        use_bias=True,
        id2label=None,
        label2id=None,
        **kwargs,
    ):
        num_labels, id2label, label2id = label_maps(num_labels, id2label, label2id, problem_type)
        pooling = pooling or self.default_pooling
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}, got {pooling!r}.")
        if head_hidden_size is None and self.default_head_hidden:
            head_hidden_size = backbone_hidden_size(backbone)
        # A family default of `None` means the backbone's own activation (RoFormer: gelu).
        head_activation = (
            head_activation or self.default_head_activation or getattr(backbone, "hidden_act", None)
        )
        inputs = backbone.input
        outputs = backbone(inputs)
        if pooling == "pooled":
            if "pooler_output" not in outputs:
                raise ValueError(
                    "`pooling='pooled'` needs a backbone built with `add_pooling_layer=True`."
                )
            features = outputs["pooler_output"]
        elif pooling == "first":
            features = outputs["last_hidden_state"][:, 0, :]
        else:
            hidden = outputs["last_hidden_state"]
            index = last_non_pad_index(inputs["input_ids"], backbone.pad_token_id)
            features = ops.take_along_axis(hidden, index[:, None, None], axis=1)[:, 0, :]
        classifier = ClassificationHead(
            num_labels,
            hidden_size=head_hidden_size,
            activation=head_activation,
            dropout=hidden_dropout(backbone, classifier_dropout),
            use_bias=use_bias,
            initializer_range=init_range(backbone),
            dtype=backbone.dtype_policy,
            name="classifier",
        )
        logits = classifier(features)
        super().__init__(backbone=backbone, inputs=inputs, outputs={"logits": logits}, **kwargs)
        self.classifier = classifier
        self.set_label_config(num_labels, id2label, label2id, problem_type)
        self.pooling = pooling
        self.head_hidden_size = head_hidden_size
        self.head_activation = head_activation
        self.classifier_dropout = classifier_dropout
        self.use_bias = use_bias

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        return sequence_classification_loss(
            outputs["logits"], labels["labels"], self.num_labels, self.problem_type
        )

    def get_config(self):
        config = super().get_config()
        config.update(self.label_config())
        config.update(
            pooling=self.pooling,
            head_hidden_size=self.head_hidden_size,
            head_activation=self.head_activation,
            classifier_dropout=self.classifier_dropout,
            use_bias=self.use_bias,
        )
        return config

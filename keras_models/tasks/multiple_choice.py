"""Multiple choice over `[batch, num_choices, seq]` inputs."""

import keras
from keras import ops

from keras_models.layers.heads import ChoiceHead
from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, dense
from keras_models.tasks.common import hidden_dropout, init_range, label_maps
from keras_models.tasks.losses import cross_entropy
from keras_models.tokenizers.preprocessors import MultipleChoicePreprocessor


@keras.saving.register_keras_serializable(package="keras_models")
class FlattenChoices(keras.layers.Layer):
    """`[batch, choices, seq]` -> `[batch * choices, seq]` (a layer, so the shape is read at
    run time rather than frozen when the graph is built)."""

    def call(self, x):
        return ops.reshape(x, (-1, ops.shape(x)[-1]))

    def compute_output_spec(self, x):
        return keras.KerasTensor((None, x.shape[-1]), dtype=x.dtype)


@keras.saving.register_keras_serializable(package="keras_models")
class MultipleChoice(Task):
    """Scores each choice; every input is `[batch, num_choices, seq]`.

    The choices are flattened to `[batch * num_choices, seq]` rows for the backbone, one score
    is read per row and the scores come back as `logits` `[batch, num_choices]`. Label:
    `labels` (`[batch]`, the index of the right choice).

    Args:
        backbone: the backbone.
        pooling: `"pooled"` (the backbone's `pooler_output`, then dropout) or `"last"` (the
            last position's hidden state, RoFormer's sequence summary, no dropout).
        num_labels, problem_type, id2label, label2id: kept in `model.config` only.
            transformers' multiple-choice heads score each choice with one output and use
            cross-entropy over the choices whatever these say, and so does this one.

    Examples:
    >>> import numpy as np
    >>> from keras_models import RobertaBackbone
    >>> backbone = RobertaBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16)
    >>> MultipleChoice(backbone)(np.ones((2, 3, 4), "int32"))["logits"].shape
    (2, 3)
    """

    head = "multiple_choice"

    label_names = ("labels",)
    preprocessor_cls = MultipleChoicePreprocessor
    input_rank = 3
    default_pooling = "pooled"
    hf_head = (Head((dense("classifier", "classifier.dense"),)),)
    hf_config_fields = ("num_labels", "problem_type", "id2label", "label2id")

    def __init__(
        self,
        backbone,
        pooling=None,
        num_labels=None,
        problem_type=None,
        id2label=None,
        label2id=None,
        **kwargs,
    ):
        num_labels, id2label, label2id = label_maps(num_labels, id2label, label2id, problem_type)
        pooling = pooling or self.default_pooling
        if pooling not in ("pooled", "last"):
            raise ValueError(f"`pooling` must be 'pooled' or 'last', got {pooling!r}.")
        inputs = {
            name: keras.Input(shape=(None, None), dtype="int32", name=name)
            for name in backbone.input_names
        }
        flatten = FlattenChoices(name="flatten_choices")
        flat = {name: flatten(tensor) for name, tensor in inputs.items()}
        outputs = backbone(flat)
        if pooling == "pooled":
            if "pooler_output" not in outputs:
                raise ValueError(
                    "`pooling='pooled'` needs a backbone built with `add_pooling_layer=True`."
                )
            features, dropout = outputs["pooler_output"], hidden_dropout(backbone)
        else:
            features, dropout = outputs["last_hidden_state"][:, -1, :], 0.0
        classifier = ChoiceHead(
            dropout=dropout,
            initializer_range=init_range(backbone),
            dtype=backbone.dtype_policy,
            name="classifier",
        )
        logits = classifier(features, inputs["input_ids"])
        super().__init__(backbone=backbone, inputs=inputs, outputs={"logits": logits}, **kwargs)
        self.classifier = classifier
        self.pooling = pooling
        self.set_label_config(num_labels, id2label, label2id, problem_type)

    def hf_loss(self, labels, outputs):
        if "labels" not in labels:
            return None
        return cross_entropy(outputs["logits"], labels["labels"])

    def get_config(self):
        config = super().get_config()
        config.update(self.label_config(), pooling=self.pooling)
        return config

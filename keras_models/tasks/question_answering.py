"""Extractive question answering (span start/end logits)."""

import keras

from keras_models.layers.heads import SpanHead
from keras_models.models.raw_text import AnswerMixin
from keras_models.models.task import Task
from keras_models.presets.weight_table import Head, dense
from keras_models.tasks.common import init_range
from keras_models.tasks.losses import question_answering_loss
from keras_models.tokenizers.preprocessors.question_answering import (
    QuestionAnsweringPreprocessor,
)


@keras.saving.register_keras_serializable(package="keras_models")
class QuestionAnswering(AnswerMixin, Task):
    """Span-extraction head on any backbone: `qa_outputs` Dense over every token.

    Outputs `start_logits` and `end_logits` (`[batch, seq]`). Labels: `start_positions`,
    `end_positions` (`[batch]`); out-of-range positions are ignored, as in transformers.

    Args:
        backbone: a backbone whose outputs include `last_hidden_state`.
        num_labels: width of the span projection (2: start and end).

    Examples:
    >>> import numpy as np
    >>> from keras_models import RobertaBackbone
    >>> backbone = RobertaBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, add_pooling_layer=False)
    >>> out = QuestionAnswering(backbone)(np.array([[0, 5, 6, 2]]))
    >>> out["start_logits"].shape
    (1, 4)
    """

    head = "question_answering"

    label_names = ("start_positions", "end_positions")
    preprocessor_cls = QuestionAnsweringPreprocessor

    #: A family whose transformers head is always `Linear(hidden, 2)` sets 2 here (and reads
    #: no `num_labels` from the config).
    fixed_num_labels = None
    hf_head = (Head((dense("qa_outputs", "qa_outputs.dense"),)),)
    hf_config_fields = ("num_labels",)

    def __init__(self, backbone, num_labels=2, **kwargs):
        if self.fixed_num_labels is not None and num_labels != self.fixed_num_labels:
            raise ValueError(
                f"{type(self).__name__} has {self.fixed_num_labels} span outputs (start, end) "
                f"whatever `num_labels` says, as in transformers; got `num_labels={num_labels}`."
            )
        inputs = backbone.input
        hidden = backbone(inputs)["last_hidden_state"]
        qa_outputs = SpanHead(
            num_labels,
            initializer_range=init_range(backbone),
            dtype=backbone.dtype_policy,
            name="qa_outputs",
        )
        start_logits, end_logits = qa_outputs(hidden)
        outputs = {"start_logits": start_logits, "end_logits": end_logits}
        super().__init__(backbone=backbone, inputs=inputs, outputs=outputs, **kwargs)
        self.qa_outputs = qa_outputs
        self.num_labels = num_labels

    def hf_loss(self, labels, outputs):
        if "start_positions" not in labels or "end_positions" not in labels:
            return None
        return question_answering_loss(
            outputs["start_logits"],
            outputs["end_logits"],
            labels["start_positions"],
            labels["end_positions"],
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_labels=self.num_labels)
        return config

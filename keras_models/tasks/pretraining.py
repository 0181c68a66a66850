"""BERT-style pretraining: masked language modelling plus next-sentence prediction."""

import keras

from keras_models.layers.heads import NextSentenceHead
from keras_models.models.task import Task
from keras_models.tasks.common import init_range, word_table_lm_head
from keras_models.tasks.losses import cross_entropy
from keras_models.tasks.masked_lm import BERT_LM_HEAD
from keras_models.tasks.next_sentence import NSP_HEAD, next_sentence_loss, pooled_output


@keras.saving.register_keras_serializable(package="keras_models")
class Pretraining(Task):
    """The two BERT pretraining heads on one backbone (`*ForPreTraining`).

    The tied LM head reads every position and the next-sentence head reads the pooler output.

    Outputs `prediction_logits` (`[batch, seq, vocab]`) and `seq_relationship_logits`
    (`[batch, 2]`). Labels: `labels` (`[batch, seq]` token ids, -100 ignored) and
    `next_sentence_label` (`[batch]`). As in transformers, the default loss is the sum of the
    masked-LM and next-sentence cross-entropies and needs both labels; with only one of them,
    compile with your own `loss`.

    Args:
        backbone: a backbone with a `token_embedding` (and a pooler, for the next-sentence
            head).
        head_activation: activation of the LM head's transform; defaults to the backbone's
            `hidden_act`.
        add_binary_head: `False` leaves out the next-sentence head: the outputs are then
            `prediction_logits` alone, the label is `labels` alone and the loss is the
            masked-LM loss. (transformers 5 accepts this argument of
            `MegatronBertForPreTraining` and ignores it; here it is honoured.)

    Examples:
    >>> import numpy as np
    >>> from keras_models import MegatronBertBackbone
    >>> backbone = MegatronBertBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16)
    >>> out = Pretraining(backbone)(np.array([[2, 5, 6, 3, 7]]))
    >>> out["prediction_logits"].shape, out["seq_relationship_logits"].shape
    ((1, 5, 50), (1, 2))
    """

    head = "pretraining"

    tied_lm_head = True
    default_pooling = "pooled"
    # Either part may be missing from a checkpoint (a masked-LM-only one): it starts fresh.
    hf_head = (BERT_LM_HEAD, NSP_HEAD)
    #: The LM head's activation (`None`: the backbone's `hidden_act`).
    default_head_activation = None

    def __init__(self, backbone, head_activation=None, add_binary_head=True, **kwargs):
        head_activation = head_activation or self.default_head_activation or backbone.hidden_act
        inputs = backbone.input
        outputs = backbone(inputs)
        lm_head = word_table_lm_head(backbone, head_activation)
        task_outputs = {"prediction_logits": lm_head(outputs["last_hidden_state"])}
        seq_relationship = None
        if add_binary_head:
            seq_relationship = NextSentenceHead(
                initializer_range=init_range(backbone),
                dtype=backbone.dtype_policy,
                name="seq_relationship",
            )
            pooled = pooled_output(backbone, outputs)
            task_outputs["seq_relationship_logits"] = seq_relationship(pooled)
        super().__init__(backbone=backbone, inputs=inputs, outputs=task_outputs, **kwargs)
        self.lm_head = lm_head
        self.seq_relationship = seq_relationship
        self.head_activation = head_activation
        self.add_binary_head = add_binary_head

    @property
    def label_names(self):
        if self.__dict__.get("add_binary_head", True):
            return ("labels", "next_sentence_label")
        return ("labels",)

    @classmethod
    def needs_pooler(cls, task_kwargs):
        return task_kwargs.get("add_binary_head", True)

    def check_data(self, x, y=None, training=False):
        items = super().check_data(x, y, training)
        if training and self._compile_loss is None:
            labels = self.collect_labels(items, y)
            missing = [name for name in self.label_names if name not in labels]
            # transformers computes no loss from one label alone; say so before a step runs.
            if labels and missing:
                raise ValueError(
                    f"The default loss of {type(self).__name__} is the masked-LM plus the "
                    f"next-sentence loss and needs both labels {list(self.label_names)}; "
                    f"missing: {missing}. Compile with a `loss` to train on one of them."
                )
        return items

    def hf_loss(self, labels, outputs):
        if any(name not in labels for name in self.label_names):
            return None
        mlm = cross_entropy(outputs["prediction_logits"], labels["labels"])
        if not self.add_binary_head:
            return mlm
        nsp = next_sentence_loss(outputs["seq_relationship_logits"], labels["next_sentence_label"])
        return mlm + nsp

    def get_config(self):
        config = super().get_config()
        config.update(head_activation=self.head_activation, add_binary_head=self.add_binary_head)
        return config

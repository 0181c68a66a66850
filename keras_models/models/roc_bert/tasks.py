"""RoCBert task models: the generic tasks with RoCBert's head choices, and the contrastive
pretraining model."""

import keras
from keras import ops

from keras_models.models.roc_bert.backbone import RoCBertBackbone
from keras_models.models.task import Task
from keras_models.tasks.common import word_table_lm_head
from keras_models.tasks.losses import IGNORE_INDEX, cross_entropy
from keras_models.tasks.masked_lm import CausalLM, MaskedLM
from keras_models.tasks.multiple_choice import MultipleChoice
from keras_models.tasks.question_answering import QuestionAnswering
from keras_models.tasks.sequence_classification import SequenceClassification
from keras_models.tasks.token_classification import TokenClassification

#: The label inputs of `RoCBertForPreTraining`, in transformers' argument order.
ATTACK_NAMES = (
    "attack_input_ids",
    "attack_input_shape_ids",
    "attack_input_pronunciation_ids",
    "attack_attention_mask",
    "attack_token_type_ids",
)
LABEL_NAMES = (
    "labels_input_ids",
    "labels_input_shape_ids",
    "labels_input_pronunciation_ids",
    "labels_attention_mask",
    "labels_token_type_ids",
)
_BACKBONE_NAMES = (
    "input_ids",
    "input_shape_ids",
    "input_pronunciation_ids",
    "attention_mask",
    "token_type_ids",
)
#: transformers scales the cosine similarities by this before the contrastive cross-entropy.
SIMILARITY_SCALE = 100.0


def l2_normalize(x, epsilon=1e-12):
    """torch's `F.normalize(x, dim=-1)`: `x / max(||x||, epsilon)`."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / ops.maximum(norm, epsilon)


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertForQuestionAnswering(QuestionAnswering):
    """`RoCBertForQuestionAnswering`: `qa_outputs` over every token (no pooler).

    Examples:
    >>> import numpy as np
    >>> backbone = RoCBertBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, shape_vocab_size=20, shape_embed_dim=4,
    ...     pronunciation_vocab_size=30, pronunciation_embed_dim=6, add_pooling_layer=False)
    >>> model = RoCBertForQuestionAnswering(backbone)
    >>> model(np.array([[2, 5, 6, 3]]))["start_logits"].shape
    (1, 4)
    """

    backbone_cls = RoCBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertForSequenceClassification(SequenceClassification):
    """`RoCBertForSequenceClassification`: pooler output -> dropout -> `classifier` Linear."""

    backbone_cls = RoCBertBackbone
    default_pooling = "pooled"


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertForTokenClassification(TokenClassification):
    """`RoCBertForTokenClassification`: dropout and a Linear on every token."""

    backbone_cls = RoCBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertForMultipleChoice(MultipleChoice):
    """`RoCBertForMultipleChoice`: pooled output of each choice -> one score.

    Every input, the shape and pronunciation ids included, is `[batch, num_choices, seq]`.
    """

    backbone_cls = RoCBertBackbone
    default_pooling = "pooled"


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertForMaskedLM(MaskedLM):
    """`RoCBertForMaskedLM`: the tied `cls.predictions` head (activation `hidden_act`)."""

    backbone_cls = RoCBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertForCausalLM(CausalLM):
    """`RoCBertForCausalLM`: the tied head with a next-token loss (build the backbone with
    `is_decoder=True` for causal attention, as transformers expects)."""

    backbone_cls = RoCBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RoCBertForPreTraining(MaskedLM):
    """`RoCBertForPreTraining`: the masked-LM head plus RoCBert's contrastive loss.

    Outputs `logits` (`[batch, seq, vocab]`) and the backbone's `pooler_output`, which the
    contrastive loss reads.

    Labels (names and order as transformers' arguments; pass them as `y` or inside the `x`
    dict): `attack_input_ids`, `attack_input_shape_ids`, `attack_input_pronunciation_ids`,
    `attack_attention_mask`, `attack_token_type_ids`, `labels_input_ids`,
    `labels_input_shape_ids`, `labels_input_pronunciation_ids`, `labels_attention_mask`,
    `labels_token_type_ids`. A bare `y` tensor is `labels_input_ids`. They are read by the loss
    only, so a list input follows the backbone's order (`input_ids`, `input_shape_ids`,
    `input_pronunciation_ids`, `attention_mask`, `token_type_ids`, `position_ids`), which in
    transformers' signature has the `attack_*` arguments before `position_ids`.

    Loss, exactly transformers': without `labels_input_ids` there is none. The masked-LM
    cross-entropy of `logits` against `labels_input_ids` (-100 ignored), plus, when
    `attack_input_ids` is given, a contrastive term: the backbone is run on the target
    (`labels_input_ids` with -100 replaced by `pad_token_id`, with the `labels_*` shape,
    pronunciation, mask and token types) and on the `attack_*` inputs, and with `P`, `P_l`, `P_a`
    the L2-normalised pooled outputs of the main, target and attack passes,
    `(CE(100 P P_a^T, arange(B)) + CE(100 P_l P_a^T, arange(B))) / 2` is added.

    Args:
        backbone: a `RoCBertBackbone` with its pooler.
        head_activation: activation of the head's transform; defaults to `hidden_act`.

    Examples:
    >>> import numpy as np
    >>> backbone = RoCBertBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, shape_vocab_size=20, shape_embed_dim=4,
    ...     pronunciation_vocab_size=30, pronunciation_embed_dim=6)
    >>> model = RoCBertForPreTraining(backbone)
    >>> ids = np.array([[2, 5, 6, 3], [2, 7, 3, 0]])
    >>> model(ids)["logits"].shape
    (2, 4, 50)
    >>> loss = model.compute_loss(ids, {"labels_input_ids": ids, "attack_input_ids": ids[::-1]},
    ...                           model(ids), training=False)
    >>> float(loss) > 0
    True
    """

    backbone_cls = RoCBertBackbone
    head = "pretraining"
    label_names = ATTACK_NAMES + LABEL_NAMES
    default_pooling = "pooled"

    def __init__(self, backbone, head_activation=None, **kwargs):
        if getattr(backbone, "pooler", None) is None:
            raise ValueError(
                "RoCBertForPreTraining reads the pooled output; build the backbone with "
                "`add_pooling_layer=True`."
            )
        head_activation = head_activation or self.default_head_activation or backbone.hidden_act
        inputs = backbone.input
        backbone_outputs = backbone(inputs)
        lm_head = word_table_lm_head(backbone, head_activation)
        outputs = {
            "logits": lm_head(backbone_outputs["last_hidden_state"]),
            "pooler_output": backbone_outputs["pooler_output"],
        }
        # MaskedLM.__init__ builds a logits-only graph; this head also returns the pooled output.
        Task.__init__(self, backbone=backbone, inputs=inputs, outputs=outputs, **kwargs)
        self.lm_head = lm_head
        self.head_activation = head_activation
        self._loss_training = False

    def collect_labels(self, x, y):
        if y is not None and not isinstance(y, (dict, list, tuple)):
            # The common case `fit(x, labels)`: a single tensor is the masked-LM target.
            labels = super().collect_labels(x, None)
            labels["labels_input_ids"] = y
            return labels
        return super().collect_labels(x, y)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # The contrastive term runs the backbone again; its dropout follows this flag.
        self._loss_training = training
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)

    def _pooled(self, labels, prefix, input_ids):
        inputs = {name: labels.get(prefix + name) for name in _BACKBONE_NAMES[1:]}
        inputs["input_ids"] = input_ids
        return self.backbone(inputs, training=self._loss_training)["pooler_output"]

    def hf_loss(self, labels, outputs):
        if "labels_input_ids" not in labels:
            return None
        label_ids = ops.cast(labels["labels_input_ids"], "int32")
        loss = cross_entropy(outputs["logits"], label_ids)
        if "attack_input_ids" not in labels:
            return loss
        target = ops.where(
            ops.equal(label_ids, IGNORE_INDEX), self.backbone.pad_token_id, label_ids
        )
        target_pooled = self._pooled(labels, "labels_", target)
        attack_pooled = self._pooled(labels, "attack_", labels["attack_input_ids"])
        pooled = l2_normalize(ops.cast(outputs["pooler_output"], "float32"))
        target_pooled = l2_normalize(ops.cast(target_pooled, "float32"))
        attack_pooled = l2_normalize(ops.cast(attack_pooled, "float32"))
        attack_t = ops.transpose(attack_pooled)
        rows = ops.arange(ops.shape(label_ids)[0], dtype="int32")
        contrastive = (
            cross_entropy(SIMILARITY_SCALE * ops.matmul(pooled, attack_t), rows)
            + cross_entropy(SIMILARITY_SCALE * ops.matmul(target_pooled, attack_t), rows)
        ) / 2.0
        return contrastive + loss

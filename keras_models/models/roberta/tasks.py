"""RoBERTa task models: the generic tasks with RoBERTa's head choices."""

import keras

from keras_models.models.roberta.backbone import RobertaBackbone
from keras_models.models.roberta.converter import LM_HEAD
from keras_models.tasks.masked_lm import CausalLM, MaskedLM
from keras_models.tasks.multiple_choice import MultipleChoice
from keras_models.tasks.question_answering import QuestionAnswering
from keras_models.tasks.sequence_classification import SequenceClassification
from keras_models.tasks.token_classification import TokenClassification


@keras.saving.register_keras_serializable(package="keras_models")
class RobertaForQuestionAnswering(QuestionAnswering):
    """`RobertaForQuestionAnswering`: `qa_outputs` over every token.

    Examples:
    >>> import numpy as np
    >>> backbone = RobertaBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, add_pooling_layer=False)
    >>> model = RobertaForQuestionAnswering(backbone)
    >>> sorted(model(np.array([[0, 5, 6, 2]])))
    ['end_logits', 'start_logits']
    """

    backbone_cls = RobertaBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RobertaForSequenceClassification(SequenceClassification):
    """`RobertaForSequenceClassification`: `<s>` state -> dense -> tanh -> out_proj (no pooler)."""

    backbone_cls = RobertaBackbone
    default_pooling = "first"
    default_head_hidden = True
    default_head_activation = "tanh"


@keras.saving.register_keras_serializable(package="keras_models")
class RobertaForTokenClassification(TokenClassification):
    """`RobertaForTokenClassification`: dropout and a Linear on every token."""

    backbone_cls = RobertaBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RobertaForMultipleChoice(MultipleChoice):
    """`RobertaForMultipleChoice`: pooled output of each choice -> one score."""

    backbone_cls = RobertaBackbone
    default_pooling = "pooled"


@keras.saving.register_keras_serializable(package="keras_models")
class RobertaForMaskedLM(MaskedLM):
    """`RobertaForMaskedLM`: tied LM head with RoBERTa's hard-coded exact GELU."""

    backbone_cls = RobertaBackbone
    default_head_activation = "gelu"
    hf_head = (LM_HEAD,)


@keras.saving.register_keras_serializable(package="keras_models")
class RobertaForCausalLM(CausalLM):
    """`RobertaForCausalLM`: the tied LM head with a next-token loss (build the backbone with
    `is_decoder=True` for causal attention)."""

    backbone_cls = RobertaBackbone
    default_head_activation = "gelu"
    hf_head = (LM_HEAD,)

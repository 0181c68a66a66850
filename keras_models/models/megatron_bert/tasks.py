"""MegatronBERT task models: the generic tasks with MegatronBERT's head choices.

Every head that reads one vector per sequence (sequence classification, multiple choice, next
sentence, pretraining) reads the pooler output; the LM heads use the config's `hidden_act`.
"""

import keras

from keras_models.models.megatron_bert.backbone import MegatronBertBackbone
from keras_models.tasks.masked_lm import CausalLM, MaskedLM
from keras_models.tasks.multiple_choice import MultipleChoice
from keras_models.tasks.next_sentence import NextSentencePrediction
from keras_models.tasks.pretraining import Pretraining
from keras_models.tasks.question_answering import QuestionAnswering
from keras_models.tasks.sequence_classification import SequenceClassification
from keras_models.tasks.token_classification import TokenClassification


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertForQuestionAnswering(QuestionAnswering):
    """`MegatronBertForQuestionAnswering`: `qa_outputs` over every token.

    Examples:
    >>> import numpy as np
    >>> backbone = MegatronBertBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, add_pooling_layer=False)
    >>> model = MegatronBertForQuestionAnswering(backbone)
    >>> sorted(model(np.array([[2, 5, 6, 3]])))
    ['end_logits', 'start_logits']
    """

    backbone_cls = MegatronBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertForSequenceClassification(SequenceClassification):
    """`MegatronBertForSequenceClassification`: pooler output -> dropout -> Linear."""

    backbone_cls = MegatronBertBackbone
    default_pooling = "pooled"


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertForTokenClassification(TokenClassification):
    """`MegatronBertForTokenClassification`: dropout and a Linear on every token."""

    backbone_cls = MegatronBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertForMultipleChoice(MultipleChoice):
    """`MegatronBertForMultipleChoice`: pooled output of each choice -> one score."""

    backbone_cls = MegatronBertBackbone
    default_pooling = "pooled"


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertForMaskedLM(MaskedLM):
    """`MegatronBertForMaskedLM`: the tied `cls.predictions` head with the config activation."""

    backbone_cls = MegatronBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertForCausalLM(CausalLM):
    """`MegatronBertForCausalLM`: the tied LM head with a next-token loss (build the backbone
    with `is_decoder=True` for causal attention, as transformers expects)."""

    backbone_cls = MegatronBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertForNextSentencePrediction(NextSentencePrediction):
    """`MegatronBertForNextSentencePrediction`: `cls.seq_relationship` on the pooler output.

    Examples:
    >>> import numpy as np
    >>> backbone = MegatronBertBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16)
    >>> MegatronBertForNextSentencePrediction(backbone)(np.array([[2, 5, 3, 6]]))["logits"].shape
    (1, 2)
    """

    backbone_cls = MegatronBertBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class MegatronBertForPreTraining(Pretraining):
    """`MegatronBertForPreTraining`: masked-LM and next-sentence heads; the default loss is
    their sum and needs both `labels` and `next_sentence_label`."""

    backbone_cls = MegatronBertBackbone

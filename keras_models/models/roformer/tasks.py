"""RoFormer task models: the generic tasks with RoFormer's head choices."""

import keras

from keras_models.models.roformer.backbone import RoFormerBackbone
from keras_models.tasks.masked_lm import CausalLM, MaskedLM
from keras_models.tasks.multiple_choice import MultipleChoice
from keras_models.tasks.question_answering import QuestionAnswering
from keras_models.tasks.sequence_classification import SequenceClassification
from keras_models.tasks.token_classification import TokenClassification


@keras.saving.register_keras_serializable(package="keras_models")
class RoFormerForQuestionAnswering(QuestionAnswering):
    """`RoFormerForQuestionAnswering`: `qa_outputs` over every token.

    Examples:
    >>> import numpy as np
    >>> backbone = RoFormerBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, max_position_embeddings=32)
    >>> model = RoFormerForQuestionAnswering(backbone)
    >>> model(np.array([[2, 5, 6, 3]]))["start_logits"].shape
    (1, 4)
    """

    backbone_cls = RoFormerBackbone
    fixed_num_labels = 2
    # RoFormerForQuestionAnswering forces `num_labels = 2` whatever the config says.
    hf_config_fields = ()


@keras.saving.register_keras_serializable(package="keras_models")
class RoFormerForSequenceClassification(SequenceClassification):
    """`RoFormerForSequenceClassification`: first token -> dense -> `hidden_act` (gelu, not
    tanh) -> out_proj; RoFormer has no pooler.

    Examples:
    >>> import numpy as np
    >>> backbone = RoFormerBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, max_position_embeddings=32)
    >>> model = RoFormerForSequenceClassification(backbone, num_labels=3)
    >>> model.head_activation, model(np.array([[2, 5, 6, 3]]))["logits"].shape
    ('gelu', (1, 3))
    """

    backbone_cls = RoFormerBackbone
    default_pooling = "first"
    default_head_hidden = True
    default_head_activation = None  # the backbone's hidden_act


@keras.saving.register_keras_serializable(package="keras_models")
class RoFormerForTokenClassification(TokenClassification):
    """`RoFormerForTokenClassification`: dropout and a Linear on every token."""

    backbone_cls = RoFormerBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RoFormerForMultipleChoice(MultipleChoice):
    """`RoFormerForMultipleChoice`: the LAST position of each choice (no dropout) -> one score.

    transformers' sequence summary reads `h[:, -1]`, which is a padding position when a
    choice is right-padded; this class reads the same vector.

    Examples:
    >>> import numpy as np
    >>> backbone = RoFormerBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, max_position_embeddings=32)
    >>> RoFormerForMultipleChoice(backbone)(np.ones((2, 3, 4), "int32"))["logits"].shape
    (2, 3)
    """

    backbone_cls = RoFormerBackbone
    default_pooling = "last"


@keras.saving.register_keras_serializable(package="keras_models")
class RoFormerForMaskedLM(MaskedLM):
    """`RoFormerForMaskedLM`: the tied head `dense (hidden -> embedding_size) -> hidden_act ->
    LayerNorm -> word table^T + bias`.

    Examples:
    >>> import numpy as np
    >>> backbone = RoFormerBackbone(vocab_size=50, embedding_size=4, hidden_size=8,
    ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
    ...     max_position_embeddings=32)
    >>> RoFormerForMaskedLM(backbone)(np.array([[2, 5, 6, 3]]))["logits"].shape
    (1, 4, 50)
    """

    backbone_cls = RoFormerBackbone


@keras.saving.register_keras_serializable(package="keras_models")
class RoFormerForCausalLM(CausalLM):
    """`RoFormerForCausalLM`: the tied LM head with a next-token loss (build the backbone with
    `is_decoder=True` for causal attention, as transformers requires)."""

    backbone_cls = RoFormerBackbone

"""OPT task models: the generic tasks with OPT's head choices."""

import keras

from keras_models.models.opt.backbone import OPTBackbone
from keras_models.models.opt.converter import SCORE_HEAD
from keras_models.tasks.causal_lm import DecoderCausalLM
from keras_models.tasks.question_answering import QuestionAnswering
from keras_models.tasks.sequence_classification import SequenceClassification


@keras.saving.register_keras_serializable(package="keras_models")
class OPTForCausalLM(DecoderCausalLM):
    """`OPTForCausalLM`: logits from the tied word table (no bias), shifted next-token loss,
    and cached `generate()` (OPT's stop token is `</s>`, id 2).

    A call takes `OPTBackbone`'s call options (`output_hidden_states`, `output_attentions`,
    `head_mask`, `inputs_embeds`, `use_cache`, `past_key_values`, `return_dict`) and
    `labels` (adds `loss`). Outputs in transformers' `CausalLMOutputWithPast` order: `loss`,
    `logits`, `past_key_values`, `hidden_states`, `attentions`. Positional (list) order:
    `input_ids`, `attention_mask`, `position_ids`, `head_mask`, `past_key_values`,
    `inputs_embeds`; transformers' `TFOPTForCausalLM` documents `past_key_values` second
    (`input_ids`, `past_key_values`, `attention_mask`, `position_ids`, `head_mask`,
    `inputs_embeds`): reorder such a list, or pass a dict.

    Examples:
    >>> import numpy as np
    >>> backbone = OPTBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1, ffn_dim=16,
    ...                        num_attention_heads=2, max_position_embeddings=32)
    >>> model = OPTForCausalLM(backbone)
    >>> model(np.array([[2, 5, 6]]))["logits"].shape
    (1, 3, 50)
    >>> model.generate(np.array([[2, 5, 6]]), max_new_tokens=4, eos_token_id=[]).shape
    (1, 7)
    """

    backbone_cls = OPTBackbone
    default_eos_token_id = 2


@keras.saving.register_keras_serializable(package="keras_models")
class OPTForSequenceClassification(SequenceClassification):
    """`OPTForSequenceClassification`: a bias-free `score` on the last non-pad token (the
    last token with `inputs_embeds`, as transformers).

    A call takes `OPTBackbone`'s call options and `labels`; outputs `loss`, `logits`,
    `past_key_values`, `hidden_states`, `attentions` (transformers' order).

    Examples:
    >>> import numpy as np
    >>> backbone = OPTBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1, ffn_dim=16,
    ...                        num_attention_heads=2, max_position_embeddings=32)
    >>> OPTForSequenceClassification(backbone, num_labels=3)(np.array([[2, 5, 1]]))["logits"].shape
    (1, 3)
    """

    backbone_cls = OPTBackbone
    default_pooling = "last_non_pad"
    hf_head = (SCORE_HEAD,)

    def __init__(self, backbone, use_bias=False, **kwargs):
        super().__init__(backbone, use_bias=use_bias, **kwargs)


@keras.saving.register_keras_serializable(package="keras_models")
class OPTForQuestionAnswering(QuestionAnswering):
    """`OPTForQuestionAnswering`: `qa_outputs` (with bias) over every token.

    A call takes `OPTBackbone`'s call options except `use_cache` / `past_key_values`
    (transformers' QA output has no cache; refused), and `start_positions` /
    `end_positions`; outputs `loss`, `start_logits`, `end_logits`, `hidden_states`,
    `attentions` (transformers' order).
    """

    backbone_cls = OPTBackbone
    fixed_num_labels = 2
    takes_cache = False
    # OPT's `qa_outputs` is always Linear(P, 2), whatever the config's `num_labels` says.
    hf_config_fields = ()

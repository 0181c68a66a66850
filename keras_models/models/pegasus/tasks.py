"""Pegasus task models: the generic seq2seq and causal LM tasks with Pegasus' choices."""

import keras

from keras_models.models.pegasus.backbone import PegasusBackbone
from keras_models.models.pegasus.converter import CAUSAL_LM_HEAD
from keras_models.tasks.causal_lm import DecoderCausalLM
from keras_models.tasks.seq2seq_lm import Seq2SeqLM


@keras.saving.register_keras_serializable(package="keras_models")
class PegasusForConditionalGeneration(Seq2SeqLM):
    """`PegasusForConditionalGeneration`: tied LM head plus `final_logits_bias`, labels
    shifted into decoder inputs, `encode` / `decode`, and cached `generate` (encoder run once,
    cross-attention keys/values computed once; greedy, sampling or beam search; starts from
    `decoder_start_token_id` 0, stops at `</s>` 1, forces `</s>` at the last step).

    A call takes `PegasusBackbone`'s call options and `labels` (adds `loss`; without decoder
    inputs they are the labels shifted right). Outputs in transformers' `Seq2SeqLMOutput`
    order: `loss`, `logits`, `past_key_values`, `decoder_hidden_states`,
    `decoder_attentions`, `cross_attentions`, `encoder_last_hidden_state`,
    `encoder_hidden_states`, `encoder_attentions`. `decode(..., past_key_values=...)`
    continues a cached decoder as transformers' Flax `decode` does. The positional order
    is the backbone's.

    Examples:
    >>> import numpy as np
    >>> backbone = PegasusBackbone(vocab_size=50, d_model=8, encoder_layers=1, decoder_layers=1,
    ...     encoder_ffn_dim=16, decoder_ffn_dim=16, encoder_attention_heads=2,
    ...     decoder_attention_heads=2, max_position_embeddings=32)
    >>> model = PegasusForConditionalGeneration(backbone)
    >>> x = {"input_ids": np.array([[5, 6, 7, 1]]), "decoder_input_ids": np.array([[0, 5]])}
    >>> model(x)["logits"].shape
    (1, 2, 50)
    >>> model.generate(x["input_ids"], max_new_tokens=4).shape[0]
    1
    """

    backbone_cls = PegasusBackbone

    @classmethod
    def from_preset(cls, preset, **overrides):
        return super().from_preset(preset, **{"is_encoder_decoder": True, **overrides})


@keras.saving.register_keras_serializable(package="keras_models")
class PegasusForCausalLM(DecoderCausalLM):
    """`PegasusForCausalLM`: the Pegasus decoder alone (`is_encoder_decoder=False`) with the
    tied LM head (no bias). Its loss is NOT shifted: `logits[t]` is scored against
    `labels[t]`, as transformers does.

    A call takes the decoder-only `PegasusBackbone`'s call options (`output_hidden_states`,
    `output_attentions`, `head_mask`, `inputs_embeds` (scaled by `sqrt(d_model)` as
    transformers' decoder does), `position_ids`, `use_cache`, `past_key_values`,
    `return_dict`) and `labels`. Outputs: `loss`, `logits`, `past_key_values`,
    `hidden_states`, `attentions` (transformers' order; its always-empty `cross_attentions`
    is left out: this decoder takes no encoder states). Positional order: `input_ids`,
    `attention_mask`, `position_ids`, `head_mask`, `past_key_values`, `inputs_embeds`.

    Examples:
    >>> import numpy as np
    >>> backbone = PegasusBackbone(vocab_size=50, d_model=8, decoder_layers=1,
    ...     decoder_ffn_dim=16, decoder_attention_heads=2, max_position_embeddings=32,
    ...     is_encoder_decoder=False)
    >>> PegasusForCausalLM(backbone)(np.array([[5, 6, 7]]))["logits"].shape
    (1, 3, 50)
    """

    backbone_cls = PegasusBackbone
    shift_labels = False
    hf_head = (CAUSAL_LM_HEAD,)
    default_eos_token_id = 1

    def __init__(self, backbone, **kwargs):
        if getattr(backbone, "is_encoder_decoder", False):
            raise ValueError(
                "PegasusForCausalLM needs the decoder-only PegasusBackbone "
                "(`is_encoder_decoder=False`)."
            )
        super().__init__(backbone, **kwargs)

    @classmethod
    def from_preset(cls, preset, **overrides):
        # A full seq2seq checkpoint loads too: its decoder and shared word table are kept and
        # its encoder left out.
        return super().from_preset(preset, **{"is_encoder_decoder": False, **overrides})

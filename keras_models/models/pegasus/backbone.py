"""Pegasus backbone: a pre-LN encoder-decoder with fixed sinusoidal positions.

Forward pass (transformers' `PegasusModel`):
    scale = sqrt(d_model) if scale_embedding else 1
    encoder:  x = shared[ids] * scale + S[0:L]            # S: half-split sin|cos table
              each layer: x = x + attn(LN(x)); x = x + fc2(act(fc1(LN(x))))
              enc = layer_norm(x)
    decoder:  y = shared[dec_ids] * scale + S[p:p+T]      # p: cached length
              each layer: y = y + causal_attn(LN(y)); y = y + cross_attn(LN(y), enc)
                          y = y + fc2(act(fc1(LN(y))))
              dec = layer_norm(y)
The word table is shared by the encoder, the decoder and the LM head. Positions ignore
padding (there is no offset and no padding-aware rule).

With `is_encoder_decoder=False` the backbone is the decoder alone (what `PegasusForCausalLM`
wraps): inputs `input_ids`, `attention_mask`, no cross-attention.
"""

import math

import keras
from keras import ops

from keras_models.layers.cache_update import cross_attention_cache
from keras_models.layers.decoder_block import (
    TransformerDecoderBlock,
    call_cache,
    run_decoder_blocks,
)
from keras_models.layers.dropout import Dropout
from keras_models.layers.embeddings import ReversibleEmbedding
from keras_models.layers.encoder_block import TransformerEncoderBlock
from keras_models.layers.precision import full_precision
from keras_models.layers.sinusoidal_embedding import SinusoidalPositionEmbedding
from keras_models.models.backbone import Backbone
from keras_models.models.bert_encoder import id_input
from keras_models.models.inputs import cache_length, past_length
from keras_models.models.outputs import SEQ2SEQ_OUTPUT_ORDER
from keras_models.tasks.seq2seq_lm import shift_tokens_right

ENCODER_DECODER_INPUTS = (
    "input_ids",
    "attention_mask",
    "decoder_input_ids",
    "decoder_attention_mask",
)
DECODER_INPUTS = ("input_ids", "attention_mask")
#: Eager-call inputs after the graph's: Flax Pegasus' position ids, then transformers'
#: PyTorch order (`PegasusModel.forward`; no `encoder_outputs`).
ENCODER_DECODER_CALL_INPUTS = (
    "position_ids",
    "decoder_position_ids",
    "head_mask",
    "decoder_head_mask",
    "cross_attn_head_mask",
    "past_key_values",
    "inputs_embeds",
    "decoder_inputs_embeds",
)
#: The same for the decoder alone (`PegasusForCausalLM.forward`).
DECODER_CALL_INPUTS = ("position_ids", "head_mask", "past_key_values", "inputs_embeds")


@keras.saving.register_keras_serializable(package="keras_models")
class PegasusBackbone(Backbone):
    """Pegasus encoder-decoder (`PegasusModel`).

    Inputs (in this order): `input_ids`, `attention_mask` (ones by default),
    `decoder_input_ids` (required), `decoder_attention_mask` (ones by default; the decoder is
    causal in any case). Outputs: `last_hidden_state` (decoder) and
    `encoder_last_hidden_state`. With `is_encoder_decoder=False` (the decoder alone, as in
    `PegasusForCausalLM`): inputs `input_ids`, `attention_mask`; output `last_hidden_state`.

    `encoder_forward()` and `decoder_forward()` are the whole forward pass, one function per
    stack: the functional graph, calls with options (`call_with_options()`), `encode()` /
    `decode()` (the two halves separately) and the cached decoding step (`init_cache()`,
    `call_with_cache()`, one step at a time for generation) all run them.

    Called without `decoder_input_ids` (nor `decoder_inputs_embeds`), the decoder reads
    `input_ids` shifted right behind `decoder_start_token_id`, as transformers' Flax
    `FlaxPegasusModel` documents; its PyTorch `PegasusModel` (5.x) refuses such a call.

    Call options (transformers' `PegasusModel.forward`, plus the Flax seed's position ids): a
    call with any of them runs the forward pass eagerly instead of the functional graph,
    which stays the default path.
        output_hidden_states: also return `encoder_hidden_states` and
            `decoder_hidden_states`, `layers + 1` tensors each: every layer's input, then the
            stack's output after its final LayerNorm (as transformers returns them).
        output_attentions: also return `encoder_attentions`, `decoder_attentions` and
            `cross_attentions`: `[batch, heads, query, key]` probabilities per layer.
        head_mask: `[heads]` or `[encoder_layers, heads]` factors on the encoder's attention
            probabilities (transformers 4.x's meaning); `decoder_head_mask` the same for the
            decoder's self-attention and `cross_attn_head_mask` for its cross-attention
            (`[decoder_layers, heads]`).
        inputs_embeds / decoder_inputs_embeds: `[batch, seq, d_model]` vectors replacing the
            word table lookups. As in transformers 5, the encoder takes `inputs_embeds` as
            they are while the decoder multiplies `decoder_inputs_embeds` by
            `sqrt(d_model)` (with `scale_embedding`), like its own lookups.
        position_ids / decoder_position_ids: `[batch, seq]` rows of the sinusoid table, as
            in transformers' Flax Pegasus (default `0, 1, ...`; after cached tokens, the
            decoder's continue from them).
        use_cache: also return `past_key_values` (off by default, unlike transformers'
            `config.use_cache`: the default call stays on the functional graph).
        past_key_values: what a call with `use_cache=True` returned; `decoder_input_ids` are
            then the new tokens, run after the cached ones exactly as one pass would, and
            `decoder_attention_mask` covers the cached tokens too (`[batch, past + new]`,
            ones by default). Our format, transformers' legacy layout (not its `Cache`
            object): per layer `(self keys, self values, cross keys, cross values)`, each
            `[batch, heads, length, head_dim]`; the decoder alone has no cross entries.
        return_dict: False gives a tuple in transformers' order.
    Outputs in transformers' `Seq2SeqModelOutput` order: `last_hidden_state`,
    `past_key_values`, `decoder_hidden_states`, `decoder_attentions`, `cross_attentions`,
    `encoder_last_hidden_state`, `encoder_hidden_states`, `encoder_attentions`. The decoder
    alone returns `last_hidden_state`, `past_key_values`, `hidden_states`, `attentions` and
    takes `position_ids`, `head_mask`, `past_key_values`, `inputs_embeds` (its
    `cross_attn_head_mask` is refused: it has no encoder states). The constructor arguments
    `output_hidden_states` / `output_attentions` (or the config.json fields) make the
    functional graph itself return those outputs.

    Positional (list) order: `input_ids`, `attention_mask`, `decoder_input_ids`,
    `decoder_attention_mask` (today's inputs), then `position_ids`, `decoder_position_ids`
    (the Flax seed's order), then transformers' PyTorch order: `head_mask`,
    `decoder_head_mask`, `cross_attn_head_mask`, `past_key_values`, `inputs_embeds`,
    `decoder_inputs_embeds` (its `encoder_outputs` is not taken: use `encode()` /
    `decode()`). The decoder alone: `input_ids`, `attention_mask`, `position_ids`,
    `head_mask`, `past_key_values`, `inputs_embeds`.

    Args:
        vocab_size: vocabulary size.
        max_position_embeddings: rows of the sinusoid table.
        encoder_layers: number of encoder layers.
        encoder_ffn_dim: encoder feed-forward width.
        encoder_attention_heads: encoder attention heads.
        decoder_layers: number of decoder layers.
        decoder_ffn_dim: decoder feed-forward width.
        decoder_attention_heads: decoder attention heads.
        activation_function: feed-forward activation (Hugging Face name).
        d_model: model width.
        dropout: dropout on the embeddings and after each attention / feed-forward output.
        attention_dropout: dropout on the attention probabilities.
        activation_dropout: dropout after the decoder feed-forward activation (the shared
            encoder block has no such dropout; training only).
        init_std: stddev of the initializers.
        scale_embedding: multiply word embeddings by `sqrt(d_model)`.
        pad_token_id: padding id (also written after a generated sequence ends).
        eos_token_id: end-of-sequence id, the default stop token of `generate`.
        decoder_start_token_id: first decoder token (used to shift labels and to generate).
        forced_eos_token_id: token forced at the last generation step.
        is_encoder_decoder: False builds the decoder alone.
        layer_norm_eps: LayerNorm epsilon (transformers hard-codes 1e-5).
        output_hidden_states: the functional graph also returns the hidden states.
        output_attentions: the functional graph also returns the attentions.
        dtype: dtype policy.

    Examples:
    >>> import numpy as np
    >>> model = PegasusBackbone(vocab_size=50, d_model=8, encoder_layers=1, decoder_layers=1,
    ...     encoder_ffn_dim=16, decoder_ffn_dim=16, encoder_attention_heads=2,
    ...     decoder_attention_heads=2, max_position_embeddings=32)
    >>> out = model({"input_ids": np.array([[5, 6, 7, 1]]), "decoder_input_ids": np.array([[0, 5]])})
    >>> out["last_hidden_state"].shape, out["encoder_last_hidden_state"].shape
    ((1, 2, 8), (1, 4, 8))
    """

    model_type = "pegasus"

    def __init__(
        self,
        vocab_size=50265,
        max_position_embeddings=1024,
        encoder_layers=12,
        encoder_ffn_dim=4096,
        encoder_attention_heads=16,
        decoder_layers=12,
        decoder_ffn_dim=4096,
        decoder_attention_heads=16,
        activation_function="gelu",
        d_model=1024,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        init_std=0.02,
        scale_embedding=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        forced_eos_token_id=1,
        is_encoder_decoder=True,
        layer_norm_eps=1e-5,
        output_hidden_states=False,
        output_attentions=False,
        dtype=None,
        **kwargs,
    ):
        init = keras.initializers.RandomNormal(stddev=init_std)

        def layer_norm(name):
            return keras.layers.LayerNormalization(
                epsilon=layer_norm_eps, dtype=full_precision(dtype), name=name
            )

        # The layers are attributes before the graph is built: `encoder_forward` and
        # `decoder_forward` read them, for the functional graph here, for `encode` / `decode`
        # and for every cached decoding step.
        self.embed_scale = math.sqrt(d_model) if scale_embedding else 1.0
        self.embed_tokens = ReversibleEmbedding(
            vocab_size, d_model, embeddings_initializer=init, dtype=dtype, name="shared"
        )
        # One table serves both sides: transformers stores two identical copies.
        self.embed_positions = SinusoidalPositionEmbedding(
            max_position_embeddings, d_model, dtype=full_precision(dtype), name="embed_positions"
        )
        self.embed_dropout = Dropout(dropout, dtype=full_precision(dtype), name="embed_dropout")
        self.encoder_layers_list = []
        self.encoder_layer_norm = None
        if is_encoder_decoder:
            self.encoder_layers_list = [
                TransformerEncoderBlock(
                    d_model,
                    encoder_attention_heads,
                    encoder_ffn_dim,
                    hidden_act=activation_function,
                    layer_norm_eps=layer_norm_eps,
                    hidden_dropout_prob=dropout,
                    attention_probs_dropout_prob=attention_dropout,
                    normalize_first=True,
                    clamp_float16=True,
                    kernel_initializer=init,
                    dtype=dtype,
                    name=f"encoder_layer_{i}",
                )
                for i in range(encoder_layers)
            ]
            self.encoder_layer_norm = layer_norm("encoder_layer_norm")
        self.decoder_layers_list = [
            TransformerDecoderBlock(
                d_model,
                decoder_attention_heads,
                decoder_ffn_dim,
                hidden_act=activation_function,
                layer_norm_eps=layer_norm_eps,
                dropout=dropout,
                attention_dropout=attention_dropout,
                activation_dropout=activation_dropout,
                normalize_first=True,
                # PegasusForCausalLM checkpoints keep the cross-attention weights too.
                use_cross_attention=True,
                kernel_initializer=init,
                dtype=dtype,
                name=f"decoder_layer_{i}",
            )
            for i in range(decoder_layers)
        ]
        self.decoder_layer_norm = layer_norm("decoder_layer_norm")

        names = ENCODER_DECODER_INPUTS if is_encoder_decoder else DECODER_INPUTS
        self.is_encoder_decoder = is_encoder_decoder
        inputs = {name: id_input(name) for name in names}
        outputs = self.forward_outputs(
            inputs,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            input_order=names,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            dtype=dtype,
            **kwargs,
        )
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.encoder_layers = encoder_layers
        self.encoder_ffn_dim = encoder_ffn_dim
        self.encoder_attention_heads = encoder_attention_heads
        self.decoder_layers = decoder_layers
        self.decoder_ffn_dim = decoder_ffn_dim
        self.decoder_attention_heads = decoder_attention_heads
        self.activation_function = activation_function
        self.d_model = d_model
        self.hidden_size = d_model
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.init_std = init_std
        self.scale_embedding = scale_embedding
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id
        self.decoder_start_token_id = decoder_start_token_id
        self.forced_eos_token_id = forced_eos_token_id
        self.is_encoder_decoder = is_encoder_decoder
        self.layer_norm_eps = layer_norm_eps

    @property
    def token_embedding(self):
        return self.embed_tokens

    @property
    def call_inputs(self):
        if getattr(self, "is_encoder_decoder", True):
            return ENCODER_DECODER_CALL_INPUTS
        return DECODER_CALL_INPUTS

    #: `use_cache` / `past_key_values` continue the decoder.
    takes_cache = True

    @property
    def output_order(self):
        return SEQ2SEQ_OUTPUT_ORDER if self.is_encoder_decoder else ()

    def head_mask_shapes(self):
        decoder = (self.decoder_layers, self.decoder_attention_heads)
        if not self.is_encoder_decoder:
            return {"head_mask": decoder}
        encoder = (self.encoder_layers, self.encoder_attention_heads)
        return {"head_mask": encoder, "decoder_head_mask": decoder, "cross_attn_head_mask": decoder}

    def fill_defaults(self, inputs):
        # The self-attention mask of the decoder also covers cached tokens (`past_key_values`).
        past = past_length(inputs)
        if "attention_mask" not in inputs:
            inputs["attention_mask"] = self._ones(
                inputs["input_ids"], 0 if self.is_encoder_decoder else past
            )
        if not self.is_encoder_decoder:
            return inputs
        if "decoder_input_ids" not in inputs:
            if "inputs_embeds" in inputs:
                raise ValueError(
                    "`decoder_input_ids` (or `decoder_inputs_embeds`) is required with "
                    "`inputs_embeds`: there are no ids to shift into decoder inputs."
                )
            # As transformers' Flax Pegasus documents (its PyTorch PegasusModel refuses the
            # call): the decoder reads `input_ids` shifted right behind the start token.
            inputs["decoder_input_ids"] = shift_tokens_right(
                inputs["input_ids"], self.pad_token_id, self.decoder_start_token_id
            )
        if "decoder_attention_mask" not in inputs:
            inputs["decoder_attention_mask"] = self._ones(inputs["decoder_input_ids"], past)
        return inputs

    @staticmethod
    def _ones(ids, past):
        if not past:
            return ops.ones_like(ids)
        return ops.ones((ids.shape[0], past + ids.shape[1]), "int32")

    def input_limits(self):
        return {name: (0, self.vocab_size) for name in ("input_ids", "decoder_input_ids")}

    def max_lengths(self):
        # The sinusoidal table has `max_position_embeddings` rows on each side.
        return {name: self.max_position_embeddings for name in ("input_ids", "decoder_input_ids")}

    # --- the forward pass -----------------------------------------------------------------
    def _embed(
        self,
        ids,
        start_index=0,
        training=None,
        inputs_embeds=None,
        position_ids=None,
        scale_given=False,
    ):
        """A stack's input: scaled word embeddings (or `inputs_embeds`, scaled when
        `scale_given`) plus the sinusoid rows from `start_index` (or of `position_ids`), then
        dropout."""
        x = self.embed_tokens(ids) if inputs_embeds is None else inputs_embeds
        if self.embed_scale != 1.0 and (inputs_embeds is None or scale_given):
            x = x * self.embed_scale
        x = x + self.embed_positions(x, start_index=start_index, position_ids=position_ids)
        return self.embed_dropout(x, training=training)

    def encoder_forward(
        self,
        input_ids,
        attention_mask,
        training=None,
        inputs_embeds=None,
        position_ids=None,
        head_mask=None,
        output_hidden_states=False,
        output_attentions=False,
    ):
        """The encoder stack (transformers' `PegasusEncoder.forward`).

        Args:
            input_ids: `[batch, src_len]` token ids.
            attention_mask: `[batch, src_len]` 0/1 padding mask.
            training: whether dropout applies.
            inputs_embeds: optional `[batch, src_len, d_model]` vectors replacing the word
                table lookup; NOT multiplied by `sqrt(d_model)`, as transformers 5's encoder
                takes them.
            position_ids: optional `[batch, src_len]` rows of the sinusoid table (default
                `0, 1, ...`).
            head_mask: optional `[encoder_layers, heads]` factors on the attention
                probabilities.
            output_hidden_states: also return `hidden_states`: every layer's input, then
                `last_hidden_state` (after the final LayerNorm, as transformers).
            output_attentions: also return `attentions`.

        Returns:
            A dict: `last_hidden_state` (`[batch, src_len, d_model]`), plus `hidden_states`
            and `attentions` when asked for.
        """
        x = self._embed(
            input_ids, training=training, inputs_embeds=inputs_embeds, position_ids=position_ids
        )
        explicit = output_attentions or head_mask is not None
        inputs, attentions = [], []
        for i, block in enumerate(self.encoder_layers_list):
            inputs.append(x)
            x = block(
                x,
                attention_mask=attention_mask,
                head_mask=None if head_mask is None else head_mask[i],
                return_attention_scores=explicit,
                training=training,
            )
            if explicit:
                x, probs = x
                attentions.append(probs)
        x = self.encoder_layer_norm(x)
        outputs = {"last_hidden_state": x}
        if output_hidden_states:
            outputs["hidden_states"] = (*inputs, x)
        if output_attentions:
            outputs["attentions"] = tuple(attentions)
        return outputs

    def decoder_forward(
        self,
        input_ids,
        attention_mask,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        cache=None,
        cache_index=0,
        training=None,
        inputs_embeds=None,
        position_ids=None,
        head_mask=None,
        cross_attn_head_mask=None,
        output_hidden_states=False,
        output_attentions=False,
    ):
        """The decoder stack (transformers' `PegasusDecoder.forward`), for the functional
        graph, for calls with options and for cached decoding alike.

        Args:
            input_ids: `[batch, n]` decoder token ids, at positions `cache_index...`.
            attention_mask: `[batch, key_len]` 0/1 mask of the visible self-attention keys:
                of the `n` tokens without a cache; of every cache slot with one (future
                slots are hidden by the causal mask).
            encoder_hidden_states: optional `[batch, src_len, d_model]` encoder states for
                the cross-attention (none: no cross-attention, unless `cache` holds its keys
                and values).
            encoder_attention_mask: `[batch, src_len]` padding mask of the encoder states.
            cache: None, or the dict from `init_cache`: its self-attention caches are
                written at `cache_index...` (consumed: on torch in place), and its
                cross-attention keys/values and encoder mask (when it holds them) replace the
                two arguments above.
            cache_index: cache slot (and position) of the first of the `n` tokens.
            training: whether dropout applies.
            inputs_embeds: optional `[batch, n, d_model]` vectors replacing the word table
                lookup; multiplied by `sqrt(d_model)` like looked-up ones, as transformers 5's
                decoder does.
            position_ids: optional `[batch, n]` rows of the sinusoid table (default
                `cache_index, cache_index + 1, ...`).
            head_mask: optional `[decoder_layers, heads]` factors on the self-attention
                probabilities.
            cross_attn_head_mask: the same for the cross-attention.
            output_hidden_states: also return `hidden_states` (every layer's input, then
                `last_hidden_state`).
            output_attentions: also return `attentions` and (with cross-attention)
                `cross_attentions`.

        Returns:
            `(outputs, cache)`: the dict `last_hidden_state` (`[batch, n, d_model]`), plus
            `hidden_states`, `attentions`, `cross_attentions` when asked for, and the updated
            cache dict (None without a cache).
        """
        y = self._embed(
            input_ids,
            start_index=cache_index,
            training=training,
            inputs_embeds=inputs_embeds,
            position_ids=position_ids,
            # transformers 5 scales given decoder vectors too (but not the encoder's).
            scale_given=True,
        )
        cross = None
        if cache is not None and "cross" in cache:
            # Computed once by `init_cache`; absent for a decoder without encoder states.
            cross = cache["cross"]
            encoder_attention_mask = cache["encoder_mask"]
        stack = run_decoder_blocks(
            self.decoder_layers_list,
            y,
            attention_mask,
            cache=None if cache is None else cache["self"],
            cache_index=cache_index,
            cross_attention_cache=cross,
            head_mask=head_mask,
            cross_attn_head_mask=cross_attn_head_mask,
            output_attentions=output_attentions,
            training=training,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
        )
        if cache is not None:
            cache = dict(cache)
            cache["self"] = stack["cache"]
        y = self.decoder_layer_norm(stack["output"])
        outputs = {"last_hidden_state": y}
        if output_hidden_states:
            outputs["hidden_states"] = (*stack["inputs"], y)
        if output_attentions:
            outputs["attentions"] = tuple(stack["attentions"])
            if stack["cross_attentions"]:
                outputs["cross_attentions"] = tuple(stack["cross_attentions"])
        return outputs, cache

    def forward_outputs(self, values, training=None, **options):
        """The whole forward pass on a full input dict: the functional graph's outputs (see
        `call_with_options` for `options`)."""
        if not self.is_encoder_decoder:
            return self.decoder_outputs(
                values["input_ids"],
                values["attention_mask"],
                inputs_embeds=values.get("inputs_embeds"),
                position_ids=values.get("position_ids"),
                training=training,
                **options,
            )
        head_mask = options.pop("head_mask", None)
        encoder = self.encoder_forward(
            values["input_ids"],
            values["attention_mask"],
            training=training,
            inputs_embeds=values.get("inputs_embeds"),
            position_ids=values.get("position_ids"),
            head_mask=head_mask,
            output_hidden_states=options.get("output_hidden_states", False),
            output_attentions=options.get("output_attentions", False),
        )
        decoder = self.decoder_outputs(
            values["decoder_input_ids"],
            values["decoder_attention_mask"],
            encoder["last_hidden_state"],
            values["attention_mask"],
            inputs_embeds=values.get("decoder_inputs_embeds"),
            position_ids=values.get("decoder_position_ids"),
            head_mask=options.pop("decoder_head_mask", None),
            training=training,
            **options,
        )
        # transformers' Seq2SeqModelOutput names: the decoder's first, the encoder's after.
        outputs = {"last_hidden_state": decoder.pop("last_hidden_state")}
        for name, value in decoder.items():
            outputs[
                name if name in ("past_key_values", "cross_attentions") else f"decoder_{name}"
            ] = value
        outputs["encoder_last_hidden_state"] = encoder.pop("last_hidden_state")
        outputs.update({f"encoder_{name}": value for name, value in encoder.items()})
        return outputs

    def call_with_options(self, values, training=None, **options):
        """One forward pass with transformers' call options (see the class docstring)."""
        return self.forward_outputs(values, training=training, **options)

    def decoder_outputs(
        self,
        input_ids,
        attention_mask,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        use_cache=False,
        past_key_values=None,
        **options,
    ):
        """`decoder_forward` with a cache when `use_cache` is set or `past_key_values` are
        continued; the cache comes back as `past_key_values`, in transformers' legacy layout:
        per layer `(self keys, self values)` plus, with encoder states, `(cross keys, cross
        values)`, each `[batch, heads, length, head_dim]`."""
        cache, index = None, 0
        if use_cache or past_key_values is not None:
            batch, length = input_ids.shape[0], input_ids.shape[1]
            self_caches, index = call_cache(
                self.decoder_layers_list, batch, length, past_key_values
            )
            cache = self._with_cross_cache(
                {"self": self_caches}, encoder_hidden_states, encoder_attention_mask
            )
        outputs, cache = self.decoder_forward(
            input_ids,
            attention_mask,
            encoder_hidden_states,
            encoder_attention_mask,
            cache=cache,
            cache_index=index,
            **options,
        )
        if cache is None:
            return outputs
        past = cache["self"]
        if "cross" in cache:
            past = tuple((*own, *cross) for own, cross in zip(past, cache["cross"]))
        last = outputs.pop("last_hidden_state")
        return {"last_hidden_state": last, "past_key_values": past, **outputs}

    # --- the two halves ------------------------------------------------------------------
    def _check_encoder(self):
        if not self.is_encoder_decoder:
            raise ValueError("This PegasusBackbone is decoder-only (`is_encoder_decoder=False`).")

    def encode(self, input_ids, attention_mask=None, training=None):
        """Encoder states `[batch, src_len, d_model]` (`encoder_last_hidden_state`)."""
        self._check_encoder()
        input_ids = ops.convert_to_tensor(input_ids, "int32")
        if attention_mask is None:
            attention_mask = ops.ones_like(input_ids)
        return self.encoder_forward(input_ids, attention_mask, training=training)[
            "last_hidden_state"
        ]

    def decode(
        self,
        decoder_input_ids,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        decoder_attention_mask=None,
        training=None,
        **options,
    ):
        """Decoder states `[batch, tgt_len, d_model]` over all `decoder_input_ids` at once.

        Cross-attention runs when `encoder_hidden_states` is given (masked by
        `encoder_attention_mask`, ones by default). With call options (`decoder_position_ids`,
        `past_key_values`, `use_cache`, `output_hidden_states`, `output_attentions`,
        `head_mask`, `cross_attn_head_mask`), the decoder's output dict instead (see
        `decoder_outputs`): `last_hidden_state`, `past_key_values`, `hidden_states`,
        `attentions`, `cross_attentions` as asked for. With `past_key_values`,
        `decoder_input_ids` are the new tokens and `decoder_attention_mask` covers the cached
        ones too.
        """
        ids = ops.convert_to_tensor(decoder_input_ids, "int32")
        past = cache_length(options.get("past_key_values"))
        if decoder_attention_mask is None:
            decoder_attention_mask = self._ones(ids, past)
        if encoder_hidden_states is not None and encoder_attention_mask is None:
            shape = ops.shape(encoder_hidden_states)
            encoder_attention_mask = ops.ones((shape[0], shape[1]), dtype="int32")
        positions = options.pop("decoder_position_ids", None)
        outputs = self.decoder_outputs(
            ids,
            decoder_attention_mask,
            encoder_hidden_states,
            encoder_attention_mask,
            training=training,
            position_ids=None if positions is None else ops.convert_to_tensor(positions, "int32"),
            **options,
        )
        if not options and positions is None:
            return outputs["last_hidden_state"]
        return outputs

    # --- cached decoding (keras_models.generation) ---------------------------------------
    def init_cache(
        self, batch_size, max_length, encoder_hidden_states=None, encoder_attention_mask=None
    ):
        """Decoder caches: zero self-attention caches (keys and values,
        `[batch, heads, max_length, head_dim]` each) per layer and, given encoder states, their
        cross-attention keys/values (computed here, once) and the encoder mask."""
        cache = {
            "self": tuple(b.init_cache(batch_size, max_length) for b in self.decoder_layers_list)
        }
        return self._with_cross_cache(cache, encoder_hidden_states, encoder_attention_mask)

    def _with_cross_cache(self, cache, encoder_hidden_states, encoder_attention_mask):
        """`cache` plus, given encoder states, their cross-attention keys/values per layer
        (computed once) and the encoder mask."""
        if encoder_hidden_states is None:
            return cache
        blocks = self.decoder_layers_list
        return {
            **cache,
            **cross_attention_cache(blocks, encoder_hidden_states, encoder_attention_mask),
        }

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index):
        """Runs `token_ids` (`[batch, n]`) at decoder positions `cache_index...`; returns
        `(hidden_states, cache)`. `padding_mask` (`[batch, max_length]`) marks the visible
        cache slots; future slots are hidden by the causal mask."""
        outputs, cache = self.decoder_forward(
            token_ids, padding_mask, cache=cache, cache_index=cache_index
        )
        return outputs["last_hidden_state"], cache

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            encoder_layers=self.encoder_layers,
            encoder_ffn_dim=self.encoder_ffn_dim,
            encoder_attention_heads=self.encoder_attention_heads,
            decoder_layers=self.decoder_layers,
            decoder_ffn_dim=self.decoder_ffn_dim,
            decoder_attention_heads=self.decoder_attention_heads,
            activation_function=self.activation_function,
            d_model=self.d_model,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            activation_dropout=self.activation_dropout,
            init_std=self.init_std,
            scale_embedding=self.scale_embedding,
            pad_token_id=self.pad_token_id,
            eos_token_id=self.eos_token_id,
            decoder_start_token_id=self.decoder_start_token_id,
            forced_eos_token_id=self.forced_eos_token_id,
            is_encoder_decoder=self.is_encoder_decoder,
            layer_norm_eps=self.layer_norm_eps,
        )
        return config

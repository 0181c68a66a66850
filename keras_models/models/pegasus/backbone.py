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

from keras_models.layers.decoder_block import TransformerDecoderBlock
from keras_models.layers.dropout import Dropout
from keras_models.layers.embeddings import ReversibleEmbedding
from keras_models.layers.encoder_block import TransformerEncoderBlock
from keras_models.layers.precision import full_precision
from keras_models.layers.sinusoidal_embedding import SinusoidalPositionEmbedding
from keras_models.models.backbone import Backbone
from keras_models.models.bert_encoder import id_input

ENCODER_DECODER_INPUTS = (
    "input_ids",
    "attention_mask",
    "decoder_input_ids",
    "decoder_attention_mask",
)
DECODER_INPUTS = ("input_ids", "attention_mask")


@keras.saving.register_keras_serializable(package="keras_models")
class PegasusBackbone(Backbone):
    """Pegasus encoder-decoder (`PegasusModel`).

    Inputs (in this order): `input_ids`, `attention_mask` (ones by default),
    `decoder_input_ids` (required), `decoder_attention_mask` (ones by default; the decoder is
    causal in any case). Outputs: `last_hidden_state` (decoder) and
    `encoder_last_hidden_state`. With `is_encoder_decoder=False` (the decoder alone, as in
    `PegasusForCausalLM`): inputs `input_ids`, `attention_mask`; output `last_hidden_state`.

    `encoder_forward()` and `decoder_forward()` are the whole forward pass, one function per
    stack: the functional graph, `encode()` / `decode()` (the two halves separately) and the
    cached decoding step (`init_cache()`, `call_with_cache()`, one step at a time for
    generation) all run them.

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
        inputs = {name: id_input(name) for name in names}
        if is_encoder_decoder:
            encoder_states = self.encoder_forward(inputs["input_ids"], inputs["attention_mask"])
            decoder_states, _ = self.decoder_forward(
                inputs["decoder_input_ids"],
                inputs["decoder_attention_mask"],
                encoder_states,
                inputs["attention_mask"],
            )
            outputs = {
                "last_hidden_state": decoder_states,
                "encoder_last_hidden_state": encoder_states,
            }
        else:
            decoder_states, _ = self.decoder_forward(inputs["input_ids"], inputs["attention_mask"])
            outputs = {"last_hidden_state": decoder_states}
        super().__init__(inputs=inputs, outputs=outputs, input_order=names, dtype=dtype, **kwargs)
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

    def fill_defaults(self, inputs):
        if "attention_mask" not in inputs:
            inputs["attention_mask"] = ops.ones_like(inputs["input_ids"])
        if not self.is_encoder_decoder:
            return inputs
        if "decoder_input_ids" not in inputs:
            raise ValueError(
                "`decoder_input_ids` is required by the Pegasus encoder-decoder (start them with "
                f"`decoder_start_token_id`={self.decoder_start_token_id}). "
                "PegasusForConditionalGeneration also builds them from `labels`; use "
                "`generate()` to decode from the input alone."
            )
        if "decoder_attention_mask" not in inputs:
            inputs["decoder_attention_mask"] = ops.ones_like(inputs["decoder_input_ids"])
        return inputs

    def input_limits(self):
        return {name: (0, self.vocab_size) for name in ("input_ids", "decoder_input_ids")}

    def max_lengths(self):
        # The sinusoidal table has `max_position_embeddings` rows on each side.
        return {name: self.max_position_embeddings for name in ("input_ids", "decoder_input_ids")}

    # --- the forward pass -----------------------------------------------------------------
    def _embed(self, ids, start_index=0, training=None):
        """Both stacks' input: scaled word embeddings plus the sinusoid rows from
        `start_index`, then dropout."""
        x = self.embed_tokens(ids)
        if self.embed_scale != 1.0:
            x = x * self.embed_scale
        x = x + self.embed_positions(x, start_index=start_index)
        return self.embed_dropout(x, training=training)

    def encoder_forward(self, input_ids, attention_mask, training=None):
        """The encoder stack: `[batch, src_len, d_model]` states of `input_ids`.

        Args:
            input_ids: `[batch, src_len]` token ids.
            attention_mask: `[batch, src_len]` 0/1 padding mask.
            training: whether dropout applies.
        """
        x = self._embed(input_ids, training=training)
        for block in self.encoder_layers_list:
            x = block(x, attention_mask=attention_mask, training=training)
        return self.encoder_layer_norm(x)

    def decoder_forward(
        self,
        input_ids,
        attention_mask,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        cache=None,
        cache_index=0,
        training=None,
    ):
        """The decoder stack, for the functional graph and for cached decoding alike.

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
                cross-attention keys/values and encoder mask replace the two arguments above.
            cache_index: cache slot (and position) of the first of the `n` tokens.
            training: whether dropout applies.

        Returns:
            `(hidden_states, cache)`: `[batch, n, d_model]` and the updated cache dict (None
            without a cache).
        """
        y = self._embed(input_ids, start_index=cache_index, training=training)
        cross = None
        if cache is not None:
            # Computed once by `init_cache`; absent for a decoder without encoder states.
            cross = cache.get("cross")
            encoder_attention_mask = cache.get("encoder_mask")
        new_self = []
        for i, block in enumerate(self.decoder_layers_list):
            out = block(
                y,
                attention_mask=attention_mask,
                encoder_hidden_states=encoder_hidden_states,
                encoder_attention_mask=encoder_attention_mask,
                cache=None if cache is None else cache["self"][i],
                cache_index=cache_index,
                cross_attention_cache=None if cross is None else cross[i],
                training=training,
            )
            if cache is None:
                y = out
            else:  # with a cache the block also returns its updated self-attention cache
                y, layer_cache = out
                new_self.append(layer_cache)
        if cache is not None:
            cache = dict(cache)
            cache["self"] = tuple(new_self)
        return self.decoder_layer_norm(y), cache

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
        return self.encoder_forward(input_ids, attention_mask, training=training)

    def decode(
        self,
        decoder_input_ids,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        decoder_attention_mask=None,
        training=None,
    ):
        """Decoder states `[batch, tgt_len, d_model]` over all `decoder_input_ids` at once.

        Cross-attention runs when `encoder_hidden_states` is given (masked by
        `encoder_attention_mask`, ones by default).
        """
        ids = ops.convert_to_tensor(decoder_input_ids, "int32")
        if decoder_attention_mask is None:
            decoder_attention_mask = ops.ones_like(ids)
        if encoder_hidden_states is not None and encoder_attention_mask is None:
            shape = ops.shape(encoder_hidden_states)
            encoder_attention_mask = ops.ones((shape[0], shape[1]), dtype="int32")
        hidden_states, _ = self.decoder_forward(
            ids,
            decoder_attention_mask,
            encoder_hidden_states,
            encoder_attention_mask,
            training=training,
        )
        return hidden_states

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
        if encoder_hidden_states is not None:
            cache["cross"] = tuple(
                b.compute_cross_attention_cache(encoder_hidden_states)
                for b in self.decoder_layers_list
            )
            if encoder_attention_mask is None:
                shape = ops.shape(encoder_hidden_states)
                encoder_attention_mask = ops.ones((shape[0], shape[1]), dtype="int32")
            cache["encoder_mask"] = ops.cast(encoder_attention_mask, "int32")
        return cache

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index):
        """Runs `token_ids` (`[batch, n]`) at decoder positions `cache_index...`; returns
        `(hidden_states, cache)`. `padding_mask` (`[batch, max_length]`) marks the visible
        cache slots; future slots are hidden by the causal mask."""
        return self.decoder_forward(token_ids, padding_mask, cache=cache, cache_index=cache_index)

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

"""The encoder stack shared by the BERT-style families (RoBERTa, MegatronBERT, RoCBert, RoFormer)."""

import keras
from keras import ops

from keras_models.layers.cache_update import cross_attention_cache
from keras_models.layers.decoder_block import causal_attention_mask
from keras_models.layers.encoder_block import TransformerEncoderBlock
from keras_models.layers.precision import full_precision
from keras_models.models.backbone import Backbone
from keras_models.models.inputs import cache_length, past_length

#: The graph inputs of a backbone built with `add_cross_attention`, after all the others.
CROSS_INPUTS = ("encoder_hidden_states", "encoder_attention_mask")


def id_input(name):
    return keras.Input(shape=(None,), dtype="int32", name=name)


def encoder_attention_mask(attention_mask, causal):
    """A `[batch, q, k]` (causal) or `[batch, 1, k]` boolean mask from a 2-D padding mask."""
    # `!= 0` rather than a cast to bool (the same values): jax2onnx (0.17) drops a reshape, a
    # cast and a reshape back to the first rank as a no-op even when the symbolic sizes
    # differ, which is what a multiple-choice mask (flattened, cast, expanded) would be.
    mask = ops.expand_dims(ops.not_equal(attention_mask, 0), 1)
    if causal:
        # Positions from the mask itself (not arange) so this also runs on symbolic inputs.
        idx = ops.cumsum(ops.ones_like(attention_mask[0]), axis=0)
        causal_mask = ops.greater_equal(ops.expand_dims(idx, 1), ops.expand_dims(idx, 0))
        mask = ops.logical_and(mask, ops.expand_dims(causal_mask, 0))
    return mask


class BertStyleBackbone(Backbone):
    """Embeddings, a stack of `TransformerEncoderBlock`s, an optional final LayerNorm and pooler.

    Family backbones pass their embedding layer and the switches that make them differ.
    Subclasses with extra id inputs (RoCBert) or another embedding pass (`embed`) override
    `extra_inputs` / `embed`.

    Outputs: `last_hidden_state`, and `pooler_output` when `add_pooling_layer` is set; with
    `output_hidden_states` / `output_attentions` (constructor or call arguments) also
    `hidden_states` and `attentions` (and `cross_attentions`), as transformers returns them.

    A call takes, after the family's graph inputs and in this list order, `head_mask`
    (`[heads]` or `[layers, heads]` factors on the attention probabilities) and
    `inputs_embeds` (`[batch, seq, embedding width]` vectors in place of `input_ids`), as
    transformers orders them; and the keywords `output_hidden_states`, `output_attentions` and
    `return_dict`. A call that needs them runs `encoder_forward` eagerly; `fit`, `evaluate`
    and `predict` run the graph, which takes neither `head_mask` nor `inputs_embeds`.

    Decoders (`is_decoder=True`, transformers' `*ForCausalLM` configs):

    - `add_cross_attention=True` adds a cross-attention sub-layer to every block (weights
      `crossattention.*`) and two graph inputs, `encoder_hidden_states` (`[batch, src_len,
      hidden_size]` floats) and `encoder_attention_mask` (`[batch, src_len]`, ones by
      default). In the list form they come last, after `head_mask` and `inputs_embeds`. A call
      without `encoder_hidden_states` skips the cross-attention, as transformers does (an
      eager call; `fit` / `predict` run the graph, which needs them).
    - `use_cache=True` in a call returns `past_key_values`; passing them back with the next
      ids (and the attention mask of past and new tokens) continues the sequence. Our cache
      format: a tuple with one `(keys, values)` pair per layer, each `[batch, num_heads,
      past_length, head_dim]` (the self-attention only: the cross-attention keys are
      recomputed from the `encoder_hidden_states` given with each call, as transformers
      needs them with each call too). Default positions continue after the past as
      transformers' do (RoBERTa: `(cumsum(ids != pad) + past_length) * (ids != pad) + pad`;
      MegatronBERT, RoCBert: `past_length + arange`; RoFormer's rotary angles start at
      `past_length`).
    - `init_cache` / `call_with_cache` run the same forward pass for the shared decode loop
      (`generate` of the `*ForCausalLM` tasks).
    """

    #: Extra id inputs placed after `input_ids` in the documented order.
    extra_inputs = ()
    #: Calls take `use_cache` / `past_key_values`; `call_with_options` refuses them for an
    #: encoder (`is_decoder=False`) with a message that says so.
    takes_cache = True
    _arguments_end = True

    def __init__(
        self,
        embeddings,
        hidden_size,
        num_hidden_layers,
        num_attention_heads,
        intermediate_size,
        hidden_act,
        hidden_dropout_prob,
        attention_probs_dropout_prob,
        layer_norm_eps,
        initializer_range,
        normalize_first,
        final_layer_norm,
        add_pooling_layer,
        is_decoder,
        use_token_type_ids,
        use_position_ids,
        rotary_embedding=None,
        rotary_value=False,
        add_cross_attention=False,
        output_hidden_states=False,
        output_attentions=False,
        dtype=None,
        **kwargs,
    ):
        if add_cross_attention and not is_decoder:
            raise ValueError(
                "`add_cross_attention=True` needs `is_decoder=True`: cross-attention layers "
                "belong to a decoder (transformers refuses this config too)."
            )
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        names = ["input_ids", *self.extra_inputs, "attention_mask"]
        if use_token_type_ids:
            names.append("token_type_ids")
        if use_position_ids:
            names.append("position_ids")
        if add_cross_attention:
            names.extend(CROSS_INPUTS)
        # The layers and switches are attributes before the graph is built: `encoder_forward`
        # reads them, for the functional graph here and for eager calls with call options.
        self.embeddings = embeddings
        self.is_decoder = is_decoder
        self.add_cross_attention = add_cross_attention
        self.encoder_layers = [
            TransformerEncoderBlock(
                hidden_size,
                num_attention_heads,
                intermediate_size,
                hidden_act=hidden_act,
                layer_norm_eps=layer_norm_eps,
                hidden_dropout_prob=hidden_dropout_prob,
                attention_probs_dropout_prob=attention_probs_dropout_prob,
                normalize_first=normalize_first,
                rotary_embedding=rotary_embedding,
                rotary_value=rotary_value,
                kernel_initializer=init,
                use_cross_attention=add_cross_attention,
                dtype=dtype,
                name=f"encoder_layer_{i}",
            )
            for i in range(num_hidden_layers)
        ]
        self.final_norm = None
        if final_layer_norm:
            self.final_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_eps, dtype=full_precision(dtype), name="final_layer_norm"
            )
        self.pooler = None
        if add_pooling_layer:
            self.pooler = keras.layers.Dense(
                hidden_size,
                activation="tanh",
                kernel_initializer=init,
                dtype=dtype,
                name="pooler",
            )
        inputs = {name: id_input(name) for name in names}
        if add_cross_attention:
            inputs["encoder_hidden_states"] = keras.Input(
                shape=(None, hidden_size), name="encoder_hidden_states"
            )
        outputs = self.encoder_forward(
            inputs,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            input_order=names,
            dtype=dtype,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            **kwargs,
        )
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.add_pooling_layer = add_pooling_layer

    def encoder_forward(
        self,
        inputs,
        output_hidden_states=False,
        output_attentions=False,
        head_mask=None,
        training=None,
        cache=None,
        cache_index=0,
        cross_cache=None,
    ):
        """The forward pass (transformers' `forward`) on a full input dict, symbolic or eager.

        `inputs["inputs_embeds"]`, when present, replaces the word-table lookup;
        `inputs["encoder_hidden_states"]` (and `"encoder_attention_mask"`), when present, feed
        the cross-attention. `head_mask` is `[layers, heads]` factors on the attention
        probabilities. With `cache` (one `(keys, values)` pair per layer, `[batch, heads,
        max_len, head_dim]` each) the tokens are written at slot `cache_index` and attend to
        every slot that `inputs["attention_mask"]` (`[batch, max_len]`) shows, causally;
        `cross_cache` holds precomputed cross-attention keys and values per layer.

        Returns the output dict: `last_hidden_state`, `pooler_output` (with a pooler),
        `hidden_states` (the input of every layer, then `last_hidden_state`) when asked for,
        `past_key_values` (the updated cache) with a cache, `attentions` and
        `cross_attentions` (when the cross-attention ran) when asked for.
        """
        x = self.embed(self.embeddings, inputs, training=training)
        if cache is None:
            mask = encoder_attention_mask(inputs["attention_mask"], causal=self.is_decoder)
        else:
            length = ops.shape(cache[0][0])[2]
            mask = causal_attention_mask(
                ops.shape(x)[1], length, cache_index, inputs["attention_mask"]
            )
        encoder_states = inputs.get("encoder_hidden_states")
        cross = encoder_states is not None or cross_cache is not None
        if cross and not self.add_cross_attention:
            raise ValueError(
                f"`encoder_hidden_states` needs a {type(self).__name__} built with "
                "`add_cross_attention=True` (and `is_decoder=True`); this one has no "
                "cross-attention layers."
            )
        hidden_states, attentions, cross_attentions, new_cache = [], [], [], []
        explicit = output_attentions or head_mask is not None
        for i, block in enumerate(self.encoder_layers):
            hidden_states.append(x)
            out = block(
                x,
                attention_mask=mask,
                head_mask=None if head_mask is None else head_mask[i],
                return_attention_scores=explicit,
                encoder_hidden_states=encoder_states,
                encoder_attention_mask=inputs.get("encoder_attention_mask"),
                cache=None if cache is None else cache[i],
                cache_index=cache_index,
                cross_key_value=None if cross_cache is None else cross_cache[i],
                training=training,
            )
            if not isinstance(out, (tuple, list)):
                x = out
                continue
            x, *extras = out
            if cache is not None:
                new_cache.append(extras.pop(0))
            if explicit:
                attentions.append(extras.pop(0))
            if explicit and cross:
                cross_attentions.append(extras.pop(0))
        if self.final_norm is not None:
            x = self.final_norm(x)
        outputs = {"last_hidden_state": x}
        if self.pooler is not None:
            outputs["pooler_output"] = self.pooler(x[:, 0, :])
        if output_hidden_states:
            outputs["hidden_states"] = tuple(hidden_states) + (x,)
        if cache is not None:
            outputs["past_key_values"] = tuple(new_cache)
        if output_attentions:
            outputs["attentions"] = tuple(attentions)
            if cross:
                outputs["cross_attentions"] = tuple(cross_attentions)
        return outputs

    def call_with_options(
        self, values, training=None, use_cache=None, past_key_values=None, **request
    ):
        if not use_cache and past_key_values is None:
            return self.encoder_forward(values, training=training, **request)
        if not self.is_decoder:
            raise ValueError(
                f"`use_cache` / `past_key_values` need a decoder: this {type(self).__name__} "
                "was built with `is_decoder=False` (bidirectional attention has no cache)."
            )
        ids = values["input_ids"]
        cache = self.extend_cache(past_key_values, ops.shape(ids)[0], ops.shape(ids)[1])
        past = cache_length(past_key_values)
        limit = self.max_lengths().get("input_ids")
        if limit is not None and past + ids.shape[1] > limit:
            raise ValueError(
                f"`past_key_values` hold {past} positions and `input_ids` {ids.shape[1]} more, "
                f"but this model's position table holds {limit} (`max_position_embeddings`)."
            )
        return self.encoder_forward(
            values, training=training, cache=cache, cache_index=past, **request
        )

    def extend_cache(self, past_key_values, batch_size, length):
        """Per-layer `(keys, values)` buffers holding `past_key_values` (validated; `None`: no
        past) followed by `length` empty slots for the current tokens."""
        blocks = self.encoder_layers
        if past_key_values is None:
            return tuple(block.init_cache(batch_size, length) for block in blocks)
        heads = self.num_attention_heads
        head_dim = self.hidden_size // heads
        valid = isinstance(past_key_values, (tuple, list)) and len(past_key_values) == len(blocks)
        valid = valid and all(
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and all(len(t.shape) == 4 and tuple(t.shape)[1::2] == (heads, head_dim) for t in pair)
            for pair in past_key_values
        )
        if not valid:
            raise ValueError(
                f"`past_key_values` must be what a `use_cache=True` call returned: a tuple of "
                f"{len(blocks)} (keys, values) pairs (one per layer), each [batch, {heads}, "
                f"past_length, {head_dim}]."
            )
        return tuple(
            tuple(
                ops.concatenate([ops.convert_to_tensor(past), ops.zeros_like(empty)], axis=2)
                for past, empty in zip(pair, block.init_cache(batch_size, length))
            )
            for pair, block in zip(past_key_values, blocks)
        )

    # --- cached decoding (keras_models.generation) ---------------------------------------
    def init_cache(
        self, batch_size, max_length, encoder_hidden_states=None, encoder_attention_mask=None
    ):
        """Zero self-attention caches (keys and values, `[batch, heads, max_length,
        head_dim]` each) per layer and, given encoder states, their cross-attention keys and
        values (computed here, once) and the encoder mask."""
        cache = {"self": self.extend_cache(None, batch_size, max_length)}
        if encoder_hidden_states is not None:
            blocks = self.encoder_layers
            cache.update(
                cross_attention_cache(blocks, encoder_hidden_states, encoder_attention_mask)
            )
        return cache

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index):
        """Runs `token_ids` (`[batch, n]`) at cache slots `cache_index...`; returns
        `(hidden_states, cache)`. `padding_mask` (`[batch, max_length]`) marks the visible
        slots (future ones are hidden by the causal mask).

        Position ids are transformers' `generate` rule, `cumsum(mask) - 1` with padding at 0
        (for every family whose forward takes `position_ids`: RoBERTa's table is then read
        from row 0, exactly as transformers' `generate` reads it); RoFormer's rotary angles
        start at the cache slot, as transformers' cache length."""
        values = {"input_ids": token_ids, "attention_mask": padding_mask}
        if "position_ids" in self.input_names:
            batch, length = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
            positions = ops.cumsum(ops.cast(padding_mask, "int32"), axis=-1) - 1
            positions = ops.slice(positions, (0, cache_index), (batch, length))
            values["position_ids"] = ops.maximum(positions, 0)
        values = self.fill_defaults(values)
        if "encoder_mask" in cache:
            values["encoder_attention_mask"] = cache["encoder_mask"]
        out = self.encoder_forward(
            values, cache=cache["self"], cache_index=cache_index, cross_cache=cache.get("cross")
        )
        return out["last_hidden_state"], {**cache, "self": out["past_key_values"]}

    def embed(self, embeddings, inputs, training=None):
        return embeddings(
            inputs["input_ids"],
            token_type_ids=inputs.get("token_type_ids"),
            position_ids=inputs.get("position_ids"),
            inputs_embeds=inputs.get("inputs_embeds"),
            training=training,
        )

    @property
    def token_embedding(self):
        return self.embeddings.word_embeddings

    def fill_defaults(self, inputs):
        ids = inputs["input_ids"]
        # After `past_key_values` (a cached call) the mask also covers the past tokens and
        # positions continue after them.
        past = past_length(inputs)
        if "attention_mask" not in inputs:
            if past:
                shape = ops.shape(ids)
                inputs["attention_mask"] = ops.ones((shape[0], shape[1] + past), "int32")
            else:
                inputs["attention_mask"] = ops.ones_like(ids)
        if "token_type_ids" in self.input_names and "token_type_ids" not in inputs:
            inputs["token_type_ids"] = ops.zeros_like(ids)
        if "position_ids" in self.input_names and "position_ids" not in inputs:
            inputs["position_ids"] = self.default_position_ids(inputs, past)
        states = inputs.get("encoder_hidden_states")
        if states is not None and "encoder_attention_mask" not in inputs:
            inputs["encoder_attention_mask"] = ops.ones_like(states[:, :, 0], dtype="int32")
        return inputs

    def default_position_ids(self, inputs, past_length=0):
        """The family's position ids of `inputs["input_ids"]`, after `past_length` cached
        positions."""
        raise NotImplementedError

    def input_limits(self):
        limits = {}
        for name, table in (
            ("input_ids", "word_embeddings"),
            ("token_type_ids", "token_type_embeddings"),
            ("position_ids", "position_embeddings"),
        ):
            layer = getattr(self.embeddings, table, None)
            if layer is not None and name in self.input_names:
                limits[name] = (0, layer.input_dim)
        return limits

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            layer_norm_eps=self.layer_norm_eps,
            initializer_range=self.initializer_range,
            add_pooling_layer=self.add_pooling_layer,
            is_decoder=self.is_decoder,
            add_cross_attention=self.add_cross_attention,
        )
        return config

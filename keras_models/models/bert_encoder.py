"""The encoder stack shared by the BERT-style families (RoBERTa, MegatronBERT, RoCBert, RoFormer)."""

import keras
from keras import ops

from keras_models.layers.encoder_block import TransformerEncoderBlock
from keras_models.layers.precision import full_precision
from keras_models.models.backbone import Backbone


def id_input(name):
    return keras.Input(shape=(None,), dtype="int32", name=name)


def encoder_attention_mask(attention_mask, causal):
    """A `[batch, q, k]` (causal) or `[batch, 1, k]` boolean mask from a 2-D padding mask."""
    mask = ops.expand_dims(ops.cast(attention_mask, "bool"), 1)
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
    `hidden_states` and `attentions`, as transformers returns them.

    A call takes, after the family's graph inputs and in this list order, `head_mask`
    (`[heads]` or `[layers, heads]` factors on the attention probabilities) and
    `inputs_embeds` (`[batch, seq, embedding width]` vectors in place of `input_ids`), as
    transformers orders them; and the keywords `output_hidden_states`, `output_attentions` and
    `return_dict`. A call that needs them runs `encoder_forward` eagerly; `fit`, `evaluate`
    and `predict` run the graph, which takes neither `head_mask` nor `inputs_embeds`.
    """

    #: Extra id inputs placed after `input_ids` in the documented order.
    extra_inputs = ()
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
        output_hidden_states=False,
        output_attentions=False,
        dtype=None,
        **kwargs,
    ):
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        names = ["input_ids", *self.extra_inputs, "attention_mask"]
        if use_token_type_ids:
            names.append("token_type_ids")
        if use_position_ids:
            names.append("position_ids")
        # The layers and switches are attributes before the graph is built: `encoder_forward`
        # reads them, for the functional graph here and for eager calls with call options.
        self.embeddings = embeddings
        self.is_decoder = is_decoder
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
    ):
        """The forward pass (transformers' `forward`) on a full input dict, symbolic or eager.

        `inputs["inputs_embeds"]`, when present, replaces the word-table lookup. `head_mask`
        is `[layers, heads]` factors on the attention probabilities. Returns the output dict:
        `last_hidden_state`, `pooler_output` (with a pooler), and `hidden_states` (the input of
        every layer, then `last_hidden_state`) and `attentions` when asked for.
        """
        x = self.embed(self.embeddings, inputs, training=training)
        mask = encoder_attention_mask(inputs["attention_mask"], causal=self.is_decoder)
        hidden_states, attentions = [], []
        explicit = output_attentions or head_mask is not None
        for i, block in enumerate(self.encoder_layers):
            hidden_states.append(x)
            x = block(
                x,
                attention_mask=mask,
                head_mask=None if head_mask is None else head_mask[i],
                return_attention_scores=explicit,
                training=training,
            )
            if explicit:
                x, probs = x
                attentions.append(probs)
        if self.final_norm is not None:
            x = self.final_norm(x)
        outputs = {"last_hidden_state": x}
        if self.pooler is not None:
            outputs["pooler_output"] = self.pooler(x[:, 0, :])
        if output_hidden_states:
            outputs["hidden_states"] = tuple(hidden_states) + (x,)
        if output_attentions:
            outputs["attentions"] = tuple(attentions)
        return outputs

    def call_with_options(self, values, training=None, **request):
        return self.encoder_forward(values, training=training, **request)

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
        if "attention_mask" not in inputs:
            inputs["attention_mask"] = ops.ones_like(ids)
        if "token_type_ids" in self.input_names and "token_type_ids" not in inputs:
            inputs["token_type_ids"] = ops.zeros_like(ids)
        if "position_ids" in self.input_names and "position_ids" not in inputs:
            inputs["position_ids"] = self.default_position_ids(inputs)
        return inputs

    def default_position_ids(self, inputs):
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
        )
        return config

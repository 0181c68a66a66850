"""OPT backbone: a decoder-only transformer with learned, padding-aware positions.

Forward pass (transformers' `OPTModel`):
    positions = cumsum(mask) * mask - 1           # real tokens 0, 1, 2...; pads -1
    x = project_in(embed_tokens[ids]) + embed_positions[positions + 2]
    for each layer (pre-LN):  x = x + attn(LN(x)); x = x + fc2(relu(fc1(LN(x))))
                   (post-LN): x = LN(x + attn(x)); x = LN(x + fc2(relu(fc1(x))))
    x = project_out(final_layer_norm(x))          # final LN only for pre-LN models
The self-attention is causal and masks padded keys, so left padding works.
"""

import keras
from keras import ops

from keras_models.layers.cache_update import read_slots
from keras_models.layers.decoder_block import (
    TransformerDecoderBlock,
    call_cache,
    run_decoder_blocks,
)
from keras_models.layers.embeddings import ReversibleEmbedding
from keras_models.layers.position_ids import absolute_position_ids, mask_position_ids
from keras_models.layers.precision import full_precision
from keras_models.models.backbone import Backbone
from keras_models.models.bert_encoder import id_input
from keras_models.models.inputs import past_length

#: OPT's learned position table is shifted by 2 rows (a fairseq legacy).
POSITION_OFFSET = 2


@keras.saving.register_keras_serializable(package="keras_models")
class OPTBackbone(Backbone):
    """OPT decoder (`OPTModel`).

    Inputs (in this order): `input_ids`, `attention_mask` (ones by default), `position_ids`
    (by default `cumsum(mask) * mask - 1`, so left padding works; OPT's offset of 2 is added
    here, as transformers adds it to given position ids too). Output: `last_hidden_state`
    (width `word_embed_proj_dim`).

    `decoder_forward()` is the whole forward pass: the functional graph, calls with options
    (`call_with_options()`) and the cached decoding step (`init_cache()`,
    `call_with_cache()`) all run it.

    Call options (transformers' `OPTModel.forward`): a call with any of them runs the forward
    pass eagerly instead of the functional graph, which stays the default path.
        output_hidden_states: also return `hidden_states`, `num_hidden_layers + 1` tensors:
            each layer's input (width `hidden_size`, after `project_in` and the positions),
            then `last_hidden_state` (after the final LayerNorm and `project_out`, so of width
            `word_embed_proj_dim`), as transformers returns them.
        output_attentions: also return `attentions`, one `[batch, heads, query, key]` tensor
            of attention probabilities per layer (the explicit softmax path).
        head_mask: `[num_attention_heads]` or `[num_hidden_layers, num_attention_heads]`
            factors multiplying each head's attention probabilities (transformers 4.x).
        inputs_embeds: `[batch, seq, word_embed_proj_dim]` vectors instead of `input_ids`
            (default mask of ones and positions `0, 1, ...`, as transformers).
        use_cache: also return `past_key_values` (off by default, unlike transformers'
            `config.use_cache`: the default call stays on the functional graph).
        past_key_values: what a call with `use_cache=True` returned; the call then runs the
            new `input_ids` after the cached ones, exactly as one pass over all tokens would.
            `attention_mask` then covers the cached tokens too (`[batch, past + new]`, ones
            by default), and default positions continue from them. Our format (not
            transformers' `Cache` object): per layer a tuple `(keys, values)`, each
            `[batch, heads, past + new, head_dim]` (transformers' legacy tuple layout).
        return_dict: False gives a tuple in transformers' order.
    The output order is transformers' `BaseModelOutputWithPast`: `last_hidden_state`,
    `past_key_values`, `hidden_states`, `attentions`. A `cross_attn_head_mask` or
    `decoder_head_mask` (OPT has no cross-attention) is refused with a ValueError. The
    constructor arguments `output_hidden_states` / `output_attentions` (or the config.json
    fields) make the functional graph itself return those outputs.

    Positional (list) order: `input_ids`, `attention_mask`, `position_ids` (today's inputs),
    then, in transformers' `OPTModel.forward` order, `head_mask`, `past_key_values`,
    `inputs_embeds`. transformers' TensorFlow seed class `TFOPTForCausalLM` documents another
    order, `input_ids`, `past_key_values`, `attention_mask`, `position_ids`, `head_mask`,
    `inputs_embeds`: a list written for it must be reordered (or passed as a dict).

    Args:
        vocab_size: vocabulary size.
        hidden_size: model width.
        num_hidden_layers: number of decoder layers.
        ffn_dim: feed-forward width.
        num_attention_heads: attention heads per layer.
        max_position_embeddings: usable positions (the table has 2 more rows).
        do_layer_norm_before: pre-LN when True, post-LN when False.
        _remove_final_layer_norm: drop the final LayerNorm of a pre-LN model.
        word_embed_proj_dim: width of the word table; when it differs from `hidden_size`,
            bias-free `project_in` / `project_out` layers map between the two.
        dropout: dropout after the attention and feed-forward outputs.
        attention_dropout: dropout on the attention probabilities.
        activation_function: feed-forward activation (Hugging Face name).
        init_std: stddev of the initializers.
        pad_token_id: padding id (the sequence classifier reads the last non-pad token).
        enable_bias: biases in the attention and feed-forward layers.
        layer_norm_elementwise_affine: whether LayerNorms have a scale and an offset.
        layer_norm_eps: LayerNorm epsilon (transformers hard-codes 1e-5).
        output_hidden_states: the functional graph also returns `hidden_states`.
        output_attentions: the functional graph also returns `attentions`.
        dtype: dtype policy.

    Examples:
    >>> import numpy as np
    >>> model = OPTBackbone(vocab_size=50, hidden_size=8, num_hidden_layers=1, ffn_dim=16,
    ...                     num_attention_heads=2, max_position_embeddings=32)
    >>> model(np.array([[2, 5, 6, 7]]))["last_hidden_state"].shape
    (1, 4, 8)
    >>> out = model(np.array([[2, 5, 6]]), use_cache=True, output_attentions=True)
    >>> len(out.past_key_values), out.attentions[0].shape
    (1, (1, 2, 3, 3))
    >>> step = model(np.array([[7]]), past_key_values=out.past_key_values)
    >>> step.last_hidden_state.shape, step.past_key_values[0][0].shape
    ((1, 1, 8), (1, 2, 4, 4))
    """

    model_type = "opt"
    #: After today's inputs, transformers' `OPTModel.forward` order.
    call_inputs = ("head_mask", "past_key_values", "inputs_embeds")
    takes_cache = True

    def __init__(
        self,
        vocab_size=50272,
        hidden_size=768,
        num_hidden_layers=12,
        ffn_dim=3072,
        num_attention_heads=12,
        max_position_embeddings=2048,
        do_layer_norm_before=True,
        _remove_final_layer_norm=False,
        word_embed_proj_dim=None,
        dropout=0.1,
        attention_dropout=0.0,
        activation_function="relu",
        init_std=0.02,
        pad_token_id=1,
        enable_bias=True,
        layer_norm_elementwise_affine=True,
        layer_norm_eps=1e-5,
        output_hidden_states=False,
        output_attentions=False,
        dtype=None,
        **kwargs,
    ):
        word_embed_proj_dim = word_embed_proj_dim or hidden_size
        init = keras.initializers.RandomNormal(stddev=init_std)
        # The layers are attributes before the graph is built: `decoder_forward` reads them,
        # for the functional graph here and for every cached decoding step.
        self.embed_tokens = ReversibleEmbedding(
            vocab_size,
            word_embed_proj_dim,
            embeddings_initializer=init,
            dtype=dtype,
            name="embed_tokens",
        )
        self.embed_positions = keras.layers.Embedding(
            max_position_embeddings + POSITION_OFFSET,
            hidden_size,
            embeddings_initializer=init,
            dtype=full_precision(dtype),
            name="embed_positions",
        )
        self.project_in = self.project_out = None
        if word_embed_proj_dim != hidden_size:
            self.project_in = keras.layers.Dense(
                hidden_size, use_bias=False, kernel_initializer=init, dtype=dtype, name="project_in"
            )
            self.project_out = keras.layers.Dense(
                word_embed_proj_dim,
                use_bias=False,
                kernel_initializer=init,
                dtype=dtype,
                name="project_out",
            )
        self.decoder_layers = [
            TransformerDecoderBlock(
                hidden_size,
                num_attention_heads,
                ffn_dim,
                hidden_act=activation_function,
                layer_norm_eps=layer_norm_eps,
                dropout=dropout,
                attention_dropout=attention_dropout,
                normalize_first=do_layer_norm_before,
                use_bias=enable_bias,
                layer_norm_affine=layer_norm_elementwise_affine,
                kernel_initializer=init,
                dtype=dtype,
                name=f"decoder_layer_{i}",
            )
            for i in range(num_hidden_layers)
        ]
        self.final_layer_norm = None
        if do_layer_norm_before and not _remove_final_layer_norm:
            self.final_layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_eps,
                center=layer_norm_elementwise_affine,
                scale=layer_norm_elementwise_affine,
                dtype=full_precision(dtype),
                name="final_layer_norm",
            )

        names = ["input_ids", "attention_mask", "position_ids"]
        inputs = {name: id_input(name) for name in names}
        outputs, _ = self.decoder_forward(
            inputs["input_ids"],
            inputs["attention_mask"],
            inputs["position_ids"],
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
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.ffn_dim = ffn_dim
        self.num_attention_heads = num_attention_heads
        self.max_position_embeddings = max_position_embeddings
        self.do_layer_norm_before = do_layer_norm_before
        self._remove_final_layer_norm = _remove_final_layer_norm
        self.word_embed_proj_dim = word_embed_proj_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_function = activation_function
        self.init_std = init_std
        self.initializer_range = init_std
        self.pad_token_id = pad_token_id
        self.enable_bias = enable_bias
        self.layer_norm_elementwise_affine = layer_norm_elementwise_affine
        self.layer_norm_eps = layer_norm_eps

    @property
    def token_embedding(self):
        return self.embed_tokens

    def fill_defaults(self, inputs):
        # With `past_key_values`, the mask covers the cached tokens too and positions continue
        # from them, as transformers computes them.
        past = past_length(inputs)
        if "attention_mask" not in inputs:
            ids = inputs["input_ids"]
            inputs["attention_mask"] = (
                ops.ones((ids.shape[0], past + ids.shape[1]), "int32")
                if past
                else ops.ones_like(ids)
            )
        if "position_ids" not in inputs:
            inputs["position_ids"] = mask_position_ids(inputs["attention_mask"])[:, past:]
        return inputs

    #: Positions count the real tokens only (left padding does not use positions).
    positions_follow_mask = True

    def input_limits(self):
        # Position ids index the table after the +2 offset, so -2 is its first row.
        return {
            "input_ids": (0, self.vocab_size),
            "position_ids": (-POSITION_OFFSET, self.max_position_embeddings),
        }

    # --- the forward pass -----------------------------------------------------------------
    def decoder_forward(
        self,
        input_ids,
        attention_mask,
        position_ids,
        cache=None,
        cache_index=0,
        training=None,
        inputs_embeds=None,
        head_mask=None,
        output_hidden_states=False,
        output_attentions=False,
    ):
        """The decoder stack (transformers' `OPTDecoder.forward`): for the functional graph,
        for calls with options and for cached decoding alike.

        Args:
            input_ids: `[batch, n]` token ids.
            attention_mask: `[batch, key_len]` 0/1 mask of the visible keys: of the `n`
                tokens without a cache; of every cache slot with one (future slots are
                hidden by the causal mask).
            position_ids: `[batch, n]` positions (OPT's offset of 2 is added here).
            cache: None, or the per-layer key/value caches from `init_cache`, written at
                `cache_index...` (consumed: on torch they are written in place).
            cache_index: cache slot of the first of the `n` tokens.
            training: whether dropout applies.
            inputs_embeds: optional `[batch, n, word_embed_proj_dim]` vectors used instead of
                the word table lookup of `input_ids`.
            head_mask: optional `[layers, heads]` factors on the attention probabilities.
            output_hidden_states: also return `hidden_states`: every layer's input, then
                `last_hidden_state` (after the final LayerNorm and `project_out`, as
                transformers ties the last entry to it).
            output_attentions: also return `attentions`, `[batch, heads, n, key_len]` each.

        Returns:
            `(outputs, cache)`: the dict `last_hidden_state` (`[batch, n,
            word_embed_proj_dim]`), plus `hidden_states` / `attentions` when asked for, and the
            updated caches (None without a cache).
        """
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        if self.project_in is not None:
            x = self.project_in(x)
        # `ops.add`: 16-bit word embeddings plus the float32 position table (mixed policies).
        x = ops.add(x, self.embed_positions(position_ids + POSITION_OFFSET))
        stack = run_decoder_blocks(
            self.decoder_layers,
            x,
            attention_mask,
            cache=cache,
            cache_index=cache_index,
            head_mask=head_mask,
            output_attentions=output_attentions,
            training=training,
        )
        x = stack["output"]
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
        if self.project_out is not None:
            x = self.project_out(x)
        outputs = {"last_hidden_state": x}
        if output_hidden_states:
            outputs["hidden_states"] = (*stack["inputs"], x)
        if output_attentions:
            outputs["attentions"] = tuple(stack["attentions"])
        return outputs, stack["cache"]

    def call_with_options(
        self,
        values,
        training=None,
        output_hidden_states=False,
        output_attentions=False,
        head_mask=None,
        use_cache=False,
        past_key_values=None,
    ):
        """One forward pass with transformers' call options (see the class docstring):
        `decoder_forward` on the full input dict, with a cache when `use_cache` is set or
        `past_key_values` are continued."""
        ids = values["input_ids"]
        cache, index = None, 0
        if use_cache or past_key_values is not None:
            cache, index = call_cache(
                self.decoder_layers, ids.shape[0], ids.shape[1], past_key_values
            )
        outputs, cache = self.decoder_forward(
            ids,
            values["attention_mask"],
            values["position_ids"],
            cache=cache,
            cache_index=index,
            training=training,
            inputs_embeds=values.get("inputs_embeds"),
            head_mask=head_mask,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        if cache is None:
            return outputs
        # transformers' order: the cache follows `last_hidden_state`.
        last = outputs.pop("last_hidden_state")
        return {"last_hidden_state": last, "past_key_values": cache, **outputs}

    # --- cached decoding (keras_models.generation) ---------------------------------------
    def init_cache(self, batch_size, max_length):
        """One zero key/value cache per layer (`[batch, heads, max_length, head_dim]` each)."""
        return tuple(block.init_cache(batch_size, max_length) for block in self.decoder_layers)

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index):
        """Runs `token_ids` at cache slots `cache_index...`; returns `(hidden_states, cache)`.

        Args:
            token_ids: `[batch, n]` ids of the current tokens.
            padding_mask: `[batch, max_length]` 0/1 mask of every cache slot (past, current and
                future; future slots are hidden by the causal mask). Positions continue from
                the number of real tokens before each slot, so left padding works.
            cache: the tuple from `init_cache` (or a previous call).
            cache_index: cache slot of the first current token.
        """
        # Read at slots `cache_index...` (`read_slots`) rather than sliced there, so that the
        # decoding step can be exported from torch (`export_decoding_step`).
        positions = read_slots(
            ops.cumsum(ops.cast(padding_mask, "int32"), axis=-1) - 1,
            absolute_position_ids(token_ids, past_length=ops.cast(cache_index, "int32")),
        )
        # Pad slots get position 0 (transformers' generate does the same); they are masked.
        positions = ops.maximum(positions, 0)
        outputs, cache = self.decoder_forward(
            token_ids, padding_mask, positions, cache, cache_index
        )
        return outputs["last_hidden_state"], cache

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            ffn_dim=self.ffn_dim,
            num_attention_heads=self.num_attention_heads,
            max_position_embeddings=self.max_position_embeddings,
            do_layer_norm_before=self.do_layer_norm_before,
            _remove_final_layer_norm=self._remove_final_layer_norm,
            word_embed_proj_dim=self.word_embed_proj_dim,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            activation_function=self.activation_function,
            init_std=self.init_std,
            pad_token_id=self.pad_token_id,
            enable_bias=self.enable_bias,
            layer_norm_elementwise_affine=self.layer_norm_elementwise_affine,
            layer_norm_eps=self.layer_norm_eps,
        )
        return config

"""What a call returns, and the call options transformers users pass.

An eager call returns a `ModelOutput`: a dict (Keras reads it as one) whose keys are also
attributes (`out.start_logits`, `out.loss`), in transformers' order, loss first. With
`return_dict=False` the same values come back as a tuple in that order.
"""

import keras

from keras_models.attribute_dict import AttributeDict, register_attribute_dict

#: Call options that ask for more outputs or another forward pass: name -> default.
#: (`inputs_embeds` and `past_key_values` are inputs: they also come in the list and dict
#: forms, see `InputNormalizingModel.call_inputs`.)
FORWARD_OPTIONS = {
    "output_hidden_states": None,
    "output_attentions": None,
    "head_mask": None,
    "decoder_head_mask": None,
    "cross_attn_head_mask": None,
    "use_cache": None,
}
#: Head masks: `[heads]` or `[layers, heads]` factors on the attention probabilities; given
#: as keywords or inside the inputs.
HEAD_MASKS = ("head_mask", "decoder_head_mask", "cross_attn_head_mask")
#: Every call option (the forward ones plus the shape of what comes back).
CALL_OPTIONS = {**FORWARD_OPTIONS, "return_dict": None}
#: transformers' `Seq2SeqModelOutput` order (`Seq2SeqLMOutput` puts `loss`, `logits` in place of
#: `last_hidden_state`).
SEQ2SEQ_OUTPUT_ORDER = (
    "last_hidden_state",
    "past_key_values",
    "decoder_hidden_states",
    "decoder_attentions",
    "cross_attentions",
    "encoder_last_hidden_state",
    "encoder_hidden_states",
    "encoder_attentions",
)
#: Constructor arguments (and config.json fields) that make the graph carry extra outputs.
OUTPUT_FLAGS = ("output_hidden_states", "output_attentions")


@register_attribute_dict
class ModelOutput(AttributeDict):
    """A dict of outputs whose keys are also attributes, as transformers' outputs.

    Integer indices and slices read the values in order (`out[0]` is the loss when labels
    were given), and `to_tuple()` gives them all. Keras' own steps (`fit`, `evaluate`,
    `predict`) get plain dicts.

    Examples:
    >>> out = ModelOutput(loss=0.5, logits=[1.0])
    >>> out.loss, out[1], out.to_tuple()
    (0.5, [1.0], (0.5, [1.0]))
    """

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self):
        """The values in transformers' order."""
        return tuple(self.values())


def pop_call_options(kwargs):
    """Removes the call options from `kwargs`; returns them (`None`: not given)."""
    return {name: kwargs.pop(name, default) for name, default in CALL_OPTIONS.items()}


def finish_outputs(outputs, return_dict, order=()):
    """A `ModelOutput` of concrete outputs (a tuple for `return_dict=False`); symbolic outputs
    (a functional model being built) stay a plain dict, or become a tuple. Names in `order`
    come first, in that order (transformers' output class order)."""
    rank = {name: i for i, name in enumerate(order)}
    outputs = dict(sorted(outputs.items(), key=lambda item: rank.get(item[0], len(rank))))
    if return_dict is False:
        return tuple(outputs.values())
    if any(isinstance(v, keras.KerasTensor) for v in keras.tree.flatten(dict(outputs))):
        return dict(outputs)
    return ModelOutput(outputs)

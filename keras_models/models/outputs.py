"""What a call returns, and the call options transformers users pass.

An eager call returns a `ModelOutput`: a dict (Keras reads it as one) whose keys are also
attributes (`out.start_logits`, `out.loss`), in transformers' order, loss first. With
`return_dict=False` the same values come back as a tuple in that order.
"""

import keras

from keras_models.attribute_dict import AttributeDict, register_attribute_dict

#: Constructor arguments (and config.json fields) that make the graph carry extra outputs.
OUTPUT_FLAGS = ("output_hidden_states", "output_attentions")
#: Call options besides the inputs (`head_mask`, `inputs_embeds`... are inputs): name -> default.
CALL_OPTIONS = {**dict.fromkeys(OUTPUT_FLAGS), "return_dict": None}
#: transformers' order of output fields (its `ModelOutput` dataclasses agree on it, except that
#: a BERT-style base model with a cache puts `past_key_values` after `hidden_states`). Keras
#: may hand dicts back with sorted keys, so the order is restored from this list.
OUTPUT_ORDER = (
    "loss",
    "logits",
    "prediction_logits",
    "seq_relationship_logits",
    "start_logits",
    "end_logits",
    "last_hidden_state",
    "pooler_output",
    "past_key_values",
    "hidden_states",
    "attentions",
    "decoder_hidden_states",
    "decoder_attentions",
    "cross_attentions",
    "encoder_last_hidden_state",
    "encoder_hidden_states",
    "encoder_attentions",
)


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


def finish_outputs(outputs, return_dict, order=OUTPUT_ORDER):
    """A `ModelOutput` of concrete outputs in transformers' `order` (a tuple for
    `return_dict=False`); symbolic outputs (a functional model being built) stay a plain dict,
    or become a tuple. Names not in `order` follow, in the order they came."""
    rank = {name: i for i, name in enumerate(order)}
    keys = sorted(outputs, key=lambda k: rank.get(k, len(order)))
    outputs = {k: outputs[k] for k in keys}
    if return_dict is False:
        return tuple(outputs.values())
    if any(isinstance(v, keras.KerasTensor) for v in keras.tree.flatten(dict(outputs))):
        return dict(outputs)
    return ModelOutput(outputs)

"""What a call returns, and the call options transformers users pass.

An eager call returns a `ModelOutput`: a dict (Keras reads it as one) whose keys are also
attributes (`out.start_logits`, `out.loss`), in transformers' order, loss first. With
`return_dict=False` the same values come back as a tuple in that order.
"""

import keras
from keras.src.tree.tree_api import register_tree_node_class

#: Call options that ask for more outputs or another forward pass: name -> default.
FORWARD_OPTIONS = {
    "output_hidden_states": None,
    "output_attentions": None,
    "head_mask": None,
    "inputs_embeds": None,
    # A decoder's key/value cache: `use_cache=True` returns `past_key_values`, passed back in.
    "use_cache": None,
    "past_key_values": None,
}
#: The call options of a cached (incremental) call.
CACHE_OPTIONS = ("use_cache", "past_key_values")
#: Every call option (the forward ones plus the shape of what comes back).
CALL_OPTIONS = {**FORWARD_OPTIONS, "return_dict": None}
#: Constructor arguments (and config.json fields) that make the graph carry extra outputs.
OUTPUT_FLAGS = ("output_hidden_states", "output_attentions")


class ModelOutput(dict):
    """A dict of outputs whose keys are also attributes, as transformers' outputs.

    Integer indices and slices read the values in order (`out[0]` is the loss when labels
    were given), and `to_tuple()` gives them all. Keras' own steps (`fit`, `evaluate`,
    `predict`) get plain dicts.

    Examples:
    >>> out = ModelOutput(loss=0.5, logits=[1.0])
    >>> out.loss, out[1], out.to_tuple()
    (0.5, [1.0], (0.5, [1.0]))
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"This output has no {name!r}; it holds {list(self)}.") from None

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self):
        """The values in transformers' order."""
        return tuple(self.values())

    # Keras' tree utilities (a user's functional model running ours as a node) must see a
    # `ModelOutput` as the dict it is: children in sorted key order, as Keras flattens dicts.
    def tree_flatten(self):
        keys = sorted(self)
        return [self[k] for k in keys], keys, keys

    @classmethod
    def tree_unflatten(cls, keys, values):
        return cls(zip(keys, values))

    def torchtree_flatten(self):
        values, keys, _ = self.tree_flatten()
        return values, keys

    def torchtree_flatten_with_keys(self):
        from torch.utils._pytree import MappingKey

        values, keys, _ = self.tree_flatten()
        return [(MappingKey(k), v) for k, v in zip(keys, values)], keys

    @classmethod
    def torchtree_unflatten(cls, values, keys):
        return cls.tree_unflatten(keys, values)


# Keras exports no registration function; its tree module picks the backend's implementation.
register_tree_node_class(ModelOutput)


def pop_call_options(kwargs):
    """Removes the call options from `kwargs`; returns them (`None`: not given)."""
    return {name: kwargs.pop(name, default) for name, default in CALL_OPTIONS.items()}


def finish_outputs(outputs, return_dict):
    """A `ModelOutput` of concrete outputs (a tuple for `return_dict=False`); symbolic outputs
    (a functional model being built) stay a plain dict, or become a tuple."""
    if return_dict is False:
        return tuple(outputs.values())
    if any(isinstance(v, keras.KerasTensor) for v in keras.tree.flatten(dict(outputs))):
        return dict(outputs)
    return ModelOutput(outputs)

"""A dict whose keys are also attributes, as transformers' outputs and encodings are.

`ModelOutput` (what a model call returns) and `BatchEncoding` (what a tokenizer returns) are
both such dicts. Keras' tree utilities treat an unregistered dict subclass as a leaf, so each
subclass registers itself with `register_attribute_dict` to be walked as the dict it is (a
user's functional model running ours as a node, an encoding given to `fit` or `predict`).
"""

import keras
from keras.src.tree.tree_api import register_tree_node_class


class AttributeDict(dict):
    """A dict whose keys can also be read as attributes (`d.input_ids` is `d["input_ids"]`).

    Examples:
    >>> d = AttributeDict(input_ids=[1, 2])
    >>> d.input_ids
    [1, 2]
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"This {type(self).__name__} has no {name!r}; it holds {list(self)}."
            ) from None

    # Children in sorted key order, as Keras flattens plain dicts.
    def tree_flatten(self):
        keys = sorted(self)
        return [dict.__getitem__(self, k) for k in keys], keys, keys

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


def register_attribute_dict(cls):
    """Registers an `AttributeDict` subclass as a Keras tree node (a class decorator).

    Keras exports no registration function; its tree module picks the backend's
    implementation. On the jax backend `jax.jit` (Keras' `fit` and `predict` steps) reads jax's
    own registry, so the class joins it too. Registration is per class: the tree libraries look
    up the exact type.
    """
    register_tree_node_class(cls)
    if keras.backend.backend() == "jax":
        import jax

        jax.tree_util.register_pytree_node(
            cls,
            lambda d: d.tree_flatten()[:2],
            lambda keys, values: cls.tree_unflatten(keys, values),
        )
    return cls

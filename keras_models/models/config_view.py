"""`model.config`: a read-only, transformers-style view of a model's configuration."""

from collections.abc import Mapping


class ModelConfig(Mapping):
    """The configuration of a model under Hugging Face field names, read-only.

    Fields are read as attributes (`config.hidden_size`, `config.id2label[0]`) or as keys. To
    change the model, build a new one (`from_preset(..., **overrides)` or the constructor).

    Examples:
    >>> config = ModelConfig({"model_type": "roberta", "id2label": {0: "NEG", 1: "POS"}})
    >>> config.id2label[1], config["model_type"]
    ('POS', 'roberta')
    """

    def __init__(self, fields):
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, name):
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(
                f"The config has no field {name!r}; fields: {sorted(self._fields)}."
            ) from None

    def __setattr__(self, name, value):
        raise AttributeError(
            "`model.config` is read-only: it describes the model as built. Build a new model "
            f"to change {name!r} (`from_preset(..., {name}=...)` or the constructor)."
        )

    def __getitem__(self, name):
        return self._fields[name]

    def __iter__(self):
        return iter(self._fields)

    def __len__(self):
        return len(self._fields)

    def to_dict(self):
        """A copy of the fields as a plain dict."""
        return dict(self._fields)

    def __repr__(self):
        return f"ModelConfig({self._fields!r})"

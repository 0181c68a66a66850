"""The registry of model families.

Each family folder says once, in its `__init__.py`, what it is (`register_family`): its
converter (which names the backbone class and the checkpoints' `model_type`), tokenizer, task
classes and presets. The auto classes, the `keras-models` command, tokenizer lookup,
checkpoint loading and the package exports all read this registry, so a new family is its
folder plus its name in the import line of `keras_models/__init__.py`.
"""

import dataclasses

from keras_models.presets.registry import register_presets

_FAMILIES = {}


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family.

    Attributes:
        name: the family's folder and preset family name (`"megatron_bert"`).
        converter: the Hugging Face checkpoint converter (an instance); it names the
            backbone class and the checkpoints' `model_type`.
        tokenizer: the tokenizer class.
        tasks: the task classes, one per head; each names its head in `head`
            (`"question_answering"`, `"causal_lm"`, ...).
        presets: the family's registered checkpoints (`Preset` records).
    """

    name: str
    converter: object
    tokenizer: type
    tasks: tuple
    presets: tuple = ()

    @property
    def model_type(self):
        """The `model_type` of its Hugging Face checkpoints (`"megatron-bert"`)."""
        return self.converter.model_type

    @property
    def backbone(self):
        return self.converter.backbone_cls

    @property
    def heads(self):
        """`{head: task class}`."""
        return {task.head: task for task in self.tasks}

    def task_class(self, head):
        """The family's task class for `head`; a ValueError lists the heads it has."""
        heads = self.heads
        if head not in heads:
            raise ValueError(
                f"The {self.name} family has no {head} head; its heads: {sorted(heads)} "
                f"({', '.join(task.__name__ for task in self.tasks)})."
            )
        return heads[head]

    @property
    def classes(self):
        """Every public class of the family: backbone, tasks and tokenizer."""
        return (self.backbone, *self.tasks, self.tokenizer)


def register_family(package, converter, tokenizer, tasks_module, presets=()):
    """Registers the family of the folder `package` (its `__name__`): the task classes are
    those `tasks_module` defines (classes with a `head`), in their order there. Returns the
    `Family`."""
    tasks = tuple(
        value
        for value in vars(tasks_module).values()
        if isinstance(value, type)
        and value.__module__ == tasks_module.__name__
        and getattr(value, "head", None)
    )
    family = Family(package.rsplit(".", 1)[-1], converter, tokenizer, tasks, tuple(presets))
    return add_family(family)


def add_family(family):
    """Adds a `Family` (and its presets) to the registry; returns it."""
    if family.model_type in _FAMILIES:
        raise ValueError(f"A family with model_type {family.model_type!r} is already registered.")
    heads = [task.head for task in family.tasks]
    if len(set(heads)) != len(heads):
        raise ValueError(f"{family.name}: two task classes share a head: {heads}.")
    _FAMILIES[family.model_type] = family
    register_presets(*family.presets)
    return family


def families():
    """The registered families, sorted by name."""
    return sorted(_FAMILIES.values(), key=lambda family: family.name)


def get_family(model_type, source="config.json"):
    """The family of a Hugging Face `model_type` (read from `source`)."""
    if model_type not in _FAMILIES:
        raise ValueError(
            f"Unsupported model_type {model_type!r} in {source}; supported: {sorted(_FAMILIES)}."
        )
    return _FAMILIES[model_type]


def family_of(backbone_cls):
    """The family whose backbone is `backbone_cls` (or a class it derives from), or None."""
    for family in _FAMILIES.values():
        if backbone_cls is family.backbone:
            return family
    for family in _FAMILIES.values():
        if issubclass(backbone_cls, family.backbone):
            return family
    return None

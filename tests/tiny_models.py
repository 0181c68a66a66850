"""Tiny models of every family for the reliability tests (input limits, fuzzing, mixed
precision): the configs of tests/families.py, one representative task per family and labels
that fit it."""

import numpy as np

import keras_models
from tests.families import FAMILIES

TYPE_VOCAB = 2
#: One representative task per family, covering the head kinds.
TASKS = {
    "megatron_bert": "MegatronBertForSequenceClassification",
    "opt": "OPTForCausalLM",
    "pegasus": "PegasusForConditionalGeneration",
    "roc_bert": "RoCBertForMaskedLM",
    "roberta": "RobertaForQuestionAnswering",
    "roformer": "RoFormerForTokenClassification",
}
#: The accepted list order of each family's backbone inputs.
ENCODER_FAMILIES = ("megatron_bert", "roc_bert", "roberta", "roformer")


def config(family):
    """The family's tiny backbone config (HF field names)."""
    kwargs = dict(FAMILIES[family].tiny)
    if family in ENCODER_FAMILIES:
        kwargs["type_vocab_size"] = TYPE_VOCAB
    return kwargs


def max_length(family):
    """The longest accepted sequence; RoBERTa positions start after the pad id."""
    limit = config(family)["max_position_embeddings"]
    return limit - 2 if family == "roberta" else limit


def backbone(family, **overrides):
    return FAMILIES[family].backbone_cls(**{**config(family), **overrides})


def task(family, backbone_model):
    cls = getattr(keras_models, TASKS[family])
    if TASKS[family].endswith(("SequenceClassification", "TokenClassification")):
        return cls(backbone_model, num_labels=3)
    return cls(backbone_model)


def inputs(family, ids, **extra):
    """An input dict; Pegasus gets decoder ids (3 tokens) unless given."""
    x = {"input_ids": np.asarray(ids, "int32"), **extra}
    if family == "pegasus" and "decoder_input_ids" not in x:
        x["decoder_input_ids"] = np.full((x["input_ids"].shape[0], 3), 3, "int32")
    return x


def labels(family, x, seed=0):
    """Labels for the family's task, as `y` for `fit` (a tuple for QA)."""
    rng = np.random.default_rng(seed)
    ids = x["input_ids"]
    batch, length = ids.shape[0], ids.shape[-1]
    name = TASKS[family]
    if name.endswith("QuestionAnswering"):
        return (np.full(batch, 1, "int32"), np.full(batch, 2, "int32"))
    if name.endswith("SequenceClassification"):
        return rng.integers(0, 3, batch).astype("int32")
    if name.endswith("TokenClassification"):
        return rng.integers(0, 3, (batch, length)).astype("int32")
    if family == "pegasus":
        return x["decoder_input_ids"]
    return ids  # masked / causal LM: the ids themselves

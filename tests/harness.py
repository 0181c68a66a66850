"""The parity checks every family repeats, driven by its `FamilySpec` (tests/families.py).

A family's parity file holds its spec use and the cases that belong to that family alone:

    SPEC = FAMILIES["roberta"]
    checkpoints = checkpoint_fixture(SPEC)

    def test_backbone_parity(checkpoints):
        run_backbone_test(SPEC, checkpoints, encoder_batch(SPEC))
"""

import types

import keras
import numpy as np
import pytest

import keras_models
from tests.helpers import (
    ATOL,
    assert_close,
    hf_outputs,
    np_out,
    random_ids,
    save_hf,
    torch_inputs,
)

#: Odd widths: 3 heads of 8, an intermediate size that is no multiple of anything.
ODD_SIZES = dict(hidden_size=24, num_attention_heads=3, intermediate_size=19, num_hidden_layers=3)
#: Question-answering labels; row 2's end position is out of range: ignored, as in transformers.
QA_LABELS = {"start_positions": np.array([1, 2, 0]), "end_positions": np.array([3, 4, 40])}


def checkpoint_fixture(spec, seed=0, after_save=None):
    """A module-scoped fixture: `checkpoints(head, **config_overrides)` saves (once per module)
    the seeded transformers model of `head` ("Model" for the base model) from the spec's parity
    config and returns `(directory, transformers_model)`. `after_save(model, directory)` may
    change and re-save it."""

    @pytest.fixture(scope="module")
    def checkpoints(tmp_path_factory):
        import transformers

        made = {}

        def get(head="Model", **overrides):
            key = (head, tuple(sorted(overrides.items())))
            if key not in made:
                name = spec.hf_task(head)
                directory = tmp_path_factory.mktemp(name)
                model = save_hf(
                    getattr(transformers, name), spec.config(**overrides), directory, seed
                )
                if after_save is not None:
                    after_save(model, directory)
                made[key] = (str(directory), model)
            return made[key]

        return get

    return checkpoints


def encoder_batch(spec, seq=7, rows=3, rng=None):
    """Random ids (from `spec.first_id`, never the pad id, `spec.bos` first): row 0 full, rows 1
    and 2 right padded; token types 1 in rows 0 and 1."""
    rng = rng or np.random.default_rng(1)
    ids = random_ids(rng, (rows, seq), spec.first_id, spec.vocab, avoid=(spec.pad,))
    if spec.bos is not None:
        ids[:, 0] = spec.bos
    mask = np.ones_like(ids)
    ids[1, 5:] = spec.pad
    mask[1, 5:] = 0
    ids[2, 3:] = spec.pad
    mask[2, 3:] = 0
    token_types = np.zeros_like(ids)
    token_types[0, 4:] = 1
    token_types[1, 2:5] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": token_types}


def left_padded_batch(spec, seq=11, rows=2, rng=None):
    """Random ids, row 0 left padded by 4."""
    rng = rng or np.random.default_rng(5)
    ids = random_ids(rng, (rows, seq), spec.first_id, spec.vocab, avoid=(spec.pad,))
    mask = np.ones_like(ids)
    ids[0, :4] = spec.pad
    mask[0, :4] = 0
    return {"input_ids": ids, "attention_mask": mask}


def choices(x):
    """Two examples of the batch's rows as choices, the second reversed: `[2, rows, seq]`."""
    return {k: np.stack([v, v[::-1]]) for k, v in x.items()}


def token_labels(x, width, seed=2):
    """Per-token labels below `width`; -100 (ignored) on padding and at row 0, position 1."""
    labels = np.random.default_rng(seed).integers(0, width, size=x["input_ids"].shape)
    labels[x["attention_mask"] == 0] = -100
    labels[0, 1] = -100
    return labels


def run_parity_test(model, hf, x, y, outputs, compiled=False, atol=ATOL):
    """Our outputs and our `evaluate` loss (labels `y`: an array, or a dict of transformers'
    label arguments) equal transformers'. `outputs` maps each compared output to the mask of its
    positions (None: all). Returns (ours, theirs).

    `evaluate` runs eagerly unless `compiled`: a compiled step per model costs more than the
    rest of a parity test on JAX and TensorFlow, and the numbers are the same. Each loss is
    shared by every family (keras_models/tasks/), and each still runs compiled somewhere: the
    `fit` tests of tests/test_mixed_precision.py (one head of each kind per family), and the
    parity cases that pass `compiled=True` (multiple choice, problem types, next sentence)."""
    labels = y if isinstance(y, dict) else {"labels": y}
    theirs = hf_outputs(hf, x, **labels)
    ours = model(x)
    for name, mask in outputs.items():
        assert_close(ours[name], getattr(theirs, name), mask)
    # Labels in the call add transformers' loss, first, as transformers orders its outputs.
    called = model(x, **labels)
    assert list(called)[0] == "loss" and called[0] is called.loss
    np.testing.assert_allclose(float(called.loss), float(theirs.loss), atol=atol)
    model.compile(run_eagerly=not compiled)
    rows = np.asarray(x["input_ids"]).shape[0]
    loss = model.evaluate(x, y, verbose=0, batch_size=rows)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=atol)
    return ours, theirs


def run_backbone_test(spec, checkpoints, x, mask=None, **overrides):
    """The backbone loaded from the base model's checkpoint gives transformers' hidden states
    (where `mask`, by default the attention mask, is 1) and pooled output, if it has a pooler.
    Returns the backbone, the transformers model and both outputs."""
    directory, hf = checkpoints("Model", **overrides)
    model = spec.backbone_cls.from_preset(directory)
    ours, theirs = model(x), hf_outputs(hf, x)
    mask = x["attention_mask"] if mask is None else mask
    assert_close(ours["last_hidden_state"], theirs.last_hidden_state, mask)
    if "pooler_output" in ours:
        assert_close(ours["pooler_output"], theirs.pooler_output)
    return types.SimpleNamespace(model=model, hf=hf, ours=ours, theirs=theirs)


def head_labels(spec, head, x):
    """transformers' label arguments for `head` on batch `x` (three rows), and the outputs to
    compare with the mask of their positions."""
    mask = x["attention_mask"]
    if head == "QuestionAnswering":
        return dict(QA_LABELS), {"start_logits": mask, "end_logits": mask}
    if head == "SequenceClassification":
        return {"labels": np.array([0, 2, 1])}, {"logits": None}
    if head == "NextSentencePrediction":
        return {"labels": np.array([1, 0, 1])}, {"logits": None}
    width = spec.vocab if "LM" in head else 3
    return {"labels": token_labels(x, width)}, {"logits": mask}


def run_task_test(spec, checkpoints, head, x, compiled=False, **overrides):
    """The task `head` loaded from its transformers checkpoint gives transformers' outputs and
    loss (`compiled`: see `run_parity_test`). Returns the model, the transformers model, both
    outputs and the labels."""
    directory, hf = checkpoints(head, **overrides)
    model = getattr(keras_models, spec.task(head)).from_preset(directory)
    labels, outputs = head_labels(spec, head, x)
    ours, theirs = run_parity_test(model, hf, x, labels, outputs, compiled)
    if "LM" in head or head == "TokenClassification":
        # The head really has the width the labels were drawn from.
        assert np_out(theirs.logits).shape[-1] == (spec.vocab if "LM" in head else 3)
    return types.SimpleNamespace(
        model=model, hf=hf, ours=ours, theirs=theirs, labels=labels, key=next(iter(outputs))
    )


def run_multiple_choice_test(spec, checkpoints, x, compiled=False, **overrides):
    """Multiple choice (`x`: `[2, rows, seq]`) gives transformers' logits and loss."""
    directory, hf = checkpoints("MultipleChoice", **overrides)
    model = getattr(keras_models, spec.task("MultipleChoice")).from_preset(directory)
    run_parity_test(model, hf, x, np.array([2, 0]), {"logits": None}, compiled)
    return types.SimpleNamespace(model=model, hf=hf)


def run_problem_type_test(
    spec, directory, x, problem_type, num_labels, compiled=False, **overrides
):
    """Sequence classification with `problem_type` in the config gives transformers' logits and
    loss."""
    import transformers

    config = spec.config(num_labels=num_labels, problem_type=problem_type, **overrides)
    hf_cls = getattr(transformers, spec.hf_task("SequenceClassification"))
    hf = save_hf(hf_cls, config, directory)
    rng = np.random.default_rng(4)
    if problem_type == "regression":
        labels = rng.normal(size=(3,)).astype("float32")
    elif problem_type == "single_label_classification":
        labels = np.array([0, 2, 1])
    else:
        labels = (rng.random((3, num_labels)) > 0.5).astype("float32")
    model = getattr(keras_models, spec.task("SequenceClassification")).from_preset(directory)
    assert model.problem_type == problem_type
    run_parity_test(model, hf, x, labels, {"logits": None}, compiled)


def scaled_value_heads(model, factors):
    """Scales each layer's value projection, head by head (kernel columns and bias), by
    `factors[layer, head]`: what transformers 4.x's `head_mask` does to the attention output."""
    backbone = getattr(model, "backbone", model)
    heads = backbone.num_attention_heads
    for layer, row in zip(backbone.encoder_layers, factors):
        dense = layer.attention.value_dense
        scale = np.repeat(np.asarray(row, "float32"), dense.units // heads)
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in dense.weights)
        dense.set_weights([kernel * scale, bias * scale])


def run_call_options_test(spec, checkpoints, head, x, key, **overrides):
    """transformers' call options on the task `head` (its checkpoint; `key` its first output):
    `output_hidden_states` and `output_attentions` equal transformers' eager attention,
    `return_dict=False` is the tuple in transformers' order, `inputs_embeds` replaces
    `input_ids`, and `head_mask` equals scaling the value projection of each head."""
    import torch

    directory, hf = checkpoints(head, **overrides)
    hf.set_attn_implementation("eager")
    model = getattr(keras_models, spec.task(head)).from_preset(directory)
    with torch.no_grad():
        theirs = hf(**torch_inputs(x), output_hidden_states=True, output_attentions=True)
    ours = model(x, output_hidden_states=True, output_attentions=True)
    layers = model.backbone.num_hidden_layers
    assert len(ours.hidden_states) == layers + 1 and len(ours.attentions) == layers
    assert list(ours) == list(theirs.keys())
    for mine, their in zip(
        ours.hidden_states + ours.attentions, theirs.hidden_states + theirs.attentions
    ):
        assert_close(mine, their)
    as_tuple = model(x, output_attentions=True, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(ours) - 1
    assert_close(as_tuple[0], getattr(theirs, key))
    assert_close(as_tuple[-1][0], theirs.attentions[0])
    # Explicit False drops what the config asks for; a plain call stays on the graph.
    assert set(model(x)) == set(model(x, output_hidden_states=False))

    # Vectors in place of ids: transformers derives masks and positions as it does for them.
    width = model.backbone.token_embedding.output_dim
    embeds = np.random.default_rng(7).normal(size=(*x["input_ids"].shape, width)).astype("float32")
    with_embeds = {k: v for k, v in x.items() if k != "input_ids"}
    with torch.no_grad():
        their = hf(inputs_embeds=torch.tensor(embeds), **torch_inputs(with_embeds))
    assert_close(model(with_embeds, inputs_embeds=embeds)[key], getattr(their, key))

    factors = np.ones((layers, model.backbone.num_attention_heads), "float32")
    factors[0, 1], factors[-1, 0] = 0.0, 0.5
    masked = model(x, head_mask=factors)[key]
    scaled_value_heads(model, factors)
    assert_close(masked, model(x)[key])
    assert not np.allclose(keras.ops.convert_to_numpy(masked), np_out(getattr(theirs, key)))

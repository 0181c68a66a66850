"""RoBERTa: every class loaded from a transformers checkpoint matches transformers."""

import numpy as np
import pytest
import transformers

import keras_models
from tests.helpers import assert_close, hf_outputs, np_out, random_ids, save_hf

PAD = 1


def tiny_config(**overrides):
    config = dict(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=2,
        layer_norm_eps=1e-5,
        pad_token_id=PAD,
        num_labels=3,
    )
    config.update(overrides)
    return transformers.RobertaConfig(**config)


def batch(seq=7, rows=3, rng=None):
    rng = rng or np.random.default_rng(1)
    ids = random_ids(rng, (rows, seq), 3, 99, avoid=(PAD,))
    ids[:, 0] = 0
    mask = np.ones_like(ids)
    ids[1, 5:] = PAD  # right padding
    mask[1, 5:] = 0
    ids[2, 3:] = PAD
    mask[2, 3:] = 0
    types = np.zeros_like(ids)
    types[0, 4:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


HEADS = [
    ("RobertaForQuestionAnswering", {"num_labels": 2}),
    ("RobertaForTokenClassification", {}),
    ("RobertaForSequenceClassification", {}),
    ("RobertaForMaskedLM", {}),
    ("RobertaForCausalLM", {"is_decoder": True}),
]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    made = {}

    def get(name, **overrides):
        key = (name, tuple(sorted(overrides.items())))
        if key not in made:
            directory = tmp_path_factory.mktemp(name)
            hf_cls = getattr(transformers, name)
            model = save_hf(hf_cls, tiny_config(**overrides), directory)
            made[key] = (str(directory), model)
        return made[key]

    return get


def test_backbone_parity(checkpoints):
    directory, hf = checkpoints("RobertaModel")
    x = batch()
    ours = keras_models.RobertaBackbone.from_preset(directory)(x)
    theirs = hf_outputs(hf, x)
    assert_close(ours["last_hidden_state"], theirs.last_hidden_state, x["attention_mask"])
    assert_close(ours["pooler_output"], theirs.pooler_output)


@pytest.mark.parametrize("name,overrides", HEADS, ids=[h[0] for h in HEADS])
def test_head_parity_and_loss(checkpoints, name, overrides):
    directory, hf = checkpoints(name, **overrides)
    x = batch()
    model = getattr(keras_models, name).from_preset(directory)
    ours = model(x)
    rng = np.random.default_rng(2)
    if name.endswith("QuestionAnswering"):
        # Row 2's end position is out of range: ignored, as in transformers.
        labels = {"start_positions": np.array([1, 2, 0]), "end_positions": np.array([3, 4, 40])}
        theirs = hf_outputs(hf, x, **labels)
        assert_close(ours["start_logits"], theirs.start_logits, x["attention_mask"])
        assert_close(ours["end_logits"], theirs.end_logits, x["attention_mask"])
    elif name.endswith("SequenceClassification"):
        labels = {"labels": np.array([0, 2, 1])}
        theirs = hf_outputs(hf, x, **labels)
        assert_close(ours["logits"], theirs.logits)
    else:
        vocab_or_labels = theirs_dim = 99 if "LM" in name else 3
        label_ids = rng.integers(0, vocab_or_labels, size=x["input_ids"].shape)
        label_ids[x["attention_mask"] == 0] = -100
        labels = {"labels": label_ids}
        theirs = hf_outputs(hf, x, **labels)
        assert_close(ours["logits"], theirs.logits, x["attention_mask"])
        assert theirs_dim == np_out(theirs.logits).shape[-1]
    model.compile()
    loss = model.evaluate(x, labels, verbose=0, batch_size=3)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)


def test_multiple_choice_parity(checkpoints):
    directory, hf = checkpoints("RobertaForMultipleChoice")
    rng = np.random.default_rng(3)
    x = {k: np.stack([v, v[::-1]]) for k, v in batch(rng=rng).items()}  # [2, 3, 7]
    model = keras_models.RobertaForMultipleChoice.from_preset(directory)
    labels = np.array([2, 0])
    theirs = hf_outputs(hf, x, labels=labels)
    assert_close(model(x)["logits"], theirs.logits)
    model.compile()
    loss = model.evaluate(x, labels, verbose=0, batch_size=2)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)


@pytest.mark.parametrize(
    "problem_type,num_labels",
    [
        ("regression", 1),
        ("single_label_classification", 3),
        ("multi_label_classification", 3),
    ],
)
def test_sequence_classification_problem_types(tmp_path, problem_type, num_labels):
    config = tiny_config(num_labels=num_labels, problem_type=problem_type)
    hf = save_hf(transformers.RobertaForSequenceClassification, config, tmp_path)
    x = batch()
    rng = np.random.default_rng(4)
    if problem_type == "regression":
        labels = rng.normal(size=(3,)).astype("float32")
    elif problem_type == "single_label_classification":
        labels = np.array([0, 2, 1])
    else:
        labels = (rng.random((3, num_labels)) > 0.5).astype("float32")
    theirs = hf_outputs(hf, x, labels=labels)
    model = keras_models.RobertaForSequenceClassification.from_preset(tmp_path)
    assert model.problem_type == problem_type
    assert_close(model(x)["logits"], theirs.logits)
    model.compile()
    np.testing.assert_allclose(
        model.evaluate(x, labels, verbose=0, batch_size=3), float(theirs.loss), atol=1e-5
    )


def test_inferred_problem_type_matches_transformers(checkpoints):
    # No problem_type in the config: integer labels mean single-label, floats multi-label.
    directory, hf = checkpoints("RobertaForSequenceClassification")
    model = keras_models.RobertaForSequenceClassification.from_preset(directory)
    model.compile()
    x = batch()
    for labels in (np.array([0, 1, 2]), np.eye(3, dtype="float32")[[0, 1, 2]]):
        hf.config.problem_type = None
        theirs = hf_outputs(hf, x, labels=labels)
        ours = model.evaluate(x, labels, verbose=0, batch_size=3)
        np.testing.assert_allclose(ours, float(theirs.loss), atol=1e-5)


def test_odd_sizes_and_left_padding(tmp_path):
    config = tiny_config(
        hidden_size=24, num_attention_heads=3, intermediate_size=19, num_hidden_layers=3
    )
    hf = save_hf(transformers.RobertaModel, config, tmp_path)
    rng = np.random.default_rng(5)
    ids = random_ids(rng, (2, 11), 3, 99, avoid=(PAD,))
    mask = np.ones_like(ids)
    ids[0, :4] = PAD
    mask[0, :4] = 0
    x = {"input_ids": ids, "attention_mask": mask}
    ours = keras_models.RobertaBackbone.from_preset(tmp_path)(x)
    assert_close(ours["last_hidden_state"], hf_outputs(hf, x).last_hidden_state, mask)

"""RoBERTa: every class loaded from a transformers checkpoint matches transformers."""

import numpy as np
import pytest
import transformers

import keras_models
from tests.families import FAMILIES
from tests.harness import (
    ODD_SIZES,
    checkpoint_fixture,
    choices,
    encoder_batch,
    left_padded_batch,
    run_backbone_test,
    run_call_options_test,
    run_multiple_choice_test,
    run_problem_type_test,
    run_task_test,
)
from tests.helpers import assert_close, hf_outputs, save_hf

SPEC = FAMILIES["roberta"]
checkpoints = checkpoint_fixture(SPEC)


def test_backbone_parity(checkpoints):
    run_backbone_test(SPEC, checkpoints, encoder_batch(SPEC))


@pytest.mark.parametrize("head,overrides", SPEC.heads, ids=[h[0] for h in SPEC.heads])
def test_head_parity_and_loss(checkpoints, head, overrides):
    run_task_test(SPEC, checkpoints, head, encoder_batch(SPEC), **overrides)


def test_multiple_choice_parity(checkpoints):
    x = choices(encoder_batch(SPEC, rng=np.random.default_rng(3)))
    # Compiled: the one compiled multiple-choice loss of the suite.
    run_multiple_choice_test(SPEC, checkpoints, x, compiled=True)


@pytest.mark.parametrize(
    "problem_type,num_labels",
    [
        ("regression", 1),
        ("single_label_classification", 3),
        ("multi_label_classification", 3),
    ],
)
def test_sequence_classification_problem_types(tmp_path, problem_type, num_labels):
    # Compiled: each problem type's loss, once in the suite.
    x = encoder_batch(SPEC)
    run_problem_type_test(SPEC, tmp_path, x, problem_type, num_labels, compiled=True)


def test_inferred_problem_type_matches_transformers(checkpoints):
    # No problem_type in the config: integer labels mean single-label, floats multi-label.
    directory, hf = checkpoints("SequenceClassification")
    model = keras_models.RobertaForSequenceClassification.from_preset(directory)
    model.compile()
    x = encoder_batch(SPEC)
    for labels in (np.array([0, 1, 2]), np.eye(3, dtype="float32")[[0, 1, 2]]):
        hf.config.problem_type = None
        theirs = hf_outputs(hf, x, labels=labels)
        ours = model.evaluate(x, labels, verbose=0, batch_size=3)
        np.testing.assert_allclose(ours, float(theirs.loss), atol=1e-5)


def test_odd_sizes_and_left_padding(tmp_path):
    hf = save_hf(transformers.RobertaModel, SPEC.config(**ODD_SIZES), tmp_path)
    x = left_padded_batch(SPEC)
    ours = keras_models.RobertaBackbone.from_preset(tmp_path)(x)
    assert_close(
        ours["last_hidden_state"], hf_outputs(hf, x).last_hidden_state, x["attention_mask"]
    )


def test_call_options(checkpoints):
    x = encoder_batch(SPEC)
    run_call_options_test(SPEC, checkpoints, "QuestionAnswering", x, "start_logits", num_labels=2)

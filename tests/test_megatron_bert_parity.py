"""MegatronBERT: every class loaded from a transformers checkpoint matches transformers."""

import keras
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
    token_labels,
)
from tests.helpers import assert_close, hf_outputs, np_out, save_hf

SPEC = FAMILIES["megatron_bert"]
VOCAB = SPEC.vocab
checkpoints = checkpoint_fixture(SPEC)


def batch(rng=None):
    return encoder_batch(SPEC, rng=rng)


def test_backbone_parity_and_input_forms(checkpoints):
    x = batch()
    run = run_backbone_test(SPEC, checkpoints, x)
    model, hf = run.model, run.hf
    assert model.embeddings.layer_norm is None and model.final_norm is not None
    assert "pooler_output" in run.ours
    # A list in the documented order, and a bare tensor (all defaults: mask of ones, token
    # types of zeros, absolute positions), against transformers with the same defaults.
    ids, mask = x["input_ids"], x["attention_mask"]
    from_list = model([ids, mask])
    assert_close(
        from_list["last_hidden_state"],
        hf_outputs(hf, {"input_ids": ids, "attention_mask": mask}).last_hidden_state,
        mask,
    )
    # (The same shapes as above throughout: on JAX each new shape recompiles every op.)
    assert_close(
        model(ids)["last_hidden_state"], hf_outputs(hf, {"input_ids": ids}).last_hidden_state
    )
    # Explicit position ids are used, not replaced by the default rule.
    positions = np.tile(np.arange(3, 10, dtype="int32"), (3, 1))
    assert_close(
        model({**x, "position_ids": positions})["last_hidden_state"],
        hf_outputs(hf, {**x, "position_ids": positions}).last_hidden_state,
        mask,
    )
    with pytest.raises(ValueError, match="token_type"):
        model({"input_ids": ids, "token_type_ids": ids.astype("float32")})


@pytest.mark.parametrize("head,overrides", SPEC.heads, ids=[h[0] for h in SPEC.heads])
def test_head_parity_and_loss(checkpoints, head, overrides):
    # Compiled for next sentence prediction: that loss, once in the suite.
    compiled = head == "NextSentencePrediction"
    run_task_test(SPEC, checkpoints, head, batch(), compiled, **overrides)


def test_causal_lm_is_causal(checkpoints):
    # With is_decoder the first positions must not see later tokens.
    directory, _ = checkpoints("CausalLM", is_decoder=True)
    model = keras_models.MegatronBertForCausalLM.from_preset(directory)
    x = batch()
    changed = {**x, "input_ids": x["input_ids"].copy()}
    changed["input_ids"][0, 5:] = 7
    a = keras.ops.convert_to_numpy(model(x)["logits"])[0, :5]
    b = keras.ops.convert_to_numpy(model(changed)["logits"])[0, :5]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_pretraining_parity_and_loss(checkpoints):
    directory, hf = checkpoints("PreTraining")
    x = batch()
    model = keras_models.MegatronBertForPreTraining.from_preset(directory)
    assert model.backbone.pooler is not None
    mlm = token_labels(x, VOCAB, seed=3)
    nsp = np.array([1, 0, 1])
    theirs = hf_outputs(hf, x, labels=mlm, next_sentence_label=nsp)
    ours = model(x)
    assert_close(ours["prediction_logits"], theirs.prediction_logits, x["attention_mask"])
    assert_close(ours["seq_relationship_logits"], theirs.seq_relationship_logits)
    model.compile()
    expected = float(theirs.loss)
    # Labels as a tuple in HF order, as a dict, and inside the `x` dict.
    for x_in, y_in in (
        (x, (mlm, nsp)),
        (x, {"next_sentence_label": nsp, "labels": mlm}),
        ({**x, "labels": mlm, "next_sentence_label": nsp}, None),
    ):
        loss = model.evaluate(x_in, y_in, verbose=0, batch_size=3)
        np.testing.assert_allclose(loss, expected, atol=1e-5)
    # transformers gives no loss from one label alone; our default loss refuses it up front.
    assert hf_outputs(hf, x, labels=mlm).loss is None
    with pytest.raises(ValueError, match="next_sentence_label"):
        model.evaluate(x, {"labels": mlm}, verbose=0)


def test_pretraining_fit_lowers_loss(checkpoints):
    directory, _ = checkpoints("PreTraining")
    model = keras_models.MegatronBertForPreTraining.from_preset(directory)
    x = batch()
    y = {"labels": token_labels(x, VOCAB, seed=4), "next_sentence_label": np.array([0, 1, 1])}
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    # One batch per epoch: the first epoch's loss is taken before any update (dropout on).
    losses = model.fit(x, y, epochs=5, batch_size=3, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0] - 0.5, losses


def test_multiple_choice_parity(checkpoints):
    x = choices(batch(rng=np.random.default_rng(3)))
    run_multiple_choice_test(SPEC, checkpoints, x)


def test_generic_tasks_resolve_and_heads_transfer(checkpoints):
    directory, hf = checkpoints("PreTraining")
    x = batch()
    theirs = hf_outputs(hf, x)
    # The generic classes load the family subclass.
    nsp_model = keras_models.NextSentencePrediction.from_preset(directory)
    assert type(nsp_model) is keras_models.MegatronBertForNextSentencePrediction
    assert_close(nsp_model(x)["logits"], theirs.seq_relationship_logits)
    # A pretraining checkpoint also fills the masked-LM head (the NSP head is left unused).
    with pytest.warns(UserWarning, match="seq_relationship"):
        mlm_model = keras_models.MegatronBertForMaskedLM.from_preset(directory)
    assert_close(mlm_model(x)["logits"], theirs.prediction_logits, x["attention_mask"])
    pre = keras_models.Pretraining.from_preset(directory)
    assert type(pre) is keras_models.MegatronBertForPreTraining
    assert keras_models.Pretraining.needs_pooler({})
    assert keras_models.NextSentencePrediction.needs_pooler({})


@pytest.mark.parametrize(
    "problem_type,num_labels",
    [("regression", 1), ("multi_label_classification", 3)],
)
def test_sequence_classification_problem_types(tmp_path, problem_type, num_labels):
    run_problem_type_test(SPEC, tmp_path, batch(), problem_type, num_labels)


def test_odd_sizes_and_left_padding(tmp_path):
    hf = save_hf(transformers.MegatronBertModel, SPEC.config(**ODD_SIZES), tmp_path)
    x = left_padded_batch(SPEC)
    ours = keras_models.MegatronBertBackbone.from_preset(tmp_path)(x)
    theirs = hf_outputs(hf, x)
    assert_close(ours["last_hidden_state"], theirs.last_hidden_state, x["attention_mask"])
    assert_close(ours["pooler_output"][1:], np_out(theirs.pooler_output)[1:])


def test_next_sentence_head_layer_alone():
    pooled = keras.Input((8,))
    head = keras_models.layers.NextSentenceHead()
    model = keras.Model(pooled, head(pooled))
    x = np.random.default_rng(6).normal(size=(3, 8)).astype("float32")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (head.dense.kernel, head.dense.bias))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x @ kernel + bias, atol=1e-6)
    clone = keras_models.layers.NextSentenceHead.from_config(head.get_config())
    assert clone.get_config() == head.get_config()


def test_pretraining_saving_functional_use_and_bfloat16(checkpoints, tmp_path):
    directory, _ = checkpoints("PreTraining")
    model = keras_models.MegatronBertForPreTraining.from_preset(directory)
    x = batch()
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in model(x).items()}
    model.save(str(tmp_path / "pre.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "pre.keras"))
    assert type(loaded) is keras_models.MegatronBertForPreTraining
    for name, value in loaded(x).items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(value), expected[name], atol=1e-6)
    # Called on a symbolic input of unknown length: the default positions are computed there.
    ids = keras.Input((None,), dtype="int32")
    wrapper = keras.Model(ids, model(ids)["seq_relationship_logits"])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(wrapper(x["input_ids"])),
        keras.ops.convert_to_numpy(model(x["input_ids"])["seq_relationship_logits"]),
        atol=1e-6,
    )
    half = keras_models.MegatronBertForPreTraining.from_preset(directory, dtype="mixed_bfloat16")
    out = half(x)["prediction_logits"]
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    diff = np.abs(
        keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")) - expected["prediction_logits"]
    )
    assert np.max(diff[x["attention_mask"] == 1]) < 0.1


def test_call_options(checkpoints):
    # Pre-LN: the last hidden state is taken after the final LayerNorm, as in transformers.
    run_call_options_test(
        SPEC, checkpoints, "QuestionAnswering", batch(), "start_logits", num_labels=2
    )

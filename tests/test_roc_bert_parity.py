"""RoCBert: every class loaded from a transformers checkpoint matches transformers, with both
ways of mixing the word, shape and pronunciation embeddings (`concat_input`)."""

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
    run_backbone_test,
    run_call_options_test,
    run_multiple_choice_test,
    run_task_test,
)
from tests.helpers import assert_close, hf_outputs, np_out, random_ids, save_hf

SPEC = FAMILIES["roc_bert"]
PAD, VOCAB = SPEC.pad, SPEC.vocab
SHAPE_VOCAB, PRON_VOCAB = SPEC.parity["shape_vocab_size"], SPEC.parity["pronunciation_vocab_size"]
CONCAT = [True, False]
#: Backbone arguments copied from the tiny transformers config (the same sizes everywhere, so
#: JAX reuses the kernels it compiled for them).
ROC_BERT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "shape_vocab_size",
    "shape_embed_dim",
    "pronunciation_vocab_size",
    "pronunciation_embed_dim",
)


def mixing(concat_input):
    """Config overrides of one way of mixing the embeddings."""
    # Averaging (concat_input=False) adds the tables, so their widths must be hidden_size.
    return dict(
        concat_input=concat_input,
        shape_embed_dim=12 if concat_input else 32,
        pronunciation_embed_dim=10 if concat_input else 32,
    )


checkpoints = checkpoint_fixture(SPEC)


def batch(seq=7, rng=None):
    """The encoder batch with shape and pronunciation ids."""
    rng = rng or np.random.default_rng(1)
    x = encoder_batch(SPEC, seq=seq, rng=rng)
    x["input_shape_ids"] = random_ids(rng, x["input_ids"].shape, 0, SHAPE_VOCAB)
    x["input_pronunciation_ids"] = random_ids(rng, x["input_ids"].shape, 0, PRON_VOCAB)
    return x


@pytest.mark.parametrize("concat_input", CONCAT)
def test_backbone_parity(checkpoints, concat_input):
    x = batch()
    mask = x["attention_mask"]
    run = run_backbone_test(SPEC, checkpoints, x, **mixing(concat_input))
    model, hf, theirs = run.model, run.hf, run.theirs
    assert model.concat_input is concat_input
    assert (model.embeddings.map_inputs_layer is not None) is concat_input
    assert "pooler_output" in run.ours
    # The list form follows transformers' order: ids, shape, pronunciation, mask, types.
    ordered = [x[k] for k in model.input_names[:5]]
    assert_close(model(ordered)["last_hidden_state"], theirs.last_hidden_state, mask)

    # Missing shape / pronunciation ids: row 0 (concat) or left out of the average (no concat).
    shape, pronunciation = "input_shape_ids", "input_pronunciation_ids"
    for drop in ((shape,), (pronunciation,), (shape, pronunciation)):
        partial = {k: v for k, v in x.items() if k not in drop}
        assert_close(
            model(partial)["last_hidden_state"], hf_outputs(hf, partial).last_hidden_state, mask
        )

    # Only `input_ids`, as a tensor: every other input gets transformers' default.
    ids = keras.ops.convert_to_tensor(x["input_ids"])
    theirs_ids = hf_outputs(hf, {"input_ids": x["input_ids"]})
    out = model(ids)
    assert_close(out["last_hidden_state"], theirs_ids.last_hidden_state)
    assert_close(out["pooler_output"], theirs_ids.pooler_output)
    # The missing ids really change the result (the test above would catch a wrong default).
    assert np.max(np.abs(np_out(theirs_ids.pooler_output) - np_out(theirs.pooler_output))) > 1e-3


def test_odd_sizes_and_disabled_parts(tmp_path):
    # Shape disabled, pronunciation on, odd widths: map_inputs_layer takes word | pronunciation.
    sizes = {**mixing(True), **ODD_SIZES, "pronunciation_embed_dim": 7}
    config = SPEC.config(**sizes, enable_shape=False)
    hf = save_hf(transformers.RoCBertModel, config, tmp_path)
    model = keras_models.RoCBertBackbone.from_preset(tmp_path)
    assert tuple(model.embeddings.map_inputs_layer.kernel.shape) == (24 + 7, 24)
    rng = np.random.default_rng(5)
    x = batch(seq=11, rng=rng)
    x["input_ids"][0, :4] = PAD  # left padding
    x["attention_mask"][0, :4] = 0
    ours = model(x)["last_hidden_state"]
    assert_close(ours, hf_outputs(hf, x).last_hidden_state, x["attention_mask"])


@pytest.mark.parametrize("concat_input", CONCAT)
@pytest.mark.parametrize("head,overrides", SPEC.heads, ids=[h[0] for h in SPEC.heads])
def test_head_parity_and_loss(checkpoints, head, overrides, concat_input):
    x = batch()
    run = run_task_test(SPEC, checkpoints, head, x, **mixing(concat_input), **overrides)
    assert (run.model.backbone.pooler is not None) is (head == "SequenceClassification")
    # A tensor of input ids alone matches transformers called with `input_ids` only.
    theirs_ids = hf_outputs(run.hf, {"input_ids": x["input_ids"]})
    ours_ids = run.model(keras.ops.convert_to_tensor(x["input_ids"]))
    assert_close(ours_ids[run.key], getattr(theirs_ids, run.key))


@pytest.mark.parametrize("concat_input", CONCAT)
def test_multiple_choice_parity(checkpoints, concat_input):
    rng = np.random.default_rng(3)
    x = choices(batch(rng=rng))  # [2, 3, 7]
    x["input_shape_ids"][1] = random_ids(rng, (3, 7), 0, SHAPE_VOCAB)
    run = run_multiple_choice_test(SPEC, checkpoints, x, **mixing(concat_input))
    model, hf = run.model, run.hf
    # The shape / pronunciation defaults also hold per choice.
    ids_only = {"input_ids": x["input_ids"]}
    ours = model(keras.ops.convert_to_tensor(x["input_ids"]))["logits"]
    assert_close(ours, hf_outputs(hf, ids_only).logits)


def pretraining_labels(x, rng):
    """Labels of RoCBertForPreTraining: MLM targets (-100 on pads and some tokens), attack
    inputs (a perturbed copy) and target-side inputs (pronunciation ids left out)."""
    target = x["input_ids"].copy()
    target[x["attention_mask"] == 0] = -100
    target[0, 2] = -100
    # Rows rolled by one and a token changed: the matching pairs are off the diagonal, so the
    # contrastive term is far from 0 with either embedding mix.
    attack = np.roll(x["input_ids"], 1, axis=0)
    attack[:, 1] = random_ids(rng, (3,), 1, VOCAB, avoid=(PAD,))
    labels = {
        "attack_input_ids": attack,
        "attack_input_shape_ids": random_ids(rng, attack.shape, 0, SHAPE_VOCAB),
        "attack_input_pronunciation_ids": np.roll(x["input_pronunciation_ids"], 1, axis=0),
        "attack_attention_mask": np.roll(x["attention_mask"], 1, axis=0),
        "labels_input_ids": target,
        "labels_input_shape_ids": x["input_shape_ids"],
        "labels_attention_mask": x["attention_mask"],
        "labels_token_type_ids": x["token_type_ids"],
    }
    return {k: v.astype("int64") for k, v in labels.items()}  # torch's CE wants int64 targets


@pytest.mark.parametrize("concat_input", CONCAT)
def test_pretraining_parity_and_losses(checkpoints, concat_input):
    directory, hf = checkpoints("PreTraining", **mixing(concat_input))
    model = keras_models.RoCBertForPreTraining.from_preset(directory)
    assert model.backbone.pooler is not None
    x = batch()
    labels = pretraining_labels(x, np.random.default_rng(6))
    theirs = hf_outputs(hf, x, **labels)
    ours = model(x)
    assert_close(ours["logits"], theirs.logits, x["attention_mask"])
    # Eager: each form of the data below would retrace a compiled step; the loss runs compiled
    # in test_pretraining_fit_updates_through_contrastive_passes.
    model.compile(run_eagerly=True)
    # The two settings share the forms of the data.
    # The cosine similarities are scaled by 100, so the float32 round-off is relative.
    close = dict(rtol=1e-5, atol=1e-5)
    if concat_input:  # MLM + contrastive, labels as `y` (a dict)
        loss = model.evaluate(x, labels, verbose=0, batch_size=3)
    else:  # the same labels inside the `x` dict
        loss = model.evaluate({**x, **labels}, verbose=0, batch_size=3)
    np.testing.assert_allclose(loss, float(theirs.loss), **close)
    # Only `input_ids` as a tensor, with ids-only attack and target inputs.
    ids_labels = {k: labels[k] for k in ("attack_input_ids", "labels_input_ids")}
    theirs_ids = hf_outputs(hf, {"input_ids": x["input_ids"]}, **ids_labels)
    ids = keras.ops.convert_to_tensor(x["input_ids"])
    assert_close(model(ids)["logits"], theirs_ids.logits)
    if concat_input:
        loss = model.evaluate(x["input_ids"], ids_labels, verbose=0, batch_size=3)
        np.testing.assert_allclose(loss, float(theirs_ids.loss), **close)
    else:
        # Without attack inputs the loss is the MLM term alone; a bare `y` is the MLM target.
        mlm = hf_outputs(hf, x, labels_input_ids=labels["labels_input_ids"]).loss
        assert abs(float(mlm) - float(theirs.loss)) > 1e-3
        loss = model.evaluate(x, labels["labels_input_ids"], verbose=0, batch_size=3)
        np.testing.assert_allclose(loss, float(mlm), atol=1e-5)


def test_pretraining_fit_updates_through_contrastive_passes():
    config = SPEC.config(num_hidden_layers=1, **mixing(True)).to_dict()
    backbone = keras_models.RoCBertBackbone(
        **{k: config[k] for k in ROC_BERT_FIELDS},
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = keras_models.RoCBertForPreTraining(backbone)
    x = batch()
    labels = pretraining_labels(x, np.random.default_rng(7))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    # One step per epoch: each epoch's loss is taken before that epoch's update.
    losses = model.fit(x, labels, epochs=2, batch_size=3, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and losses[1] < losses[0]


def test_embeddings_layer_alone_and_errors():
    # The sizes of the parity tests, so JAX reuses the kernels it compiled for them.
    sizes = dict(
        shape_vocab_size=SHAPE_VOCAB,
        pronunciation_vocab_size=PRON_VOCAB,
        max_position_embeddings=64,
    )
    layer = keras_models.layers.RoCBertEmbeddings(
        VOCAB, 32, shape_embed_dim=32, pronunciation_embed_dim=32, concat_input=False, **sizes
    )
    ids = keras.Input(shape=(None,), dtype="int32")
    shape_ids = keras.Input(shape=(None,), dtype="int32")
    functional = keras.Model([ids, shape_ids], layer(ids, input_shape_ids=shape_ids))
    x, shapes = batch()["input_ids"], batch()["input_shape_ids"]
    out = keras.ops.convert_to_numpy(functional([x, shapes]))
    # Negative shape ids mean "not given": the same as calling without them.
    alone = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(functional([x, x * 0 - 1])), alone)
    assert np.max(np.abs(out - alone)) > 1e-3
    clone = keras_models.layers.RoCBertEmbeddings.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="shape_embed_dim"):
        keras_models.layers.RoCBertEmbeddings(VOCAB, 8, shape_embed_dim=4, concat_input=False)
    backbone = keras_models.RoCBertBackbone(
        vocab_size=VOCAB,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=8,
        shape_embed_dim=4,
        pronunciation_embed_dim=4,
        **sizes,
    )
    with pytest.raises(ValueError, match="input_shape_ids"):
        backbone({"input_ids": x, "input_shape_ids": x.astype("float32")})
    with pytest.raises(ValueError, match="input_pronunciation_ids"):
        backbone([x, x, x[0]])  # rank 1


def test_keras_file_round_trip(tmp_path, checkpoints):
    directory, _ = checkpoints("PreTraining", **mixing(False))
    model = keras_models.RoCBertForPreTraining.from_preset(directory)
    path = str(tmp_path / "pretraining.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is keras_models.RoCBertForPreTraining
    x = batch()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)["logits"]),
        keras.ops.convert_to_numpy(model(x)["logits"]),
        atol=1e-6,
    )


def test_preset_registered():
    names = [p.name for p in keras_models.list_presets(family="roc_bert", embedded=False)]
    assert names == ["roc_bert_base_zh"]


@pytest.mark.parametrize("concat_input", CONCAT)
def test_call_options(checkpoints, concat_input):
    # Given vectors replace the word lookup only: shape and pronunciation ids still count.
    overrides = dict(mixing(concat_input), num_labels=2)
    run_call_options_test(
        SPEC, checkpoints, "QuestionAnswering", batch(), "start_logits", **overrides
    )

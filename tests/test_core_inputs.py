"""Input forms, labels, fit and bad input for backbones and tasks (RoBERTa as the example)."""

import keras
import numpy as np
import pytest

import keras_models


def small_backbone(**kwargs):
    config = dict(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    config.update(kwargs)
    return keras_models.RobertaBackbone(**config)


def to_np(x):
    return keras.ops.convert_to_numpy(x)


IDS = np.array([[0, 5, 6, 7, 2, 1], [0, 8, 9, 2, 1, 1]], dtype="int32")
MASK = (IDS != 1).astype("int32")


@pytest.fixture(scope="module")
def qa():
    return keras_models.RobertaForQuestionAnswering(small_backbone(add_pooling_layer=False))


def test_tensor_list_dict_and_keywords_agree(qa):
    # Without a mask the default is all ones, so compare forms that carry the same mask.
    full = to_np(qa({"input_ids": IDS, "attention_mask": MASK})["start_logits"])
    np.testing.assert_allclose(to_np(qa([IDS, MASK])["start_logits"]), full, atol=1e-6)
    np.testing.assert_allclose(to_np(qa(IDS, attention_mask=MASK)["start_logits"]), full, atol=1e-6)
    bare = to_np(qa(IDS)["start_logits"])
    np.testing.assert_allclose(
        bare, to_np(qa({"input_ids": IDS, "attention_mask": None})["start_logits"]), atol=1e-6
    )
    np.testing.assert_allclose(
        bare,
        to_np(qa({"input_ids": IDS, "attention_mask": np.ones_like(IDS)})["start_logits"]),
        atol=1e-6,
    )
    assert not np.allclose(bare, full)


def test_predict_accepts_every_form(qa):
    expected = to_np(qa([IDS, MASK])["end_logits"])
    for x in ([IDS, MASK], {"input_ids": IDS, "attention_mask": MASK}, (IDS, MASK)):
        np.testing.assert_allclose(qa.predict(x, verbose=0)["end_logits"], expected, atol=1e-5)
    assert qa.predict(IDS, verbose=0)["end_logits"].shape == IDS.shape


def test_symbolic_call_inside_a_user_model(qa):
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    out = qa(ids)
    user = keras.Model(ids, out["start_logits"] + out["end_logits"])
    expected = to_np(qa(IDS)["start_logits"]) + to_np(qa(IDS)["end_logits"])
    np.testing.assert_allclose(to_np(user(IDS)), expected, atol=1e-5)
    # The wrapped model trains too.
    user.compile("adam", loss="mse")
    user.fit(IDS, np.zeros(IDS.shape, "float32"), verbose=0, epochs=1)


def test_symbolic_list_and_dict(qa):
    ids = keras.Input(shape=(None,), dtype="int32")
    mask = keras.Input(shape=(None,), dtype="int32")
    user = keras.Model([ids, mask], qa({"input_ids": ids, "attention_mask": mask})["end_logits"])
    np.testing.assert_allclose(
        to_np(user([IDS, MASK])), to_np(qa([IDS, MASK])["end_logits"]), atol=1e-5
    )


@pytest.mark.parametrize("form", ["y_tuple", "y_dict", "labels_in_x", "list_x"])
def test_fit_lowers_the_loss(form):
    model = keras_models.RobertaForQuestionAnswering(small_backbone(add_pooling_layer=False))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 50, size=(32, 8)).astype("int32")
    starts = np.full(32, 2, "int32")
    ends = np.full(32, 4, "int32")
    if form == "y_tuple":
        x, y = ids, (starts, ends)
    elif form == "y_dict":
        x, y = {"input_ids": ids}, {"start_positions": starts, "end_positions": ends}
    elif form == "labels_in_x":
        x, y = {"input_ids": ids, "start_positions": starts, "end_positions": ends}, None
    else:
        x, y = [ids, np.ones_like(ids)], (starts, ends)
    before = model.evaluate(x, y, verbose=0, batch_size=16)
    model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0, batch_size=16)
    assert after < before * 0.5, (before, after)


def test_user_loss_replaces_the_default():
    model = keras_models.RobertaForSequenceClassification(
        small_backbone(add_pooling_layer=False), num_labels=3
    )
    labels = np.array([0, 2])
    model.compile(loss={"logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True)})
    user = model.evaluate(IDS, {"logits": labels}, verbose=0)
    model.compile()
    default = model.evaluate(IDS, labels, verbose=0)
    np.testing.assert_allclose(user, default, atol=1e-5)
    model.compile(loss={"logits": keras.losses.MeanSquaredError()})
    mse = model.evaluate(IDS, {"logits": np.zeros((2, 3), "float32")}, verbose=0)
    logits = to_np(model(IDS)["logits"])
    np.testing.assert_allclose(mse, np.mean(logits**2), atol=1e-5)


def test_backbone_forms_and_functional_use():
    backbone = small_backbone()
    out = backbone([IDS, MASK])
    assert set(out) == {"last_hidden_state", "pooler_output"}
    ids = keras.Input(shape=(None,), dtype="int32")
    pooled = backbone(ids)["pooler_output"]
    user = keras.Model(ids, keras.layers.Dense(1)(pooled))
    assert user(IDS).shape == (2, 1)


@pytest.mark.parametrize(
    "bad,match",
    [
        ({"input_ids": IDS, "bogus": IDS}, "Accepted names"),
        ([IDS, MASK, MASK, MASK, None, None, MASK, MASK], "at most 7"),
        ([IDS, MASK, MASK, MASK, None, None, MASK], "`past_key_values` must be"),
        ([IDS, MASK, MASK, MASK, MASK], "`head_mask` must have shape"),
        (IDS[0], "rank 2"),
        (IDS.astype("float32"), "integer ids"),
        ({"attention_mask": MASK}, "`input_ids` is required"),
    ],
)
def test_bad_inputs_raise_value_error(qa, bad, match):
    with pytest.raises(ValueError, match=match):
        qa(bad)


def test_bad_inputs_in_fit_and_labels(qa):
    qa.compile()
    with pytest.raises(ValueError, match="Accepted names"):
        qa.fit({"input_ids": IDS, "start_position": np.zeros(2)}, verbose=0)
    with pytest.raises(ValueError, match="Unknown label name"):
        qa.evaluate(IDS, {"start": np.zeros(2, "int32")}, verbose=0)
    with pytest.raises(ValueError, match="No labels"):
        qa.evaluate(IDS, verbose=0)


def test_multiple_choice_rank_is_checked():
    model = keras_models.RobertaForMultipleChoice(small_backbone())
    assert model(np.stack([IDS, IDS]))["logits"].shape == (2, 2)
    with pytest.raises(ValueError, match="rank 3"):
        model(IDS)


@pytest.mark.parametrize(
    "x,match",
    [
        (np.array([[0, 5, 50]]), r"`input_ids` holds 50, outside the accepted range \[0, 50\)"),
        (np.array([[0, -1, 2]]), "`input_ids` holds -1"),
        ({"input_ids": IDS, "token_type_ids": IDS * 0 + 2}, "`token_type_ids` holds 2"),
        (np.full((1, 39), 5), "sequence is too long: length 39"),
        (np.zeros((0, 4), "int32"), "is empty"),
        (np.zeros((2, 0), "int32"), "is empty"),
    ],
)
def test_out_of_range_ids_raise_in_calls_and_fit(qa, x, match):
    with pytest.raises(ValueError, match=match):
        qa(x)
    qa.compile()
    labels = (np.zeros(len(x["input_ids"]) if isinstance(x, dict) else len(x), "int32"),) * 2
    with pytest.raises(ValueError, match=match):
        qa.fit(x, labels, verbose=0)
    with pytest.raises(ValueError, match=match):
        qa.predict(x, verbose=0)


def test_longest_sequence_is_accepted(qa):
    # 40 positions with RoBERTa's offset of pad + 1 = 2 leave 38 tokens.
    assert qa(np.full((1, 38), 5))["start_logits"].shape == (1, 38)


def test_all_padding_rows_are_finite(qa):
    out = qa([IDS * 0 + 1, IDS * 0])
    assert np.isfinite(to_np(out["start_logits"])).all()


def test_inputs_whose_shapes_disagree_raise():
    model = keras_models.RobertaForMultipleChoice(small_backbone())
    ids = np.stack([IDS, IDS])
    with pytest.raises(ValueError, match=r"`attention_mask` has shape \(2, 2, 5\)"):
        model({"input_ids": ids, "attention_mask": ids[..., :5]})


def test_output_flags_as_constructor_arguments_feed_a_user_model(qa):
    # The graph itself carries the outputs, so a functional model can use them.
    backbone = small_backbone(
        num_hidden_layers=2, output_attentions=True, output_hidden_states=True
    )
    ids = keras.Input(shape=(None,), dtype="int32")
    out = backbone(ids)
    user = keras.Model(ids, {"first": out["attentions"][0], "mid": out["hidden_states"][1]})
    got = user(IDS)
    eager = backbone(IDS, output_attentions=False)
    assert "attentions" not in eager and "hidden_states" in eager
    np.testing.assert_allclose(to_np(got["mid"]), to_np(eager.hidden_states[1]), atol=1e-6)
    assert got["first"].shape == (2, 2, 6, 6)
    config = backbone.get_config()
    assert config["output_attentions"] is True
    assert "attentions" in type(backbone).from_config(config)(IDS)
    # The task built on it passes the extra outputs on after its own.
    task = keras_models.RobertaForQuestionAnswering(backbone)
    assert list(task(IDS)) == ["start_logits", "end_logits", "hidden_states", "attentions"]


def test_call_options_are_checked(qa):
    with pytest.raises(ValueError, match="`head_mask` must have shape"):
        qa(IDS, head_mask=np.ones((3,)))
    embeds = np.zeros((2, 6, 16), "float32")
    with pytest.raises(ValueError, match="inputs_embeds"):
        qa({"input_ids": IDS, "inputs_embeds": embeds})
    with pytest.raises(ValueError, match="inputs_embeds"):
        qa.predict({"inputs_embeds": embeds}, verbose=0)
    with pytest.raises(ValueError, match="labels .* not enough"):
        qa(IDS, start_positions=np.array([1, 2]))
    with pytest.raises(ValueError, match="use_cache"):
        qa(IDS, use_cache=True)  # an encoder has no cache
    # Symbolic inputs with options build a graph with those outputs.
    ids = keras.Input(shape=(None,), dtype="int32")
    out = qa(ids, output_hidden_states=True)
    assert len(out["hidden_states"]) == 2

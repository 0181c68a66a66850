"""KerasHub presets (RoBERTa and OPT, saved by keras-hub's own `save_to_preset`) open in our
classes and compute what keras-hub computes on every real token of a right-padded batch."""

import warnings

import keras
import keras_hub  # test-only; `make install` installs it (see the Makefile)
import numpy as np
import pytest

import keras_models

VOCAB = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "a": 5, "b": 6, "Ġ": 7}
VOCAB.update({"Ġa": 8, "ab": 9, "Ġab": 10, "c": 11, "Ġc": 12})
MERGES = ["a b", "Ġ a", "Ġa b", "Ġ c"]
SIZES = dict(vocabulary_size=13, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16)
IDS = np.array([[0, 5, 6, 7, 12, 2], [0, 8, 9, 2, 1, 1]], "int32")
MASK = (IDS != 1).astype("int32")


def to_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def randomized(model, seed=0):
    """Every weight moved off its initial value (zero biases, unit LayerNorm scales)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(to_np(weight) + rng.normal(scale=0.1, size=weight.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    root = tmp_path_factory.mktemp("keras_hub")
    made = {}
    roberta = randomized(keras_hub.models.RobertaBackbone(**SIZES, max_sequence_length=12))
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=VOCAB, merges=MERGES)
    opt = randomized(keras_hub.models.OPTBackbone(**SIZES, max_sequence_length=12), seed=1)
    opt_tokenizer = keras_hub.models.OPTTokenizer(vocabulary=VOCAB, merges=MERGES)
    models = {
        "RobertaBackbone": roberta,
        "RobertaMaskedLM": keras_hub.models.RobertaMaskedLM(
            roberta, keras_hub.models.RobertaMaskedLMPreprocessor(tokenizer, sequence_length=8)
        ),
        "RobertaTextClassifier": keras_hub.models.RobertaTextClassifier(
            roberta,
            num_classes=3,
            preprocessor=keras_hub.models.RobertaTextClassifierPreprocessor(tokenizer),
        ),
        "OPTBackbone": opt,
        "OPTCausalLM": keras_hub.models.OPTCausalLM(
            opt, keras_hub.models.OPTCausalLMPreprocessor(opt_tokenizer, sequence_length=8)
        ),
    }
    randomized(models["RobertaTextClassifier"], seed=2)  # its head (and the shared backbone)
    for name, model in models.items():
        model.save_to_preset(str(root / name))
        made[name] = (str(root / name), model)
    return made


CASES = {
    "RobertaBackbone": keras_models.RobertaBackbone,
    "RobertaMaskedLM": keras_models.RobertaForMaskedLM,
    "RobertaTextClassifier": keras_models.RobertaForSequenceClassification,
    "OPTBackbone": keras_models.OPTBackbone,
    "OPTCausalLM": keras_models.OPTForCausalLM,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_hub_presets_open_with_equal_outputs(presets, name):
    directory, theirs_model = presets[name]
    ids = IDS if name.startswith("Roberta") else np.where(IDS == 0, 2, IDS)  # OPT starts </s>
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RoBERTa's pooler is not in KerasHub: it starts fresh
        model = CASES[name].from_preset(directory)
    backbone = getattr(theirs_model, "backbone", theirs_model)
    real = MASK.astype(bool)
    theirs = to_np(backbone({"token_ids": ids, "padding_mask": MASK}))
    ours = to_np(getattr(model, "backbone", model)([ids, MASK])["last_hidden_state"])
    np.testing.assert_allclose(ours[real], theirs[real], atol=1e-5)
    if name.endswith("MaskedLM"):
        positions = np.array([[1, 3], [1, 2]], "int32")
        inputs = {"token_ids": ids, "padding_mask": MASK, "mask_positions": positions}
        theirs = to_np(theirs_model(inputs))
        ours = np.take_along_axis(to_np(model([ids, MASK])["logits"]), positions[..., None], 1)
    elif name.endswith("CausalLM"):
        theirs = to_np(theirs_model({"token_ids": ids, "padding_mask": MASK}))[real]
        ours = to_np(model([ids, MASK])["logits"])[real]
    elif name.endswith("Classifier"):
        theirs = to_np(theirs_model({"token_ids": ids, "padding_mask": MASK}))
        ours = to_np(model([ids, MASK])["logits"])
    else:
        return
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_keras_hub_tokenizer_files_give_the_same_ids(presets):
    directory, theirs_model = presets["RobertaMaskedLM"]
    model = keras_models.RobertaForMaskedLM.from_preset(directory)
    text = "ab c a"
    theirs = to_np(theirs_model.preprocessor.tokenizer(text)).tolist()
    assert model.tokenizer(text, add_special_tokens=False)["input_ids"].tolist() == [theirs]


def test_unsupported_keras_hub_presets_are_refused(presets, tmp_path):
    bert = keras_hub.models.BertBackbone(**SIZES, max_sequence_length=12)
    bert.save_to_preset(str(tmp_path / "bert"))
    with pytest.raises(ValueError, match="BertBackbone.*presets that open here"):
        keras_models.RobertaBackbone.from_preset(str(tmp_path / "bert"))
    roberta = presets["RobertaBackbone"][1]
    softmax = keras_hub.models.RobertaTextClassifier(roberta, num_classes=2, activation="softmax")
    softmax.save_to_preset(str(tmp_path / "softmax"))
    with pytest.raises(ValueError, match="activation='softmax'"):
        keras_models.RobertaForSequenceClassification.from_preset(str(tmp_path / "softmax"))


KERAS_HUB_TASKS = {
    "RobertaBackbone": keras_hub.models.Backbone,
    "RobertaMaskedLM": keras_hub.models.MaskedLM,
    "RobertaTextClassifier": keras_hub.models.TextClassifier,
    "OPTBackbone": keras_hub.models.Backbone,
    "OPTCausalLM": keras_hub.models.CausalLM,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_exports_open_in_keras_hub_with_equal_outputs(presets, tmp_path, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CASES[name].from_preset(presets[name][0])
    for weight in model.trainable_weights:  # ours now, not the imported ones
        noise = np.random.default_rng(3).normal(scale=0.05, size=tuple(weight.shape))
        weight.assign(to_np(weight) + noise.astype("float32"))
    theirs_model = KERAS_HUB_TASKS[name].from_preset(model.export_to_keras_hub(tmp_path / name))
    ids = IDS if name.startswith("Roberta") else np.where(IDS == 0, 2, IDS)
    real = MASK.astype(bool)
    backbone = getattr(theirs_model, "backbone", theirs_model)
    theirs = to_np(backbone({"token_ids": ids, "padding_mask": MASK}))
    ours = to_np(getattr(model, "backbone", model)([ids, MASK])["last_hidden_state"])
    np.testing.assert_allclose(ours[real], theirs[real], atol=1e-5)
    if name.endswith("Classifier"):
        theirs = to_np(theirs_model({"token_ids": ids, "padding_mask": MASK}))
        np.testing.assert_allclose(to_np(model([ids, MASK])["logits"]), theirs, atol=1e-5)
    elif name.endswith("MaskedLM"):
        positions = np.array([[1, 3], [1, 2]], "int32")
        inputs = {"token_ids": ids, "padding_mask": MASK, "mask_positions": positions}
        ours = np.take_along_axis(to_np(model([ids, MASK])["logits"]), positions[..., None], 1)
        np.testing.assert_allclose(ours, to_np(theirs_model(inputs)), atol=1e-5)
    elif name.endswith("CausalLM"):
        theirs = to_np(theirs_model({"token_ids": ids, "padding_mask": MASK}))[real]
        np.testing.assert_allclose(to_np(model([ids, MASK])["logits"])[real], theirs, atol=1e-5)
    if hasattr(theirs_model, "preprocessor") and theirs_model.preprocessor is not None:
        tokens = theirs_model.preprocessor.tokenizer("ab c a")
        assert (
            to_np(tokens).tolist()
            == model.tokenizer("ab c a", add_special_tokens=False)["input_ids"].tolist()[0]
        )


def test_what_keras_hub_cannot_hold_is_refused(tmp_path):
    sizes = dict(vocab_size=13, hidden_size=8, num_hidden_layers=1, num_attention_heads=2)
    qa = keras_models.RobertaForQuestionAnswering(
        keras_models.RobertaBackbone(**sizes, intermediate_size=16, max_position_embeddings=14)
    )
    with pytest.raises(ValueError, match="no KerasHub counterpart"):
        qa.export_to_keras_hub(tmp_path / "qa")
    projected = keras_models.OPTBackbone(
        **sizes, ffn_dim=16, max_position_embeddings=12, word_embed_proj_dim=4
    )
    with pytest.raises(ValueError, match="`word_embed_proj_dim=4`"):
        projected.export_to_keras_hub(tmp_path / "opt")
    assert not (tmp_path / "qa").exists() and not (tmp_path / "opt").exists()

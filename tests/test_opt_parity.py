"""OPT: every class loaded from a transformers checkpoint matches transformers."""

import keras
import numpy as np
import pytest
import transformers

import keras_models
from tests.helpers import assert_close, hf_outputs, random_ids, save_hf

PAD = 1

VARIANTS = {
    # opt-125m style (pre-LN) with opt-350m's narrower word table and projections.
    "pre_ln_proj": dict(do_layer_norm_before=True, word_embed_proj_dim=16),
    # opt-350m style: post-LN (no final LayerNorm).
    "post_ln": dict(do_layer_norm_before=False),
    # The remaining switches: no biases, LayerNorms without parameters, final LN removed.
    "switches": dict(
        enable_bias=False, layer_norm_elementwise_affine=False, _remove_final_layer_norm=True
    ),
}


def tiny_config(variant, **overrides):
    config = dict(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=37,
        max_position_embeddings=64,
        pad_token_id=PAD,
        bos_token_id=2,
        eos_token_id=2,
        num_labels=3,
    )
    config.update(VARIANTS[variant])
    config.update(overrides)
    return transformers.OPTConfig(**config)


def batch(seq=7, rng=None):
    """Row 0 full, row 1 right padded, row 2 left padded."""
    rng = rng or np.random.default_rng(1)
    ids = random_ids(rng, (3, seq), 3, 99, avoid=(PAD,))
    ids[:, 0] = 2
    mask = np.ones_like(ids)
    ids[1, 5:] = PAD
    mask[1, 5:] = 0
    ids[2, :3] = PAD
    mask[2, :3] = 0
    ids[2, 3] = 2
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    made = {}

    def get(name, variant):
        key = (name, variant)
        if key not in made:
            directory = tmp_path_factory.mktemp(f"{name}_{variant}")
            model = save_hf(getattr(transformers, name), tiny_config(variant), directory)
            made[key] = (str(directory), model)
        return made[key]

    return get


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_backbone_parity(checkpoints, variant):
    directory, hf = checkpoints("OPTModel", variant)
    x = batch()
    model = keras_models.OPTBackbone.from_preset(directory)
    theirs = hf_outputs(hf, x).last_hidden_state
    assert_close(model(x)["last_hidden_state"], theirs, x["attention_mask"])
    # A list in HF order and explicit position ids (OPT adds its offset of 2 to them too).
    positions = np.maximum(np.cumsum(x["attention_mask"], 1) - 1, 0).astype("int32")
    listed = model([x["input_ids"], x["attention_mask"], positions])["last_hidden_state"]
    theirs = hf_outputs(hf, {**x, "position_ids": positions}).last_hidden_state
    assert_close(listed, theirs, x["attention_mask"])
    if variant == "pre_ln_proj":
        assert model.project_in is not None and model.final_layer_norm is not None
    if variant == "post_ln":
        assert model.final_layer_norm is None
    if variant == "switches":
        assert model.final_layer_norm is None
        assert not any("bias" in w.path or "beta" in w.path for w in model.weights)


@pytest.mark.parametrize("variant", ["pre_ln_proj", "post_ln"])
def test_causal_lm_parity_and_loss(checkpoints, variant):
    directory, hf = checkpoints("OPTForCausalLM", variant)
    x = batch()
    model = keras_models.OPTForCausalLM.from_preset(directory)
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 99, size=x["input_ids"].shape)
    labels[x["attention_mask"] == 0] = -100
    theirs = hf_outputs(hf, x, labels=labels)
    assert_close(model(x)["logits"], theirs.logits, x["attention_mask"])
    model.compile()
    loss = model.evaluate(x, labels, verbose=0, batch_size=3)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)


@pytest.mark.parametrize("variant", ["pre_ln_proj", "post_ln"])
def test_sequence_classification_parity_and_loss(checkpoints, variant):
    directory, hf = checkpoints("OPTForSequenceClassification", variant)
    x = batch()
    model = keras_models.OPTForSequenceClassification.from_preset(directory)
    assert not model.classifier.out_proj.use_bias
    labels = np.array([0, 2, 1])
    theirs = hf_outputs(hf, x, labels=labels)
    # Right- and left-padded rows read different positions: both must match.
    assert_close(model(x)["logits"], theirs.logits)
    model.compile()
    loss = model.evaluate(x, labels, verbose=0, batch_size=3)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)


@pytest.mark.parametrize("variant", ["pre_ln_proj", "post_ln"])
def test_question_answering_parity_and_loss(checkpoints, variant):
    directory, hf = checkpoints("OPTForQuestionAnswering", variant)
    x = batch()
    model = keras_models.OPTForQuestionAnswering.from_preset(directory)
    labels = {"start_positions": np.array([1, 2, 0]), "end_positions": np.array([3, 4, 40])}
    theirs = hf_outputs(hf, x, **labels)
    ours = model(x)
    assert_close(ours["start_logits"], theirs.start_logits, x["attention_mask"])
    assert_close(ours["end_logits"], theirs.end_logits, x["attention_mask"])
    model.compile()
    loss = model.evaluate(x, labels, verbose=0, batch_size=3)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)


def test_causal_lm_from_base_checkpoint_and_config_round_trip(checkpoints):
    directory, hf = checkpoints("OPTModel", "pre_ln_proj")
    backbone = keras_models.OPTBackbone.from_preset(directory)
    clone = keras_models.OPTBackbone.from_config(backbone.get_config())
    assert clone.get_config() == backbone.get_config()
    x = batch()
    model = keras_models.OPTForCausalLM(backbone)
    # The LM head is the tied word table: logits = h @ E.T.
    hidden = keras.ops.convert_to_numpy(backbone(x)["last_hidden_state"])
    table = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings)
    logits = keras.ops.convert_to_numpy(model(x)["logits"])
    np.testing.assert_allclose(logits, hidden @ table.T, atol=1e-4)


def test_registered_presets():
    names = [p.name for p in keras_models.list_presets(family="opt", embedded=False)]
    assert names == ["opt_1.3b", "opt_125m", "opt_2.7b", "opt_350m", "opt_6.7b"]


def test_bad_inputs():
    backbone = keras_models.OPTBackbone(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=1,
        ffn_dim=16,
        num_attention_heads=2,
        max_position_embeddings=32,
    )
    with pytest.raises(ValueError, match="token_type_ids"):
        backbone({"input_ids": np.ones((1, 3), "int32"), "token_type_ids": np.ones((1, 3))})
    with pytest.raises(ValueError, match="input_ids"):
        backbone(np.ones((1, 3), "float32"))

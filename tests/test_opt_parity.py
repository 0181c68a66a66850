"""OPT: every class loaded from a transformers checkpoint matches transformers."""

import keras
import numpy as np
import pytest

import keras_models
from tests.families import FAMILIES
from tests.harness import checkpoint_fixture, run_backbone_test, run_task_test
from tests.helpers import assert_close, hf_outputs, random_ids

SPEC = FAMILIES["opt"]
PAD = SPEC.pad

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


def batch(seq=7, rng=None):
    """Row 0 full, row 1 right padded, row 2 left padded."""
    rng = rng or np.random.default_rng(1)
    ids = random_ids(rng, (3, seq), SPEC.first_id, SPEC.vocab, avoid=(PAD,))
    ids[:, 0] = SPEC.bos
    mask = np.ones_like(ids)
    ids[1, 5:] = PAD
    mask[1, 5:] = 0
    ids[2, :3] = PAD
    mask[2, :3] = 0
    ids[2, 3] = SPEC.bos
    return {"input_ids": ids, "attention_mask": mask}


checkpoints = checkpoint_fixture(SPEC)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_backbone_parity(checkpoints, variant):
    x = batch()
    run = run_backbone_test(SPEC, checkpoints, x, **VARIANTS[variant])
    model, hf = run.model, run.hf
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
@pytest.mark.parametrize("head,overrides", SPEC.heads, ids=[h[0] for h in SPEC.heads])
def test_head_parity_and_loss(checkpoints, head, overrides, variant):
    # Sequence classification: right- and left-padded rows read different positions, and both
    # must match.
    run = run_task_test(SPEC, checkpoints, head, batch(), **VARIANTS[variant], **overrides)
    if head == "SequenceClassification":
        assert not run.model.classifier.out_proj.use_bias


def test_causal_lm_from_base_checkpoint_and_config_round_trip(checkpoints):
    directory, hf = checkpoints("Model", **VARIANTS["pre_ln_proj"])
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

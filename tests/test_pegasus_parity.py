"""Pegasus: every class loaded from a transformers checkpoint matches transformers; encode
then decode equals the full call; greedy and beam generation give transformers' tokens."""

import os
import shutil

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_models
from keras_models.layers.sinusoidal_embedding import sinusoidal_table
from tests.families import FAMILIES
from tests.harness import checkpoint_fixture, run_backbone_test, run_parity_test
from tests.helpers import assert_close, hf_outputs, random_ids, save_hf

SPEC = FAMILIES["pegasus"]
PAD, EOS = SPEC.pad, 1
NEW_TOKENS = 6


def batch(rng=None):
    """Encoder: row 0 full, rows 1 and 2 right padded. Decoder: start token first, row 1
    right padded."""
    rng = rng or np.random.default_rng(1)
    ids = random_ids(rng, (3, 7), SPEC.first_id, SPEC.vocab, avoid=(PAD, EOS))
    mask = np.ones_like(ids)
    for row, length in ((0, 7), (1, 5), (2, 3)):
        ids[row, length - 1] = EOS
        ids[row, length:] = PAD
        mask[row, length:] = 0
    dec = random_ids(rng, (3, 5), SPEC.first_id, SPEC.vocab, avoid=(PAD, EOS))
    dec[:, 0] = PAD  # decoder_start_token_id
    dec_mask = np.ones_like(dec)
    dec_mask[1, 4:] = 0
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "decoder_input_ids": dec,
        "decoder_attention_mask": dec_mask,
    }


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _bias_values(model, directory):
    if hasattr(model, "final_logits_bias"):
        # A buffer, so save_hf leaves it at zero: give it values to port.
        with torch.no_grad():
            model.final_logits_bias.normal_(0.0, 0.5)
        model.save_pretrained(directory)


checkpoints = checkpoint_fixture(SPEC, seed=3, after_save=_bias_values)


@pytest.fixture(scope="module")
def seq2seq(checkpoints):
    directory, hf = checkpoints("ConditionalGeneration")
    return keras_models.PegasusForConditionalGeneration.from_preset(directory), hf


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A seq2seq checkpoint with larger random weights: tiny models with small weights repeat
    one token, which would make generation tests weak."""
    directory = tmp_path_factory.mktemp("pegasus_generator")
    hf = save_hf(transformers.PegasusForConditionalGeneration, SPEC.config(), directory, seed=3)
    with torch.no_grad():
        for name, param in hf.named_parameters():
            if "embed_positions" not in name:
                param.add_(torch.randn_like(param) * 0.5)
        hf.final_logits_bias.normal_(0.0, 0.1)
    hf.save_pretrained(directory)
    model = keras_models.PegasusForConditionalGeneration.from_preset(str(directory))
    return model, hf


def test_backbone_parity_and_positions(checkpoints, tmp_path):
    x = batch()
    run = run_backbone_test(SPEC, checkpoints, x, mask=x["decoder_attention_mask"])
    model, hf, directory = run.model, run.hf, checkpoints("Model")[0]
    assert_close(
        run.ours["encoder_last_hidden_state"],
        run.theirs.encoder_last_hidden_state,
        x["attention_mask"],
    )
    # A list in the HF order; the default decoder mask is all ones (causal only).
    listed = model([x["input_ids"], x["attention_mask"], x["decoder_input_ids"]])
    full = hf_outputs(hf, {k: v for k, v in x.items() if k != "decoder_attention_mask"})
    assert_close(listed["last_hidden_state"], full.last_hidden_state)
    # Our table equals transformers' stored one (half-split sin | cos, float64 -> float32).
    stored = hf.encoder.embed_positions.weight.detach().numpy()
    sinusoid = sinusoidal_table(64, 32)
    np.testing.assert_array_equal(sinusoid, stored)
    np.testing.assert_array_equal(_numpy(model.embed_positions.embeddings), sinusoid)
    # Odd width: the sine block takes the extra column; position 0 is sin 0 | cos 0.
    np.testing.assert_array_equal(sinusoidal_table(2, 7)[0], [0, 0, 0, 0, 1, 1, 1])
    # A checkpoint whose table is not the sinusoid is refused, not silently ignored.
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(directory, bad)
    tensors = load_file(os.path.join(directory, "model.safetensors"))
    tensors["decoder.embed_positions.weight"] = tensors["decoder.embed_positions.weight"] + 0.1
    save_file(tensors, os.path.join(bad, "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="sinusoid"):
        keras_models.PegasusBackbone.from_preset(str(bad))
    clone = keras_models.PegasusBackbone.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    # Without decoder ids the decoder reads `input_ids` shifted right (the Flax seed's rule).
    shifted = np.concatenate([np.zeros_like(x["input_ids"][:, :1]), x["input_ids"][:, :-1]], 1)
    assert_close(
        model(x["input_ids"])["last_hidden_state"],
        _numpy(
            model({"input_ids": x["input_ids"], "decoder_input_ids": shifted})["last_hidden_state"]
        ),
    )


def test_conditional_generation_parity_loss_encode_decode(seq2seq):
    model, hf = seq2seq
    assert np.abs(_numpy(model.final_logits_bias.bias)).max() > 0.1
    x = batch()
    theirs = hf_outputs(hf, x)
    ours = model(x)
    assert_close(ours["logits"], theirs.logits, x["decoder_attention_mask"])
    assert_close(
        ours["encoder_last_hidden_state"], theirs.encoder_last_hidden_state, x["attention_mask"]
    )
    # encode() then decode() equals the full call.
    encoded = model.encode(x["input_ids"], x["attention_mask"])
    assert_close(encoded["last_hidden_state"], ours["encoder_last_hidden_state"], atol=1e-6)
    decoded = model.decode(
        x["decoder_input_ids"], encoded, x["attention_mask"], x["decoder_attention_mask"]
    )
    assert_close(decoded["logits"], ours["logits"], atol=1e-6)
    # Labels only: decoder inputs are the labels shifted right (-100 -> pad), loss unshifted.
    rng = np.random.default_rng(2)
    labels = rng.integers(2, 99, size=(3, 6))
    labels[1, 4:] = -100
    labels[2, 2] = -100
    enc = {"input_ids": x["input_ids"], "attention_mask": x["attention_mask"]}
    theirs = hf_outputs(hf, enc, labels=labels)
    assert_close(model({**enc, "labels": labels})["logits"], theirs.logits)
    # Eager: the seq2seq loss runs compiled in tests/test_mixed_precision.py's `fit`.
    model.compile(run_eagerly=True)
    loss = model.evaluate(enc, labels, verbose=0, batch_size=3)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)
    loss = model.evaluate({**enc, "labels": labels}, verbose=0, batch_size=3)
    np.testing.assert_allclose(loss, float(theirs.loss), atol=1e-5)


def test_causal_lm_parity_and_unshifted_loss(checkpoints):
    directory, hf = checkpoints("CausalLM")
    model = keras_models.PegasusForCausalLM.from_preset(directory)
    assert not model.backbone.is_encoder_decoder
    x = batch()
    x = {"input_ids": x["decoder_input_ids"], "attention_mask": x["decoder_attention_mask"]}
    labels = np.random.default_rng(4).integers(0, 99, size=(3, 5))
    labels[1, 4:] = -100
    run_parity_test(model, hf, x, labels, {"logits": x["attention_mask"]})
    # The decoder of a seq2seq checkpoint loads too (its encoder is left out); the reference
    # is transformers' seq2seq decoder with the tied table and no logits bias.
    s2s_dir, s2s = checkpoints("ConditionalGeneration")
    decoder_only = keras_models.PegasusForCausalLM.from_preset(s2s_dir)
    with torch.no_grad():
        hidden = s2s.model.decoder(
            input_ids=torch.tensor(x["input_ids"]), attention_mask=torch.tensor(x["attention_mask"])
        ).last_hidden_state
        reference = hidden @ s2s.model.shared.weight.T
    assert_close(decoder_only(x)["logits"], reference, x["attention_mask"])


def hf_generate(hf, x, **kwargs):
    with torch.no_grad():
        out = hf.generate(
            input_ids=torch.tensor(x["input_ids"], dtype=torch.long),
            attention_mask=torch.tensor(x["attention_mask"], dtype=torch.long),
            max_new_tokens=NEW_TOKENS,
            **kwargs,
        )
    return out.numpy()


def test_cached_decoding_equals_full_pass(seq2seq):
    model, _ = seq2seq
    x = batch()
    ids, mask, dec = x["input_ids"], x["attention_mask"], x["decoder_input_ids"]
    full = _numpy(model.decode(dec, model.encode(ids, mask), mask)["logits"])
    cache = model.init_cache(3, 8, {"input_ids": ids, "attention_mask": mask})
    padding = np.zeros((3, 8), "int32")
    padding[:, :5] = 1
    logits, cache = model.call_with_cache(dec[:, :2], padding, cache, 0)
    steps = [_numpy(logits)]
    for i in (2, 3, 4):
        logits, cache = model.call_with_cache(dec[:, i : i + 1], padding, cache, i)
        steps.append(_numpy(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_greedy_and_beam_generation_match_transformers(generator):
    model, hf = generator
    x = batch()
    enc = {"input_ids": x["input_ids"], "attention_mask": x["attention_mask"]}
    greedy = model.generate(enc, max_new_tokens=NEW_TOKENS)
    np.testing.assert_array_equal(greedy, hf_generate(hf, enc))
    assert len({tuple(row) for row in greedy}) > 1  # not one repeated answer
    assert (greedy[:, 0] == PAD).all()
    # forced_eos_token_id: a row that ran to the last step ends with </s>.
    full_rows = greedy[(greedy[:, 1:-1] != EOS).all(axis=1)]
    assert len(full_rows) and (full_rows[:, -1] == EOS).all()
    beams = model.generate(enc, max_new_tokens=NEW_TOKENS, num_beams=3)
    np.testing.assert_array_equal(beams, hf_generate(hf, enc, num_beams=3))
    # A stop token that a row produces mid-way: it stops and is padded, as in transformers;
    # with beams, a length penalty ranks the finished hypotheses.
    stop = int(greedy[0, 3])
    assert stop not in (PAD, EOS)
    ours = model.generate(enc, max_new_tokens=NEW_TOKENS, eos_token_id=stop)
    np.testing.assert_array_equal(ours, hf_generate(hf, enc, eos_token_id=stop))
    assert (ours[0, 4:] == PAD).all()
    kwargs = dict(num_beams=3, eos_token_id=stop, length_penalty=2.0)
    ours = model.generate(enc, max_new_tokens=NEW_TOKENS, **kwargs)
    np.testing.assert_array_equal(ours, hf_generate(hf, enc, **kwargs))


def test_registered_presets():
    names = [p.name for p in keras_models.list_presets(family="pegasus")]
    assert {"pegasus_large", "pegasus_xsum", "pegasus_cnn_dailymail"} <= set(names)
    assert all(
        p.source.startswith("google/pegasus-")
        for p in keras_models.list_presets("pegasus", embedded=False)
    )

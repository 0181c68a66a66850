"""Cached generation: cached steps equal the full pass; greedy and beam search equal
transformers' `generate` on a left-padded batch."""

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_models
from tests.helpers import save_hf
from tests.test_opt_parity import PAD, SPEC, VARIANTS

NEW_TOKENS = 6


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(scope="module")
def opt(tmp_path_factory):
    directory = tmp_path_factory.mktemp("opt_lm")
    hf = save_hf(
        transformers.OPTForCausalLM, SPEC.config(**VARIANTS["pre_ln_proj"]), directory, seed=3
    )
    return keras_models.OPTForCausalLM.from_preset(str(directory)), hf


def prompts():
    """Three left-padded prompts of 5, 3 and 1 real tokens (OPT prompts start with `</s>`)."""
    ids = np.array(
        [[2, 11, 40, 7, 93], [PAD, PAD, 2, 55, 23], [PAD, PAD, PAD, PAD, 2]], dtype="int32"
    )
    return ids, (ids != PAD).astype("int32")


def hf_generate(hf, ids, mask, **kwargs):
    kwargs.setdefault("max_new_tokens", NEW_TOKENS)
    with torch.no_grad():
        out = hf.generate(
            input_ids=torch.tensor(ids, dtype=torch.long),
            attention_mask=torch.tensor(mask, dtype=torch.long),
            **kwargs,
        )
    return out.numpy()


def test_cached_steps_equal_full_sequence_logits(opt):
    model, _ = opt
    ids, mask = prompts()
    full = _numpy(model({"input_ids": ids, "attention_mask": mask})["logits"])
    max_length = 8
    padding = np.zeros((3, max_length), "int32")
    padding[:, :5] = mask
    cache = model.init_cache(3, max_length)
    logits, cache = model.call_with_cache(ids[:, :3], padding, cache, 0)
    steps = [_numpy(logits)]
    for i in (3, 4):
        logits, cache = model.call_with_cache(ids[:, i : i + 1], padding, cache, i)
        steps.append(_numpy(logits))
    stepped = np.concatenate(steps, axis=1)
    keep = mask.astype(bool)
    np.testing.assert_allclose(stepped[keep], full[keep], atol=1e-5)


def test_greedy_matches_transformers_on_left_padded_batch(opt):
    model, hf = opt
    ids, mask = prompts()
    theirs = hf_generate(hf, ids, mask, do_sample=False)
    ours = model.generate({"input_ids": ids, "attention_mask": mask}, max_new_tokens=NEW_TOKENS)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.shape == (3, 5 + NEW_TOKENS)
    # A list input and a single unpadded prompt as a plain array give the same tokens.
    listed = model.generate([ids, mask], max_new_tokens=NEW_TOKENS)
    np.testing.assert_array_equal(listed, ours)
    single = model.generate(ids[:1], max_new_tokens=NEW_TOKENS)
    np.testing.assert_array_equal(single, hf_generate(hf, ids[:1], mask[:1], do_sample=False))


@pytest.mark.parametrize("num_beams", [1, 3])
def test_repeated_calls_of_one_shape_keep_transformers_tokens(opt, num_beams, monkeypatch):
    """Every call of one shape gives transformers' tokens. On torch the loop's body is traced
    at the first call and the prompt's step at the second, so from the third call on no step
    runs through Keras' layers."""
    model, hf = opt
    ids, mask = prompts()
    steps = []
    through_keras = model.call_with_cache

    def counted(*args, **kwargs):
        steps[-1] += 1
        return through_keras(*args, **kwargs)

    monkeypatch.setattr(model, "call_with_cache", counted)
    new = NEW_TOKENS + 1  # a shape no other test compiles
    theirs = hf_generate(hf, ids, mask, do_sample=False, num_beams=num_beams, max_new_tokens=new)
    for _ in range(3):
        steps.append(0)
        ours = model.generate([ids, mask], max_new_tokens=new, num_beams=num_beams)
        np.testing.assert_array_equal(ours, theirs)
    if keras.backend.backend() == "torch":
        assert steps == [2, 1, 0]
    else:  # the whole loop compiles at the first call
        assert steps[1:] == [0, 0]


def test_greedy_stop_tokens_match_transformers(opt):
    model, hf = opt
    ids, mask = prompts()
    plain = model.generate([ids, mask], max_new_tokens=NEW_TOKENS, eos_token_id=[])
    # Stop on a token that some rows produce: those rows are padded afterwards.
    stop = int(plain[0, 6])
    theirs = hf_generate(hf, ids, mask, do_sample=False, eos_token_id=stop)
    ours = model.generate([ids, mask], max_new_tokens=NEW_TOKENS, eos_token_id=stop)
    np.testing.assert_array_equal(ours, theirs)
    assert (ours[0, 7:] == PAD).all()


def test_beam_search_matches_transformers_best_beam(opt):
    model, hf = opt
    ids, mask = prompts()
    for eos in (2, int(model.generate([ids, mask], max_new_tokens=3, eos_token_id=[])[1, 6])):
        theirs = hf_generate(hf, ids, mask, do_sample=False, num_beams=3, eos_token_id=eos)
        ours = model.generate([ids, mask], max_new_tokens=NEW_TOKENS, num_beams=3, eos_token_id=eos)
        np.testing.assert_array_equal(ours, theirs)


def test_sampling_is_seeded_and_filtered(opt):
    model, _ = opt
    ids, mask = prompts()
    kwargs = dict(max_new_tokens=NEW_TOKENS, do_sample=True, eos_token_id=[], seed=7)
    a = model.generate([ids, mask], temperature=2.0, **kwargs)
    b = model.generate([ids, mask], temperature=2.0, **kwargs)
    np.testing.assert_array_equal(a, b)
    greedy = model.generate([ids, mask], max_new_tokens=NEW_TOKENS, eos_token_id=[])
    # top_k=1 and a tiny top_p keep only the most likely token: sampling becomes greedy.
    np.testing.assert_array_equal(model.generate([ids, mask], top_k=1, **kwargs), greedy)
    np.testing.assert_array_equal(model.generate([ids, mask], top_p=1e-6, **kwargs), greedy)
    # With top_k=3 every sampled token is among the 3 most likely at its step.
    sampled = model.generate([ids, mask], top_k=3, temperature=5.0, **kwargs)
    logits = _numpy(
        model(
            {
                "input_ids": sampled,
                "attention_mask": np.pad(mask, ((0, 0), (0, NEW_TOKENS)), constant_values=1),
            }
        )["logits"]
    )
    for t in range(5, 5 + NEW_TOKENS):
        top3 = np.argsort(-logits[:, t - 1], axis=-1)[:, :3]
        assert all(sampled[r, t] in top3[r] for r in range(3))
    assert not np.array_equal(sampled, greedy)


def test_bad_generate_arguments(opt):
    model, _ = opt
    ids, mask = prompts()
    with pytest.raises(ValueError, match="left-padded"):
        model.generate([ids[:, ::-1], mask[:, ::-1]], max_new_tokens=2)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(ids, max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(ids, do_sample=True, temperature=0.0)
    with pytest.raises(ValueError, match="Unknown input"):
        model.generate({"input_ids": ids, "token_type_ids": ids})

"""`generate` as transformers' `generate`: the checkpoint's generation_config.json as the
defaults, every control token for token (greedy and beam search, OPT and Pegasus), scores,
several sequences per prompt, keyword inputs, streaming, sampling invariants, refusals, and
one compiled loop per setting."""

import json
import os

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_models
from tests.helpers import save_hf
from tests.test_opt_parity import PAD as OPT_PAD
from tests.test_opt_parity import SPEC as OPT_SPEC
from tests.test_opt_parity import VARIANTS
from tests.test_pegasus_parity import SPEC as PEGASUS_SPEC
from tests.test_pegasus_parity import batch as pegasus_batch

#: Non-trivial checkpoint defaults: a default call must give transformers' default call.
OPT_GENERATION = {
    "bos_token_id": 2,
    "eos_token_id": 2,
    "pad_token_id": 1,
    "max_length": 12,
    "repetition_penalty": 1.3,
    "no_repeat_ngram_size": 3,
    "transformers_version": "5.25.0",
}
PEGASUS_GENERATION = {
    "decoder_start_token_id": 0,
    "eos_token_id": 1,
    "forced_eos_token_id": 1,
    "pad_token_id": 0,
    "num_beams": 3,
    "length_penalty": 0.6,
    "max_length": 9,
    "early_stopping": True,
}


def _write_generation_config(directory, fields):
    with open(os.path.join(directory, "generation_config.json"), "w") as f:
        json.dump(fields, f)


def _noisy(hf, scale):
    """Larger random weights: tiny models with small weights repeat one token."""
    with torch.no_grad():
        for name, param in hf.named_parameters():
            if "embed_positions" not in name:
                param.add_(torch.randn_like(param) * scale)


@pytest.fixture(scope="module")
def opt(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("opt_generation"))
    hf = save_hf(
        transformers.OPTForCausalLM, OPT_SPEC.config(**VARIANTS["pre_ln_proj"]), directory, seed=5
    )
    _noisy(hf, 0.3)
    hf.save_pretrained(directory)
    _write_generation_config(directory, OPT_GENERATION)
    hf = transformers.OPTForCausalLM.from_pretrained(directory).eval()
    return keras_models.OPTForCausalLM.from_preset(directory), hf, directory


@pytest.fixture(scope="module")
def pegasus(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("pegasus_generation"))
    hf = save_hf(
        transformers.PegasusForConditionalGeneration, PEGASUS_SPEC.config(), directory, seed=3
    )
    _noisy(hf, 0.5)
    with torch.no_grad():
        hf.final_logits_bias.normal_(0.0, 0.1)
    hf.save_pretrained(directory)
    _write_generation_config(directory, PEGASUS_GENERATION)
    hf = transformers.PegasusForConditionalGeneration.from_pretrained(directory).eval()
    model = keras_models.PegasusForConditionalGeneration.from_preset(directory)
    return model, hf, directory


def opt_prompts():
    """Three left-padded prompts of 5, 3 and 1 real tokens."""
    ids = np.array(
        [[2, 11, 40, 7, 93], [OPT_PAD, OPT_PAD, 2, 55, 23], [OPT_PAD] * 4 + [2]], dtype="int32"
    )
    return {"input_ids": ids, "attention_mask": (ids != OPT_PAD).astype("int32")}


def pegasus_inputs():
    x = pegasus_batch()
    return {"input_ids": x["input_ids"], "attention_mask": x["attention_mask"]}


def hf_generate(hf, inputs, **kwargs):
    with torch.no_grad():
        return hf.generate(
            **{k: torch.tensor(v, dtype=torch.long) for k, v in inputs.items()}, **kwargs
        )


def assert_same_generation(ours, theirs):
    """Sequences (and, when returned, scores and sequence scores) equal transformers'."""
    if not isinstance(theirs, torch.Tensor):
        np.testing.assert_array_equal(ours["sequences"], theirs.sequences.numpy())
        if "sequences_scores" in theirs:
            np.testing.assert_allclose(
                ours["sequences_scores"], theirs.sequences_scores.numpy(), atol=1e-4
            )
        if theirs.get("scores") is not None:
            assert len(ours["scores"]) == len(theirs.scores)
            for mine, reference in zip(ours["scores"], theirs.scores):
                np.testing.assert_allclose(mine, reference.numpy(), rtol=1e-4, atol=1e-4)
        return
    np.testing.assert_array_equal(ours, theirs.numpy())


def _stop_token(model, inputs, column, avoid):
    """A token that greedy decoding produces mid-way, to use as a stop token."""
    greedy = model.generate(inputs, num_beams=1, max_new_tokens=6, eos_token_id=[])
    token = int(greedy[0, column])
    assert token not in avoid
    return token


# --- checkpoint defaults -----------------------------------------------------------------
@pytest.mark.parametrize("family", ["opt", "pegasus"])
def test_default_call_follows_generation_config_json(family, opt, pegasus):
    model, hf, directory = {"opt": opt, "pegasus": pegasus}[family]
    inputs = opt_prompts() if family == "opt" else pegasus_inputs()
    written = OPT_GENERATION if family == "opt" else PEGASUS_GENERATION
    expected = {k: v for k, v in written.items() if k != "transformers_version"}
    assert model.generation_config.to_dict() == expected
    ours = model.generate(inputs)
    assert_same_generation(ours, hf_generate(hf, inputs))
    # The file's max_length counts the prompt (OPT) / the start token (Pegasus).
    assert ours.shape[1] <= written["max_length"]


def test_config_json_generation_fields_are_the_fallback(tmp_path, pegasus):
    # Without generation_config.json transformers reads config.json's generation fields.
    _, _, source = pegasus
    directory = str(tmp_path / "fallback")
    os.makedirs(directory)
    with open(os.path.join(source, "config.json")) as f:
        config = json.load(f)
    config.update(num_beams=2, max_length=7, no_repeat_ngram_size=2)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    os.symlink(
        os.path.join(source, "model.safetensors"), os.path.join(directory, "model.safetensors")
    )
    model = keras_models.PegasusForConditionalGeneration.from_preset(directory)
    hf = transformers.PegasusForConditionalGeneration.from_pretrained(directory).eval()
    assert model.generation_config.num_beams == hf.generation_config.num_beams == 2
    inputs = pegasus_inputs()
    assert_same_generation(model.generate(inputs), hf_generate(hf, inputs))


def test_generation_config_is_kept_by_presets_and_export(tmp_path, opt):
    model, _, _ = opt
    keras_preset = str(tmp_path / "keras")
    model.save_to_preset(keras_preset)
    again = keras_models.OPTForCausalLM.from_preset(keras_preset)
    assert again.generation_config == model.generation_config
    path = str(tmp_path / "model.keras")
    model.save(path)
    assert keras.saving.load_model(path).generation_config == model.generation_config
    exported = str(tmp_path / "hf")
    model.export_to_transformers(exported)
    reloaded = transformers.GenerationConfig.from_pretrained(exported)
    assert reloaded.max_length == 12 and reloaded.no_repeat_ngram_size == 3
    assert reloaded.repetition_penalty == 1.3


def test_generation_config_overrides(opt):
    model, hf, _ = opt
    inputs = opt_prompts()
    override = keras_models.GenerationConfig(max_length=10, repetition_penalty=1.0)
    theirs = hf_generate(
        hf,
        inputs,
        generation_config=transformers.GenerationConfig(
            **{**hf.generation_config.to_dict(), "max_length": 10, "repetition_penalty": 1.0}
        ),
    )
    assert_same_generation(model.generate(inputs, generation_config=override), theirs)
    # A call's keyword arguments win over both.
    ours = model.generate(inputs, generation_config=override, max_length=8)
    assert ours.shape[1] <= 8
    # Changing the model's defaults changes the default call.
    saved = model.generation_config
    try:
        model.generation_config = saved.merged(max_length=7)
        assert model.generate(inputs).shape[1] <= 7
    finally:
        model.generation_config = saved


# --- the controls, token for token -------------------------------------------------------
OPT_CASES = {
    "lengths_and_bans": dict(
        max_new_tokens=7,
        min_new_tokens=4,
        repetition_penalty=1.0,
        no_repeat_ngram_size=2,
        bad_words_ids=[[5], [40, 7], [2]],
        forced_eos_token_id=9,
    ),
    "beams_never_several": dict(
        max_new_tokens=6,
        num_beams=3,
        num_return_sequences=2,
        early_stopping="never",
        length_penalty=1.5,
        output_scores=True,
        return_dict_in_generate=True,
    ),
    "beams_true_negative_penalty": dict(
        max_new_tokens=6, num_beams=3, early_stopping=True, length_penalty=-0.5, min_length=8
    ),
    "greedy_scores": dict(
        max_new_tokens=5, output_scores=True, return_dict_in_generate=True, min_length=9
    ),
}


@pytest.mark.parametrize("case", sorted(OPT_CASES))
def test_opt_controls_match_transformers(opt, case):
    model, hf, _ = opt
    inputs = opt_prompts()
    kwargs = dict(OPT_CASES[case])
    if case != "lengths_and_bans":
        kwargs["eos_token_id"] = _stop_token(model, inputs, 6, (OPT_PAD, 2))
    assert_same_generation(model.generate(inputs, **kwargs), hf_generate(hf, inputs, **kwargs))


PEGASUS_CASES = {
    "greedy": dict(
        num_beams=1,
        decoder_start_token_id=3,
        forced_bos_token_id=5,
        min_length=6,
        repetition_penalty=1.5,
        no_repeat_ngram_size=2,
        output_scores=True,
        return_dict_in_generate=True,
    ),
    "beams_never_negative": dict(
        early_stopping="never", length_penalty=-1.0, num_return_sequences=3, max_new_tokens=7
    ),
    "beams_false_bans": dict(
        early_stopping=False,
        bad_words_ids=[[7], [12, 13]],
        min_new_tokens=3,
        output_scores=True,
        return_dict_in_generate=True,
    ),
}


@pytest.mark.parametrize("case", sorted(PEGASUS_CASES))
def test_pegasus_controls_match_transformers(pegasus, case):
    model, hf, _ = pegasus
    inputs = pegasus_inputs()
    kwargs = dict(PEGASUS_CASES[case], eos_token_id=_stop_token(model, inputs, 3, (0, 1)))
    assert_same_generation(model.generate(inputs, **kwargs), hf_generate(hf, inputs, **kwargs))


# --- inputs ------------------------------------------------------------------------------
def test_every_input_form(opt):
    model, hf, _ = opt
    inputs = opt_prompts()
    expected = hf_generate(hf, inputs, max_length=10).numpy()
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    np.testing.assert_array_equal(model.generate(**inputs, max_length=10), expected)
    np.testing.assert_array_equal(model.generate(ids, attention_mask=mask, max_length=10), expected)
    np.testing.assert_array_equal(model.generate([ids, mask], max_length=10), expected)
    np.testing.assert_array_equal(model.generate(inputs, max_length=10), expected)
    # The seed document's call: a bare tensor and `max_length`.
    single = ids[:1]
    np.testing.assert_array_equal(
        model.generate(single, max_length=10),
        hf_generate(hf, {"input_ids": single}, max_length=10).numpy(),
    )
    with pytest.raises(ValueError, match="input_ids"):
        model.generate(ids, input_ids=ids)


# --- streaming ---------------------------------------------------------------------------
class Recorder:
    def __init__(self):
        self.calls = []

    def put(self, value):
        self.calls.append(np.asarray(value).copy())

    def end(self):
        self.calls.append("end")


@pytest.mark.parametrize("family", ["opt", "pegasus"])
def test_streamer_protocol(family, opt, pegasus):
    model, _, _ = {"opt": opt, "pegasus": pegasus}[family]
    inputs = opt_prompts() if family == "opt" else pegasus_inputs()
    kwargs = dict(num_beams=1, max_new_tokens=5)
    recorder = Recorder()
    ours = model.generate(inputs, streamer=recorder, **kwargs)
    assert recorder.calls[-1] == "end"
    first, steps = recorder.calls[0], recorder.calls[1:-1]
    # First the prompt (Pegasus: the start token), then one [batch] put per new token.
    np.testing.assert_array_equal(first, ours[:, : first.shape[1]])
    assert all(step.shape == (3,) for step in steps)
    np.testing.assert_array_equal(np.stack(steps, axis=1), ours[:, first.shape[1] :])
    np.testing.assert_array_equal(ours, model.generate(inputs, **kwargs))
    sampled = Recorder()
    tokens = model.generate(inputs, streamer=sampled, do_sample=True, seed=1, **kwargs)
    np.testing.assert_array_equal(
        np.stack(sampled.calls[1:-1], axis=1), tokens[:, first.shape[1] :]
    )
    with pytest.raises(ValueError, match="beam"):
        model.generate(inputs, streamer=Recorder(), num_beams=2, max_new_tokens=3)


# --- sampling ----------------------------------------------------------------------------
def test_sampling_invariants(opt):
    model, _, _ = opt
    inputs = opt_prompts()
    base = dict(
        do_sample=True,
        max_new_tokens=6,
        eos_token_id=[],
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
    )
    first = model.generate(inputs, seed=7, **base)
    np.testing.assert_array_equal(first, model.generate(inputs, seed=7, **base))
    assert not np.array_equal(first, model.generate(inputs, seed=8, **base))
    # num_return_sequences: rows of one prompt follow each other and differ.
    several = model.generate(inputs, seed=7, num_return_sequences=4, **base)
    assert several.shape[0] == 12
    assert len({tuple(row) for row in several[:4]}) > 1
    out = dict(output_scores=True, return_dict_in_generate=True)
    greedy = model.generate(
        inputs,
        max_new_tokens=6,
        eos_token_id=[],
        repetition_penalty=2.0,
        no_repeat_ngram_size=0,
        **out,
    )
    for top_k, top_p in ((3, 1.0), (0, 0.6)):
        sampled = model.generate(
            inputs,
            seed=3,
            top_k=top_k,
            top_p=top_p,
            temperature=0.7,
            **{**base, "repetition_penalty": 2.0},
            **out,
        )
        chosen = sampled.sequences[:, 5:]
        for step, scores in enumerate(sampled.scores):
            kept = np.isfinite(scores)
            # The sampled token is always one the filters kept.
            assert kept[np.arange(3), chosen[:, step]].all()
            if top_k:
                assert (kept.sum(axis=-1) <= top_k).all()
        # The first step's scores are the penalised logits over the temperature, filtered:
        # the penalty applies before the warpers, as in transformers.
        reference = greedy.scores[0] / 0.7
        kept = np.isfinite(sampled.scores[0])
        np.testing.assert_allclose(sampled.scores[0][kept], reference[kept], rtol=1e-5, atol=1e-5)
        if top_p < 1:
            probs = np.exp(reference - reference.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            for row in range(3):
                mass = np.sort(probs[row][kept[row]])
                # The kept set reaches top_p, and without its least likely token it does not.
                assert mass.sum() >= top_p - 1e-6 and mass[1:].sum() < top_p


# --- refusals ----------------------------------------------------------------------------
BAD = [
    (dict(repetition_penalty=-1.0), "repetition_penalty"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(num_return_sequences=2), "num_return_sequences"),
    (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
    (dict(min_length=30, max_length=20), "min_length"),
    (dict(max_new_tokens=3, min_new_tokens=4), "min_new_tokens"),
    (dict(do_sample=True, top_p=0.0), "top_p"),
    (dict(do_sample=True, top_p=1.5), "top_p"),
    (dict(do_sample=True, top_k=-1), "top_k"),
    (dict(do_sample=True, temperature=0.0), "temperature"),
    (dict(num_beams=0), "num_beams"),
    (dict(bad_words_ids=[[]]), "bad_words_ids"),
    (dict(bad_words_ids=[]), "bad_words_ids"),
    (dict(bad_words_ids=[[10**6]]), "bad_words_ids"),
    (dict(no_repeat_ngram_size=-2), "no_repeat_ngram_size"),
    (dict(early_stopping="sometimes", num_beams=2), "early_stopping"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_length=5), "max_length"),
    (dict(eos_token_id="x"), "eos_token_id"),
    (dict(forced_eos_token_id=10**6), "forced_eos_token_id"),
    (dict(output_scores=True), "return_dict_in_generate"),
    (dict(num_beams=2, do_sample=True), "do_sample"),
    (dict(top_k=4), "top_k"),
    (dict(length_penalty=2.0), "length_penalty"),
    (dict(typical_p=0.5), "typical_p"),
    (dict(beam_width=3), "beam_width"),
    (dict(decoder_start_token_id=0), "decoder_start_token_id"),
]


@pytest.mark.parametrize("kwargs,name", BAD, ids=[name for _, name in BAD])
def test_bad_values_are_value_errors_naming_the_setting(opt, kwargs, name):
    model, _, _ = opt
    with pytest.raises(ValueError, match=name):
        model.generate(opt_prompts(), **kwargs)


# --- one compiled loop -------------------------------------------------------------------
def test_no_retracing_per_step_or_per_call(opt):
    model, _, _ = opt
    inputs = opt_prompts()
    calls = []
    original = model.call_with_cache

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    model.call_with_cache = counting
    try:
        settings = dict(
            max_new_tokens=9,
            eos_token_id=[],
            repetition_penalty=1.2,
            no_repeat_ngram_size=2,
            bad_words_ids=[[4, 5]],
            min_length=8,
        )
        model.generate(inputs, **settings)
        traced = len(calls)
        assert traced <= 3  # the prompt step and the loop body, traced once
        calls.clear()
        other = {**inputs, "input_ids": inputs["input_ids"] + 1}
        model.generate(other, **settings)
        # Another prompt of the same shape reuses the compiled loop: no Python decode step
        # runs (torch replays the traced body; only its eager prompt step runs again).
        assert len(calls) == (1 if keras.backend.backend() == "torch" else 0)
    finally:
        del model.call_with_cache

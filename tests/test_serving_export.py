"""Serving exports: `model.export(path, format=...)` reloaded in a fresh process by its own
runtime (TF SavedModel in tensorflow, ONNX in onnxruntime, OpenVINO in openvino) reproduces
the Keras model for batch and sequence sizes that the export never saw; the paths a backend
cannot take are ValueErrors with the reason."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_models
from keras_models.models.serving import (
    DECODING_STEP_FORMATS,
    DECODING_STEP_REFUSED,
    REFUSED,
    SERVING_FORMATS,
)
from tests.families import FAMILIES

BACKEND = keras.backend.backend()
FORMATS = [f for f in SERVING_FORMATS if (BACKEND, f) not in REFUSED]
#: What the exports are checked on: a size the export never saw, twice.
SIZES = ((2, 5), (3, 9))


def _backbone(family, **extra):
    return FAMILIES[family].backbone_cls(**{**FAMILIES[family].tiny, **extra})


def models():
    """Every encoder head (RoBERTa), the heads only MegatronBERT has, RoCBert's extra inputs,
    RoFormer's rotary attention, and the OPT and Pegasus forward passes."""
    roberta = _backbone("roberta")
    return {
        "roberta_sequence": keras_models.RobertaForSequenceClassification(roberta, num_labels=3),
        "roberta_token": keras_models.RobertaForTokenClassification(roberta, num_labels=3),
        "roberta_qa": keras_models.RobertaForQuestionAnswering(roberta),
        "roberta_choice": keras_models.RobertaForMultipleChoice(roberta),
        "roberta_masked": keras_models.RobertaForMaskedLM(roberta),
        "roberta_causal": keras_models.RobertaForCausalLM(_backbone("roberta", is_decoder=True)),
        "megatron_nsp": keras_models.MegatronBertForNextSentencePrediction(
            _backbone("megatron_bert")
        ),
        "megatron_pretraining": keras_models.MegatronBertForPreTraining(_backbone("megatron_bert")),
        "roc_bert": keras_models.RoCBertForSequenceClassification(_backbone("roc_bert")),
        "roformer": keras_models.RoFormerForMaskedLM(_backbone("roformer")),
        "opt": keras_models.OPTForCausalLM(_backbone("opt")),
        "pegasus": keras_models.PegasusForConditionalGeneration(_backbone("pegasus")),
    }


def inputs_for(model, batch, length, seed):
    """Inputs within the model's limits, right padded masks, `choices` of 2 for multiple
    choice."""
    rng = np.random.default_rng(seed)
    shape = (batch, 2, length) if model.input_rank == 3 else (batch, length)
    limits = model.input_limits()
    values = {}
    for name in model.input_names:
        if name.endswith("attention_mask"):
            mask = np.ones(shape, "int32")
            mask[0, ..., length - 2 :] = 0
            values[name] = mask
        else:
            low, high = limits.get(name, (0, 2))
            low = max(low, 4) if name.endswith("input_ids") else low
            values[name] = rng.integers(low, high, size=shape).astype("int32")
    return values


RUNNER = r"""
import json, sys
import numpy as np
fmt, jobs = sys.argv[1], json.loads(sys.argv[2])

def runner(path):
    if fmt == "tf_saved_model":
        import tensorflow as tf
        serve = tf.saved_model.load(path).signatures["serve"]
        return lambda x: {
            k: v.numpy() for k, v in serve(**{n: tf.constant(a) for n, a in x.items()}).items()
        }
    if fmt == "onnx":
        import onnxruntime
        session = onnxruntime.InferenceSession(path)
        names = [o.name for o in session.get_outputs()]
        return lambda x: dict(zip(names, session.run(None, x)))
    import openvino
    # OpenVINO's CPU plugin computes in bfloat16 where the CPU has it, unless told otherwise.
    compiled = openvino.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return lambda x: {
        name: value for port, value in compiled(x).items() for name in port.get_names()
    }

for path, cases in jobs.items():
    run = runner(path)
    for npz in cases:
        np.savez(npz[:-4] + "." + fmt + ".out.npz", **run(dict(np.load(npz))))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`{(model, format): (expected outputs per size, served outputs per size)}`."""
    root = tmp_path_factory.mktemp("serving")
    expected, cases, jobs = {}, {}, {fmt: {} for fmt in FORMATS}
    for name, model in models().items():
        for i, (batch, length) in enumerate(SIZES):
            x = inputs_for(model, batch, length, seed=i)
            cases[name, i] = str(root / f"{name}_{i}.npz")
            np.savez(cases[name, i], **x)
            outputs = model(x)
            expected[name, i] = {
                k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in outputs.items()
            }
        for fmt in FORMATS:
            suffix = {"onnx": ".onnx", "openvino": ".xml"}.get(fmt, "")
            artifact = str(root / f"{name}_{fmt}{suffix}")
            model.export(artifact, format=fmt, verbose=False)
            jobs[fmt][artifact] = [cases[name, i] for i in range(len(SIZES))]
    # One fresh process per runtime, with no Keras model in it.
    for fmt, work in jobs.items():
        subprocess.run(
            [sys.executable, "-c", RUNNER, fmt, json.dumps(work)],
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    return {
        (name, fmt): [
            (expected[name, i], dict(np.load(cases[name, i][:-4] + f".{fmt}.out.npz")))
            for i in range(len(SIZES))
        ]
        for (name, i) in cases
        if i == 0
        for fmt in FORMATS
    }


def _case_ids():
    names = (
        "roberta_sequence roberta_token roberta_qa roberta_choice roberta_masked roberta_causal "
        "megatron_nsp megatron_pretraining roc_bert roformer opt pegasus"
    ).split()
    return [(name, fmt) for name in names for fmt in FORMATS]


@pytest.mark.skipif(not FORMATS, reason="this backend exports none of the formats (see below)")
@pytest.mark.parametrize("name,fmt", _case_ids(), ids=lambda v: str(v))
def test_export_reproduces_the_model(exported, name, fmt):
    for expected, served in exported[name, fmt]:
        assert set(served) >= set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(served[key], value, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("fmt", SERVING_FORMATS)
def test_paths_a_backend_cannot_take_are_refused_with_the_reason(fmt, tmp_path):
    reason = REFUSED.get((BACKEND, fmt))
    model = keras_models.RobertaForSequenceClassification(_backbone("roberta"), num_labels=2)
    if reason is None:
        assert fmt in FORMATS
        return
    with pytest.raises(ValueError, match=f"format='{fmt}'.*{BACKEND}"):
        model.export(str(tmp_path / "artifact"), format=fmt)
    assert not os.path.exists(tmp_path / "artifact")


def test_signature_names_and_shared_axes():
    from keras_models.models.serving import axis_names, serving_signature

    model = keras_models.PegasusForConditionalGeneration(_backbone("pegasus"))
    signature = serving_signature(model)[0]
    assert tuple(signature) == tuple(model.input_names)
    assert all(spec.shape == (None, None) and spec.dtype == "int32" for spec in signature.values())
    assert axis_names("attention_mask", 2) == axis_names("input_ids", 2) == ("batch", "sequence")
    assert axis_names("decoder_attention_mask", 2) == ("batch", "decoder_sequence")
    assert axis_names("input_ids", 3) == ("batch", "choices", "sequence")


#: Formats of the decoding step this backend exports.
STEP_FORMATS = [f for f in DECODING_STEP_FORMATS if (BACKEND, f) not in DECODING_STEP_REFUSED]

STEP_RUNNER = r"""
import sys
import numpy as np
fmt, path, prompt_path = sys.argv[1], sys.argv[2], sys.argv[3]
new_tokens, max_length = int(sys.argv[4]), int(sys.argv[5])
if fmt == "tf_saved_model":
    import tensorflow as tf
    step = tf.saved_model.load(path).signatures["decode_step"]
    specs = step.structured_input_signature[1]
    past = {k: specs[k].shape[1:] for k in specs if k.startswith("past_")}
    def run(x):
        return {k: v.numpy() for k, v in step(**{n: tf.constant(a) for n, a in x.items()}).items()}
else:
    import onnxruntime
    session = onnxruntime.InferenceSession(path)
    past = {i.name: i.shape[1:] for i in session.get_inputs() if i.name.startswith("past_")}
    names = [o.name for o in session.get_outputs()]
    def run(x):
        return dict(zip(names, session.run(None, x)))
ids = np.load(prompt_path)
batch, length = ids.shape
mask = np.zeros((batch, max_length), "int32")
mask[:, :length] = ids != 1
cache = {k: np.zeros([batch] + list(shape), "float32") for k, shape in past.items()}
tokens, index, sequence = ids, 0, [ids]
for _ in range(new_tokens):
    out = run(dict(input_ids=tokens, attention_mask=mask, cache_index=np.array(index, "int32"),
                   **cache))
    cache = {k.replace("present_", "past_"): v for k, v in out.items() if k.startswith("present_")}
    next_token = np.argmax(out["logits"][:, -1], axis=-1).astype("int32")
    index += tokens.shape[1]
    mask[:, index] = 1
    tokens = next_token[:, None]
    sequence.append(tokens)
np.save(prompt_path[:-4] + "." + fmt + ".out.npy", np.concatenate(sequence, axis=1))
"""


@pytest.mark.skipif(not STEP_FORMATS, reason="this backend exports no decoding step")
@pytest.mark.parametrize("fmt", STEP_FORMATS)
def test_decoding_step_export_drives_greedy_generation(fmt, tmp_path):
    """The step, run in a fresh process by its runtime (tensorflow, onnxruntime) with no Keras
    in it, drives a greedy loop over left-padded prompts to `generate`'s tokens."""
    model = keras_models.OPTForCausalLM(_backbone("opt"))
    path = str(tmp_path / ("decode_step.onnx" if fmt == "onnx" else "decode_step"))
    model.export_decoding_step(path, max_length=12, format=fmt)
    # Left-padded prompts (pad id 1) of another batch size and length than any traced.
    ids = np.array([[2, 11, 40, 7], [1, 2, 55, 23], [1, 1, 2, 9]], "int32")
    prompt = str(tmp_path / "prompt.npy")
    np.save(prompt, ids)
    subprocess.run(
        [sys.executable, "-c", STEP_RUNNER, fmt, path, prompt, "6", "12"],
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    expected = model.generate(
        ids, attention_mask=(ids != 1).astype("int32"), max_new_tokens=6, eos_token_id=[]
    )
    np.testing.assert_array_equal(np.load(prompt[:-4] + f".{fmt}.out.npy"), expected)


STEP_REFUSED = [f for f in DECODING_STEP_FORMATS + ("openvino",) if f not in STEP_FORMATS]


@pytest.mark.parametrize("fmt", STEP_REFUSED)
def test_decoding_step_formats_a_backend_cannot_take_are_refused(fmt, tmp_path):
    model = keras_models.OPTForCausalLM(_backbone("opt"))
    path = str(tmp_path / "decode_step")
    reason = DECODING_STEP_REFUSED.get((BACKEND, fmt), "its formats are")
    with pytest.raises(ValueError, match=f"decoding step.*format='{fmt}'.*{BACKEND}") as error:
        model.export_decoding_step(path, max_length=12, format=fmt)
    assert reason in str(error.value)
    assert not os.path.exists(path)


def test_a_signature_or_option_the_export_cannot_use_is_refused(tmp_path):
    model = keras_models.RobertaForSequenceClassification(_backbone("roberta"), num_labels=2)
    path = str(tmp_path / "artifact")
    bare = [keras.InputSpec(shape=(None, None), dtype="int32")]  # not a dict of named inputs
    with pytest.raises(ValueError, match="input_signature"):
        model.export(path, format=FORMATS[0], input_signature=bare)
    # Our own ONNX paths take `opset_version` only.
    with pytest.raises(ValueError, match="opset_version.*only.*'dynamic_axes'"):
        model.export(path, format="onnx", dynamic_axes={})
    assert not os.path.exists(path)

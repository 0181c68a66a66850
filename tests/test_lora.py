"""LoRA: `enable_lora` leaves exactly the factors, the targets' biases and the head trainable;
`fit` lowers the loss; `save_lora_weights` / `load_lora_weights` restore a fine-tuned task
exactly; the PEFT adapter loads onto the transformers model with our outputs; the merged
export equals them too; bad settings are ValueErrors."""

import json
import os

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_models
from tests.families import FAMILIES
from tests.helpers import save_hf

RANK, ALPHA = 2, 4.0


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


CASES = {
    # name: (family, class name in keras_models and in transformers, config overrides)
    "roberta_sequence": ("roberta", "RobertaForSequenceClassification", {"num_labels": 3}),
    "roformer_qa": ("roformer", "RoFormerForQuestionAnswering", {}),
    "opt_causal": ("opt", "OPTForCausalLM", {}),
    "pegasus_seq2seq": ("pegasus", "PegasusForConditionalGeneration", {}),
}


def _inputs(family, rng):
    ids = rng.integers(4, 60, size=(4, 7)).astype("int32")
    x = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if family == "pegasus":
        x["decoder_input_ids"] = rng.integers(4, 60, size=(4, 5)).astype("int32")
    return x


def _labels(name, x, rng):
    if name == "roberta_sequence":
        return {"labels": rng.integers(0, 3, size=(4,))}
    if name == "roformer_qa":
        return {"start_positions": np.array([1, 2, 3, 4]), "end_positions": np.array([2, 3, 5, 6])}
    key = "decoder_input_ids" if "decoder_input_ids" in x else "input_ids"
    return {"labels": rng.integers(4, 60, size=x[key].shape)}


@pytest.fixture(scope="module", params=sorted(CASES))
def tuned(request, tmp_path_factory):
    """A checkpoint, our model from it with LoRA enabled and a few `fit` steps taken."""
    name = request.param
    family, cls_name, overrides = CASES[name]
    directory = str(tmp_path_factory.mktemp(name))
    hf_cls = getattr(transformers, cls_name)
    save_hf(hf_cls, FAMILIES[family].config(**overrides), directory, seed=2)
    model = getattr(keras_models, cls_name).from_preset(directory)
    before = {v.path: _numpy(v) for v in model.weights}
    model.enable_lora(RANK, lora_alpha=ALPHA)
    rng = np.random.default_rng(0)
    x = _inputs(family, rng)
    data = {**x, **_labels(name, x, rng)}
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    losses = [model.evaluate(data, verbose=0)]
    model.fit(data, epochs=3, batch_size=4, verbose=0)
    losses.append(model.evaluate(data, verbose=0))
    return dict(
        name=name,
        family=family,
        model=model,
        hf_cls=hf_cls,
        directory=directory,
        x=x,
        losses=losses,
        before=before,
    )


def test_only_the_factors_biases_and_head_train(tuned):
    model = tuned["model"]
    backbone_ids = {id(v) for v in model.backbone.weights}
    lora_layers = [
        layer for layer in model.backbone._flatten_layers() if getattr(layer, "lora_enabled", 0)
    ]
    assert lora_layers and {layer.name for layer in lora_layers} == {"query", "value"}
    in_backbone = [v for v in model.trainable_variables if id(v) in backbone_ids]
    expected = 3 * len(lora_layers)  # lora_kernel_a, lora_kernel_b, bias
    assert len(in_backbone) == expected
    assert all(
        v.path.split("/")[-1] in ("lora_kernel_a", "lora_kernel_b", "bias") for v in in_backbone
    )
    head = [v for v in model.weights if id(v) not in backbone_ids]
    assert all(v.trainable for v in head if "final_logits_bias" not in v.path)
    # fit moved only what is trainable, and lowered the loss.
    assert tuned["losses"][1] < tuned["losses"][0]
    for variable in model.weights:
        if not variable.trainable and variable.path in tuned["before"]:
            np.testing.assert_array_equal(_numpy(variable), tuned["before"][variable.path])


def _hf_outputs(hf, x):
    with torch.no_grad():
        out = hf(**{k: torch.tensor(v, dtype=torch.long) for k, v in x.items()})
    keys = ("start_logits", "end_logits") if "start_logits" in out else ("logits",)
    return {k: out[k].numpy() for k in keys}


def _ours(model, x):
    out = model(x)
    keys = ("start_logits", "end_logits") if "start_logits" in out else ("logits",)
    return {k: _numpy(out[k]) for k in keys}


def test_peft_adapter_loads_onto_transformers_with_our_outputs(tuned, tmp_path):
    import peft

    model, x = tuned["model"], tuned["x"]
    path = model.export_lora_adapter(str(tmp_path / "adapter"))
    with open(os.path.join(path, "adapter_config.json")) as f:
        config = json.load(f)
    assert config["r"] == RANK and config["lora_alpha"] == ALPHA and config["bias"] == "lora_only"
    base = tuned["hf_cls"].from_pretrained(tuned["directory"], attn_implementation="eager").eval()
    adapted = peft.PeftModel.from_pretrained(base, path).eval()
    theirs = _hf_outputs(adapted, x)
    for key, value in _ours(model, x).items():
        np.testing.assert_allclose(value, theirs[key], atol=1e-5)


def test_merged_export_and_saved_lora_weights(tuned, tmp_path):
    model, x = tuned["model"], tuned["x"]
    ours = _ours(model, x)
    merged = (
        tuned["hf_cls"]
        .from_pretrained(
            model.export_to_transformers(str(tmp_path / "merged")), attn_implementation="eager"
        )
        .eval()
    )
    for key, value in _hf_outputs(merged, x).items():
        np.testing.assert_allclose(ours[key], value, atol=1e-5)
    # The fine-tuned variables, saved and restored into a fresh model of the checkpoint.
    weights = str(tmp_path / "tuned.lora.safetensors")
    model.save_lora_weights(weights)
    fresh = type(model).from_preset(tuned["directory"])
    fresh.enable_lora(RANK, lora_alpha=ALPHA)
    fresh.load_lora_weights(weights)
    for key, value in _ours(fresh, x).items():
        np.testing.assert_array_equal(value, ours[key])


def test_lora_refusals(tmp_path):
    backbone = FAMILIES["roberta"].backbone_cls(**FAMILIES["roberta"].tiny)
    model = keras_models.RobertaForSequenceClassification(backbone, num_labels=2)
    with pytest.raises(ValueError, match="not enabled"):
        model.save_lora_weights(str(tmp_path / "w.lora.safetensors"))
    with pytest.raises(ValueError, match="rank"):
        model.enable_lora(0)
    with pytest.raises(ValueError, match="target_layer_names.*nope"):
        model.enable_lora(2, target_layer_names=["query", "nope"])
    model.enable_lora(2, target_layer_names=["query", "key"])
    with pytest.raises(ValueError, match="already enabled"):
        model.enable_lora(2)
    with pytest.raises(ValueError, match="lora.safetensors"):
        model.save_lora_weights(str(tmp_path / "w.h5"))
    model.save_lora_weights(str(tmp_path / "w.lora.safetensors"))
    other = keras_models.RobertaForSequenceClassification(
        FAMILIES["roberta"].backbone_cls(**FAMILIES["roberta"].tiny), num_labels=2
    )
    other.enable_lora(2)
    with pytest.raises(ValueError, match="same settings"):
        other.load_lora_weights(str(tmp_path / "w.lora.safetensors"))

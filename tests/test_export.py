"""Export to the transformers format: every backbone and task of the six families loads in
transformers with no missing or unexpected keys and computes what ours computes; sharding,
generation settings, tokenizer files, refusals, atomic writes and the `export` command."""

import json
import os
import warnings

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_models
from keras_models import cli
from keras_models.presets import hf_export
from keras_models.presets.families import get_family
from tests.families import FAMILIES
from tests.helpers import save_hf

#: The families whose causal LM is the encoder with `is_decoder=True`.
BERT_STYLE = ("megatron_bert", "roberta", "roc_bert", "roformer")


def every_class():
    for name, spec in FAMILIES.items():
        family = get_family(spec.backbone_cls.model_type)
        for cls in (family.backbone, *family.tasks):
            yield pytest.param(name, cls, id=cls.__name__)


@pytest.fixture(scope="module")
def base_checkpoints(tmp_path_factory):
    made = {}

    def get(family):
        if family not in made:
            spec = FAMILIES[family]
            directory = tmp_path_factory.mktemp(family)
            save_hf(getattr(transformers, spec.hf_model), spec.tiny_config(), directory)
            made[family] = str(directory)
        return made[family]

    return get


def perturbed(model, seed=0):
    """Moves every trainable weight, as training would (the export must carry ours)."""
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        noise = rng.normal(scale=0.02, size=tuple(weight.shape)).astype("float32")
        weight.assign(weight + noise)
    return model


def load_exported(path):
    """transformers' model of `path` (the class its config.json names) and its loading info."""
    config = json.load(open(os.path.join(path, "config.json")))
    hf_cls = getattr(transformers, config["architectures"][0])
    hf, info = hf_cls.from_pretrained(path, output_loading_info=True)
    return hf.eval(), info


def assert_round_trip(model, path, atol=1e-5):
    hf, info = load_exported(path)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    diffs = cli._compare_with_transformers(model, path, hf)
    assert diffs and max(diffs.values()) <= atol, diffs
    return hf


@pytest.mark.parametrize("family,cls", list(every_class()))
def test_every_class_round_trips_through_transformers(base_checkpoints, tmp_path, family, cls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fresh heads
        decoder = getattr(cls, "head", None) == "causal_lm" and family in BERT_STYLE
        model = cls.from_preset(
            base_checkpoints(family), **({"is_decoder": True} if decoder else {})
        )
    path = perturbed(model).export_to_transformers(tmp_path / "export")
    assert json.load(open(os.path.join(path, "config.json")))["architectures"] == [
        hf_export.hf_architecture(model)
    ]
    assert_round_trip(model, path)


def test_fit_then_export_and_shards(base_checkpoints, tmp_path):
    model = keras_models.RobertaForQuestionAnswering.from_preset(base_checkpoints("roberta"))
    ids = np.array([[0, 5, 6, 7, 2, 1], [0, 8, 9, 2, 1, 1]], "int32")
    before = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings).copy()
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(ids, (np.array([1, 2]), np.array([3, 3])), epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings)
    assert not np.allclose(before, after)
    path = model.save_pretrained(tmp_path / "export", max_shard_size="10KB")
    index = json.load(open(os.path.join(path, "model.safetensors.index.json")))
    shards = set(index["weight_map"].values())
    assert len(shards) > 1 and all(os.path.exists(os.path.join(path, s)) for s in shards)
    assert not os.path.exists(os.path.join(path, "model.safetensors"))
    assert_round_trip(model, path)


def test_generation_survives_the_round_trip(base_checkpoints, tmp_path):
    # transformers' `generate` on the export gives our greedy and beam tokens, reading the
    # exported generation_config.json (start, stop and pad ids).
    cases = (
        ("opt", keras_models.OPTForCausalLM, np.array([[2, 11, 40, 7, 33]], "int32")),
        ("pegasus", keras_models.PegasusForConditionalGeneration, np.array([[5, 6, 7, 8, 1]])),
    )
    for family, cls, ids in cases:
        model = perturbed(cls.from_preset(base_checkpoints(family)))
        path = model.export_to_transformers(tmp_path / family)
        hf = assert_round_trip(model, path)
        if family == "pegasus":
            generation = json.load(open(os.path.join(path, "generation_config.json")))
            assert generation["decoder_start_token_id"] == model.backbone.decoder_start_token_id
        for beams in (1, 2):
            ours = np.asarray(model.generate(ids, max_new_tokens=5, num_beams=beams))
            with torch.no_grad():
                theirs = hf.generate(
                    torch.tensor(ids, dtype=torch.long),
                    max_new_tokens=5,
                    num_beams=beams,
                    do_sample=False,
                ).numpy()
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("preset", [f"{name}_tiny" for name in sorted(FAMILIES)])
def test_tokenizer_files_load_in_transformers(tmp_path, preset):
    family = FAMILIES[preset[: -len("_tiny")]]
    model = family.backbone_cls.from_preset(preset)
    path = model.export_to_transformers(tmp_path / "export")
    theirs = transformers.AutoTokenizer.from_pretrained(path)
    text = ["The quick brown fox.", "jumps over"]
    ours = model.tokenizer(text, padding=True)["input_ids"]
    assert theirs(text, padding=True)["input_ids"] == np.asarray(ours).tolist()


def test_inexpressible_settings_are_refused_before_writing(base_checkpoints, tmp_path):
    backbone = keras_models.RobertaBackbone.from_preset(base_checkpoints("roberta"))
    model = keras_models.RobertaForSequenceClassification(
        backbone, num_labels=2, head_activation="relu"
    )
    target = tmp_path / "export"
    with pytest.raises(ValueError, match="`head_activation="):
        model.export_to_transformers(target)
    assert not target.exists() and os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="max_shard_size"):
        backbone.export_to_transformers(target, max_shard_size="lots")
    opt = keras_models.OPTBackbone(**FAMILIES["opt"].tiny, layer_norm_eps=1e-6)
    with pytest.raises(ValueError, match="`layer_norm_eps=1e-06`.*fixes it at 1e-05"):
        opt.export_to_transformers(target)
    assert not target.exists() and os.listdir(tmp_path) == []


def test_an_interrupted_export_leaves_the_earlier_one(base_checkpoints, tmp_path, monkeypatch):
    model = keras_models.RobertaBackbone.from_preset(base_checkpoints("roberta"))
    path = model.export_to_transformers(tmp_path / "export")
    before = sorted(os.listdir(path))

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(hf_export, "write_files", fail)
    with pytest.raises(OSError, match="disk full"):
        model.export_to_transformers(path)
    assert sorted(os.listdir(path)) == before
    assert sorted(os.listdir(tmp_path)) == ["export"]


def test_export_command_from_a_keras_preset(base_checkpoints, tmp_path, capsys):
    model = perturbed(keras_models.OPTForCausalLM.from_preset(base_checkpoints("opt")))
    model.save_to_preset(tmp_path / "keras")
    code = cli.main(["export", str(tmp_path / "keras"), str(tmp_path / "hf"), "--check"])
    assert code == 0, capsys.readouterr().out
    assert "max difference" in capsys.readouterr().out

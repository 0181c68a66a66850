"""Registered names and `hf://` loading through the Hugging Face cache, offline; the command."""

import os
import shutil

import keras
import numpy as np
import pytest

import keras_models
from keras_models.cli import main
from keras_models.loading import loader as loading
from tests.families import FAMILIES, IDS, family_inputs, make_checkpoint


def place_in_hub_cache(hub_cache, repo_id, checkpoint_dir, commit="0123456789abcdef"):
    """Lays a checkpoint out as huggingface_hub's cache does: refs/main -> snapshots/<commit>."""
    repo = os.path.join(hub_cache, "models--" + repo_id.replace("/", "--"))
    shutil.copytree(checkpoint_dir, os.path.join(repo, "snapshots", commit))
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(commit)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    hub_cache = str(tmp_path / "hf_home" / "hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_MODELS_CACHE", str(tmp_path / "converted"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", hub_cache)
    return hub_cache


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_registered_name_and_hf_uri_load_offline_and_convert_once(
    family, offline_hub, tmp_path, monkeypatch
):
    spec = FAMILIES[family]
    make_checkpoint(family, tmp_path / "ckpt")
    place_in_hub_cache(offline_hub, spec.repo, tmp_path / "ckpt")
    reads = []
    original = loading.read_hf_weights
    monkeypatch.setattr(
        loading, "read_hf_weights", lambda d, *args: reads.append(d) or original(d, *args)
    )
    backbone_cls = spec.backbone_cls
    direct = backbone_cls.from_preset(tmp_path / "ckpt")
    assert len(reads) == 1
    by_name = backbone_cls.from_preset(spec.preset)
    by_uri = backbone_cls.from_preset(f"hf://{spec.repo}")
    again = keras_models.AutoModel.from_preset(spec.preset)
    assert len(reads) == 2, "the hub checkpoint was converted more than once"
    x = family_inputs(family)
    expected = keras.ops.convert_to_numpy(direct(x)["last_hidden_state"])
    for model in (by_name, by_uri, again):
        assert type(model) is backbone_cls
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(model(x)["last_hidden_state"]), expected, atol=1e-6
        )


def test_missing_offline_checkpoint_is_a_clear_error(offline_hub):
    with pytest.raises(ValueError, match="roberta-large"):
        keras_models.RobertaBackbone.from_preset("roberta_large")


def test_every_registered_name_resolves_to_a_family_and_source():
    presets = keras_models.list_presets()
    assert presets, "no presets registered"
    families = {p.family for p in presets}
    for preset in presets:
        assert "/" in preset.source and preset.params > 0 and preset.description
    assert {family for family in FAMILIES} <= families
    assert all(p.family == "roberta" for p in keras_models.list_presets(family="roberta"))


def test_auto_classes_pick_the_family(tmp_path):
    import transformers

    from tests.helpers import save_hf

    config = transformers.RobertaConfig(**FAMILIES["roberta"].tiny)
    save_hf(transformers.RobertaForTokenClassification, config, tmp_path)
    model = keras_models.AutoModelForTokenClassification.from_preset(tmp_path)
    assert type(model) is keras_models.RobertaForTokenClassification


def test_presets_command_lists_families(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for family in FAMILIES:
        assert family in out


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_convert_command_checks_against_transformers(family, tmp_path, capsys):
    make_checkpoint(family, tmp_path / "ckpt")
    assert main(["convert", str(tmp_path / "ckpt"), str(tmp_path / "out"), "--check"]) == 0
    out = capsys.readouterr().out
    worst = float(out.strip().splitlines()[-1].split()[-1])
    assert worst < 1e-5, out
    loaded = FAMILIES[family].backbone_cls.from_preset(tmp_path / "out")
    assert loaded(family_inputs(family))["last_hidden_state"].shape[:2] == IDS.shape
    assert main(["info", str(tmp_path / "out")]) == 0
    assert "parameters:" in capsys.readouterr().out

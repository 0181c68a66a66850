"""Progress bars: shown on a terminal, quiet in a log or with `verbose=0` / `--quiet`.

pytest captures stdout and stderr, so they are not terminals here: `verbose=None` must stay
quiet, and `on_terminal` makes the captured streams claim to be terminals for the automatic
case.
"""

import os
import re
import shutil
import sys

import pytest

import keras_models
from keras_models import progress
from keras_models.presets.embedded import build
from keras_models.presets.families import get_family
from keras_models.presets.registry import PRESETS

# Loading a base model from a checkpoint with a head warns that the head is left out.
pytestmark = pytest.mark.filterwarnings("ignore:These weights of the checkpoint")

EMBEDDED = sorted(p.name for p in keras_models.list_presets(embedded=True))
# What Keras' Progbar draws at level 1 (the bar) and at level 2 (`done/total - time`).
BAR = "━"
SUMMARY = re.compile(r"^(\d+)/(\d+) - ", re.M)


def on_terminal(monkeypatch):
    """The captured stdout and stderr say they are terminals (called in the test: pytest
    swaps the streams in after the fixtures are set up)."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)


def _embedded_dir(name):
    return PRESETS[name].resolve()


def _groups(model):
    backbone = getattr(model, "backbone", model)
    return get_family(backbone.model_type).converter.weight_groups(model)


def test_verbosity_levels(monkeypatch, capsys):
    assert progress.verbosity(None) == 0  # captured stdout: not a terminal
    assert progress.fit_verbosity() == 2  # one line per epoch in a log
    assert [progress.verbosity(v) for v in (0, 1, 2, False, True)] == [0, 1, 2, 0, 1]
    assert progress.fit_verbosity(0) == 0 and progress.fit_verbosity(1) == 1
    for bad in (3, -1, "yes", 1.5):
        with pytest.raises(ValueError, match="`verbose` must be"):
            progress.verbosity(bad)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert progress.verbosity(None) == 1
    assert progress.fit_verbosity() == 1
    assert progress.verbosity(None, sys.stderr) == 0  # each stream is asked for itself


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_preset_conversion_shows_bars_on_a_terminal(name, capfd, monkeypatch):
    model = keras_models.AutoModel.from_preset(name, verbose=0)
    out, err = capfd.readouterr()
    assert out == "" and BAR not in err

    on_terminal(monkeypatch)
    model = keras_models.AutoModel.from_preset(name)  # verbose=None: a terminal, so bars
    out = capfd.readouterr().out
    directory = _embedded_dir(name)
    assert f"Reading 1 weight file of {directory}" in out
    assert f"Converting {directory} into {type(model).__name__}" in out
    groups = _groups(model)
    assert groups > 10
    # The weight-group bar is drawn and ends at its total.
    assert BAR in out and f"{groups}/{groups}" in out


def test_tasks_follow_verbose_off_a_terminal(capfd):
    # Not a terminal: quiet unless asked.
    keras_models.RobertaForMaskedLM.from_preset("roberta_tiny")
    out, err = capfd.readouterr()
    assert out == "" and BAR not in err
    task = keras_models.AutoModelForMaskedLM.from_preset("roberta_tiny", verbose=2)
    out = capfd.readouterr().out
    # Level 2: one summary line per step (the weight file, the weight groups), no bar.
    assert BAR not in out and "\r" not in out
    groups = _groups(task)
    assert SUMMARY.findall(out) == [("1", "1"), (str(groups), str(groups))]
    assert "ms/weight group" in out or "us/weight group" in out
    keras_models.OPTForCausalLM.from_preset("opt_tiny", verbose=True)
    assert BAR in capfd.readouterr().out
    with pytest.raises(ValueError, match="`verbose` must be"):
        keras_models.RobertaForMaskedLM.from_preset("roberta_tiny", verbose=3)
    # `verbose` is not a model argument: a constructor override still is.
    task = keras_models.RobertaForMaskedLM.from_preset(
        "roberta_tiny", verbose=0, hidden_dropout_prob=0.0
    )
    assert task.backbone.get_config()["hidden_dropout_prob"] == 0.0
    tokenizer = keras_models.RobertaTokenizer.from_preset("roberta_tiny", verbose=0)
    assert tokenizer("a b")["input_ids"].shape == (1, 4)


def test_sharded_checkpoint_export_and_read_per_file(tmp_path, capfd, monkeypatch):
    on_terminal(monkeypatch)
    backbone = keras_models.RobertaBackbone.from_preset("roberta_tiny", verbose=0)
    capfd.readouterr()
    backbone.export_to_transformers(tmp_path / "quiet", max_shard_size="200KB", verbose=0)
    out, err = capfd.readouterr()
    assert out == "" and BAR not in err
    shards = sorted(f for f in os.listdir(tmp_path / "quiet") if f.endswith(".safetensors"))
    assert len(shards) > 2

    path = backbone.export_to_transformers(tmp_path / "shown", max_shard_size="200KB")
    out = capfd.readouterr().out
    groups = _groups(backbone)
    assert f"Exporting RobertaBackbone to {tmp_path / 'shown'}" in out
    assert f"{groups}/{groups}" in out
    assert f"Writing {len(shards)} weight files" in out
    assert f"{len(shards)}/{len(shards)}" in out

    # Reading the shards back: one step per shard, then the weight groups.
    keras_models.RobertaBackbone.from_preset(path, verbose=2)
    out = capfd.readouterr().out
    assert f"Reading {len(shards)} weight files of {path}" in out
    assert SUMMARY.findall(out) == [(str(len(shards)),) * 2, (str(groups),) * 2]
    keras_models.RobertaBackbone.from_preset(path, verbose=0)
    assert capfd.readouterr().out == ""


def _fake_hub(monkeypatch, tmp_path, seen):
    """`huggingface_hub.snapshot_download` serving roberta_tiny and drawing the hub's own tqdm
    bar on stderr, as a real download does; `seen` records whether the hub's bars were off."""
    import huggingface_hub
    from huggingface_hub.utils import are_progress_bars_disabled
    from huggingface_hub.utils import tqdm as hub_tqdm

    snapshot = tmp_path / "snapshot"
    if not snapshot.exists():
        shutil.copytree(_embedded_dir("roberta_tiny"), snapshot)

    def snapshot_download(repo_id, allow_patterns):
        seen.append(are_progress_bars_disabled())
        for _ in hub_tqdm(range(3), desc="Fetching 3 files", file=sys.stderr):
            pass
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setenv("KERAS_MODELS_CACHE", str(tmp_path / "converted"))


def test_hub_download_bars_follow_verbose(tmp_path, capfd, monkeypatch):
    from huggingface_hub.utils import are_progress_bars_disabled

    seen = []
    _fake_hub(monkeypatch, tmp_path, seen)
    # Not a terminal: the hub's bars are turned off for the download, then restored.
    keras_models.RobertaBackbone.from_preset("hf://someone/tiny")
    out, err = capfd.readouterr()
    assert seen == [True] and "Fetching" not in err and out == ""
    assert not are_progress_bars_disabled()

    # verbose=1: the hub's bar and, on the first load, the conversion's.
    shutil.rmtree(tmp_path / "converted")
    keras_models.RobertaForMaskedLM.from_preset("hf://someone/tiny", verbose=1)
    out, err = capfd.readouterr()
    assert seen[-1] is False and "Fetching 3 files" in err
    assert "Converting" in out and BAR in out

    for load in (
        lambda: keras_models.AutoModelForMaskedLM.from_preset("hf://someone/tiny", verbose=0),
        lambda: keras_models.RobertaTokenizer.from_preset("hf://someone/tiny", verbose=0),
    ):
        seen.clear()
        load()
        out, err = capfd.readouterr()
        assert seen and all(seen) and "Fetching" not in err and out == ""
    assert not are_progress_bars_disabled()


def test_hub_bars_stay_off_when_the_user_turned_them_off(tmp_path, capfd, monkeypatch):
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    seen = []
    _fake_hub(monkeypatch, tmp_path, seen)
    disable_progress_bars()
    try:
        keras_models.RobertaBackbone.from_preset("hf://someone/tiny", verbose=0)
        assert seen == [True] and are_progress_bars_disabled()
    finally:
        enable_progress_bars()


def test_cli_quiet(tmp_path, capsys, monkeypatch):
    on_terminal(monkeypatch)
    from keras_models.cli import main

    assert main(["convert", "roberta_tiny", str(tmp_path / "keras"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Saved a Keras preset" in out and BAR not in out and "Reading" not in out
    assert main(["convert", "roberta_tiny", str(tmp_path / "keras")]) == 0
    out = capsys.readouterr().out
    assert "Converting" in out and BAR in out
    assert main(["export", str(tmp_path / "keras"), str(tmp_path / "hf"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Wrote" in out and BAR not in out and "Writing" not in out
    assert main(["export", str(tmp_path / "keras"), str(tmp_path / "hf")]) == 0
    out = capsys.readouterr().out
    assert "Writing 1 weight file" in out and BAR in out


def test_demo_command_picks_the_fit_verbosity(monkeypatch):
    # The demo itself (one line per epoch in a log) runs in tests/test_demo.py; here the
    # command's switches.
    import keras_models.demo
    from keras_models.cli import main

    calls = []
    monkeypatch.setattr(
        keras_models.demo,
        "run_demo",
        lambda **kwargs: calls.append(kwargs["verbose"]) or {"same_after_reload": True},
    )
    for argv, expected in (([], None), (["--quiet"], 0), (["--verbose", "1"], 1)):
        assert main(["demo", *argv]) == 0
        assert calls[-1] == expected
    with pytest.raises(SystemExit):
        main(["demo", "--verbose", "3"])


def test_embedded_build_shows_a_bar_per_preset(tmp_path, capsys, monkeypatch):
    on_terminal(monkeypatch)

    def fake_builder(name):
        def build_one(english):
            os.makedirs(tmp_path / name)
            (tmp_path / name / "config.json").write_text("{}")
            return 123

        return build_one

    monkeypatch.setattr(build, "HERE", str(tmp_path))
    monkeypatch.setattr(build, "english_corpus", lambda: [])
    monkeypatch.setattr(build, "BUILDERS", {n: fake_builder(n) for n in ("a_tiny", "b_tiny")})
    build.main([])
    out = capsys.readouterr().out
    assert f"Building 2 embedded presets in {tmp_path}" in out and BAR in out and "2/2" in out
    assert "a_tiny" in out and "b_tiny" in out
    for name in ("a_tiny", "b_tiny"):
        shutil.rmtree(tmp_path / name)
    build.main(["--quiet"])
    out = capsys.readouterr().out
    assert BAR not in out and "Building" not in out
    assert re.search(r"a_tiny\s+123 parameters", out)

"""`keras-models demo` end to end with small settings, and the templated QA dataset."""

import re

import keras
import pytest

from keras_models.cli import main
from keras_models.datasets import templated_qa


def test_dataset_splits_are_disjoint_and_answers_are_spans():
    train, test = templated_qa.load(train_size=300, test_size=100)
    train_pools, test_pools = templated_qa.split_pools(0)
    for key in train_pools:
        shared = set(train_pools[key]) & set(test_pools[key])
        assert not shared if key in templated_qa.ENTITY_POOLS else shared, key
    # Every held-out question is about a person never named in training.
    people = {v.lower() for key in ("first", "last") for v in test_pools[key]}
    assert not any(templated_qa._mentions(c, people) for c in train["context"])
    assert all(templated_qa._mentions(q, people) for q in test["question"])
    # The strict split shares no value at all.
    train, test = templated_qa.load(train_size=300, test_size=100, disjoint="all")
    assert {a.lower() for a in train["answer_text"]}.isdisjoint(
        {a.lower() for a in test["answer_text"]}
    )
    with pytest.raises(ValueError, match="disjoint"):
        templated_qa.load(disjoint=("planets",))
    for split in (train, test):
        for context, answer, start in zip(
            split["context"], split["answer_text"], split["answer_start"]
        ):
            assert context[start : start + len(answer)] == answer
    # Varied question forms, fixed by the seed.
    assert len(set(q.split()[0] for q in train["question"])) >= 5
    assert templated_qa.load(train_size=5, test_size=5) == templated_qa.load(5, 5)
    with pytest.raises(ValueError, match="train_size"):
        templated_qa.load(train_size=0)


def test_squad_scores():
    assert templated_qa.normalize_answer("The  Quebec City!") == "quebec city"
    assert templated_qa.score(["the piano", "red"], ["Piano", "dark red"]) == {
        "exact_match": 0.5,
        "f1": (1.0 + 2 / 3) / 2,
    }
    with pytest.raises(ValueError, match="rows"):
        templated_qa.score(["a"], [])


def test_demo_runs_end_to_end(capsys, tmp_path):
    # No `--verbose`: stdout is captured, not a terminal, so `fit` writes one line per epoch
    # (no progress-bar updates) and the preset's conversion shows no bar.
    status = main(
        [
            "demo",
            "--backend",
            keras.backend.backend(),
            "--train-size",
            "64",
            "--test-size",
            "8",
            "--epochs",
            "2",
            "--output",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    for line in ("exact match", "before fine-tuning", "after fine-tuning", "model(dict input"):
        assert line in out, out
    assert "same answers on 8 held-out questions: True" in out
    # 64 examples in batches of 16: per epoch, one `4/4 - <time> - ... - loss: ...` line.
    assert re.findall(r"^Epoch \d/2\n4/4 - .*loss: ", out, re.M) and out.count("4/4 - ") == 2
    assert "━" not in out and "\r" not in out and "Converting" not in out
    assert (tmp_path / "roberta_tiny_templated_qa" / "preset.json").exists()

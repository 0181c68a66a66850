"""The presets shipped inside the package: registered as embedded, small, loadable by name with
no network into every class of their family, tokenizers equal to transformers' on their files,
and backbone outputs equal to transformers' model loaded from the same directory."""

import os
import warnings

import numpy as np
import pytest

import keras_models
from keras_models.presets.registry import PRESETS

# name -> (tokenizer class, task classes, transformers base model class)
EMBEDDED = {
    "roberta_tiny": (
        "RobertaTokenizer",
        ["RobertaBackbone"]
        + [
            f"RobertaFor{t}"
            for t in (
                "CausalLM",
                "MaskedLM",
                "MultipleChoice",
                "QuestionAnswering",
                "SequenceClassification",
                "TokenClassification",
            )
        ],
        "RobertaModel",
    ),
    "megatron_bert_tiny": (
        "MegatronBertTokenizer",
        ["MegatronBertBackbone"]
        + [
            f"MegatronBertFor{t}"
            for t in (
                "CausalLM",
                "MaskedLM",
                "MultipleChoice",
                "NextSentencePrediction",
                "PreTraining",
                "QuestionAnswering",
                "SequenceClassification",
                "TokenClassification",
            )
        ],
        "MegatronBertModel",
    ),
    "roc_bert_tiny": (
        "RoCBertTokenizer",
        ["RoCBertBackbone"]
        + [
            f"RoCBertFor{t}"
            for t in (
                "CausalLM",
                "MaskedLM",
                "MultipleChoice",
                "PreTraining",
                "QuestionAnswering",
                "SequenceClassification",
                "TokenClassification",
            )
        ],
        "RoCBertModel",
    ),
    "roformer_tiny": (
        "RoFormerTokenizer",
        ["RoFormerBackbone"]
        + [
            f"RoFormerFor{t}"
            for t in (
                "CausalLM",
                "MaskedLM",
                "MultipleChoice",
                "QuestionAnswering",
                "SequenceClassification",
                "TokenClassification",
            )
        ],
        "RoFormerModel",
    ),
    "opt_tiny": (
        "OPTTokenizer",
        [
            "OPTBackbone",
            "OPTForCausalLM",
            "OPTForQuestionAnswering",
            "OPTForSequenceClassification",
        ],
        "OPTModel",
    ),
    "pegasus_tiny": (
        "PegasusTokenizer",
        ["PegasusBackbone", "PegasusForCausalLM", "PegasusForConditionalGeneration"],
        "PegasusModel",
    ),
}
TEXTS = [
    "Where was Alice Becker born?",
    "Return a new list containing all items from the iterable in ascending order.",
    "今天天气非常好，我们一起去北京吧。",
    "Café déjà vu, 12345 tokens!",
]


def test_registered_as_embedded_and_small():
    names = [p.name for p in keras_models.list_presets(embedded=True)]
    assert names == sorted(EMBEDDED)
    hub = keras_models.list_presets(embedded=False)
    assert hub and not set(names) & {p.name for p in hub}
    total = 0
    for name in names:
        preset = PRESETS[name]
        assert "random" in preset.description and preset.params < 1_000_000
        directory = preset.resolve()
        package = os.path.dirname(os.path.abspath(keras_models.__file__))
        assert os.path.commonpath([directory, package]) == package
        files = os.listdir(directory)
        assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= set(files)
        total += sum(os.path.getsize(os.path.join(directory, f)) for f in files)
    assert total < 8e6, f"embedded presets take {total / 1e6:.1f} MB"


def test_loading_needs_no_network(monkeypatch):
    from keras_models.presets import registry

    def no_network(repo_id):
        raise AssertionError(f"tried to download {repo_id}")

    monkeypatch.setattr(registry, "download", no_network)
    model = keras_models.RobertaForQuestionAnswering.from_preset("roberta_tiny")
    assert model.count_params() > 0


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_tokenizer_matches_transformers(name):
    from transformers import AutoTokenizer

    directory = PRESETS[name].resolve()
    ours = getattr(keras_models, EMBEDDED[name][0]).from_preset(name)
    theirs = AutoTokenizer.from_pretrained(directory)
    ids = ours(TEXTS, padding=True)
    expected = theirs(TEXTS, padding=True, return_tensors="np")
    assert set(ids) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(ids[key], expected[key], err_msg=f"{name} {key}")
    pair = ours(TEXTS[0], TEXTS[1])["input_ids"]
    np.testing.assert_array_equal(
        pair, theirs(TEXTS[0], TEXTS[1], return_tensors="np")["input_ids"]
    )
    assert len(ours) == len(theirs)
    # A trained vocabulary, not a character table: common English words are single tokens.
    assert len(ours.tokenize(" the")) == 1 if name in ("roberta_tiny", "opt_tiny") else True
    assert ours.decode(ids["input_ids"][1], skip_special_tokens=True).lower().startswith("return")


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_every_class_loads_and_backbone_matches_transformers(name):
    import torch
    import transformers

    tokenizer_name, class_names, hf_name = EMBEDDED[name]
    tokenizer = getattr(keras_models, tokenizer_name).from_preset(name)
    inputs = tokenizer(TEXTS[:2], padding=True)
    if name == "pegasus_tiny":
        inputs["decoder_input_ids"] = inputs["input_ids"][:, :4]
    with warnings.catch_warnings():  # the presets carry no weights for most heads
        warnings.simplefilter("ignore")
        for class_name in class_names[1:]:
            model = getattr(keras_models, class_name).from_preset(name)
            assert model.backbone.count_params() > 0, class_name
    backbone = getattr(keras_models, class_names[0]).from_preset(name)
    # predict compiles the graph once; an eager first call on jax compiles op by op (slower).
    ours = backbone.predict(inputs, verbose=0)["last_hidden_state"]
    hf = getattr(transformers, hf_name).from_pretrained(PRESETS[name].resolve()).eval()
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v.astype("int64")) for k, v in inputs.items()})
    mask = inputs["attention_mask"].astype(bool)
    if name == "pegasus_tiny":
        mask = np.ones(inputs["decoder_input_ids"].shape, bool)
    np.testing.assert_allclose(ours[mask], theirs.last_hidden_state.numpy()[mask], atol=1e-5)

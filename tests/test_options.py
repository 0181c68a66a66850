"""Every option is used or refused: strict constructors and `from_preset`, the whole
transformers config, the label fields of the heads, `model.config`."""

import json
import os
import shutil
import warnings

import keras
import numpy as np
import pytest
import transformers

import keras_models
from keras_models.models.backbone import InputNormalizingModel
from keras_models.presets import config_fields
from keras_models.presets.families import get_family
from keras_models.tokenizers.base import Tokenizer
from keras_models.tokenizers.preprocessors.base import Preprocessor
from tests.families import FAMILIES
from tests.helpers import assert_close, hf_outputs, save_hf

PUBLIC = [
    getattr(keras_models, name)
    for name in keras_models.__all__
    if isinstance(getattr(keras_models, name), type)
    and issubclass(getattr(keras_models, name), (InputNormalizingModel, Tokenizer, Preprocessor))
]
#: The encoder-only families' class prefixes.
PREFIX = {name: spec.prefix for name, spec in FAMILIES.items() if name != "pegasus"}
#: One task class per family, loaded from the family's embedded preset.
#: Reading configs and routing arguments is backend-independent: checked once, on torch (the
#: fastest backend here); what computes is checked on every backend.
config_reading = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="backend-independent config reading, run on torch"
)

EMBEDDED_TASKS = {
    "megatron_bert": "MegatronBertForPreTraining",
    "opt": "OPTForCausalLM",
    "pegasus": "PegasusForConditionalGeneration",
    "roc_bert": "RoCBertForMaskedLM",
    "roberta": "RobertaForQuestionAnswering",
    "roformer": "RoFormerForMultipleChoice",
}


# --- unknown arguments -----------------------------------------------------------------------
@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_unknown_constructor_argument_is_refused(cls):
    # The check runs before the arguments are bound, so no backbone or tokenizer is needed.
    with pytest.raises(ValueError, match="unknown argument 'totally_bogus'.*Accepted"):
        cls(None, totally_bogus=1)


def test_unknown_argument_names_the_closest_one():
    with pytest.raises(ValueError, match="'intermediate_sise'. Did you mean 'intermediate_size'"):
        keras_models.RobertaBackbone(intermediate_sise=16)
    with pytest.raises(ValueError, match="Did you mean 'num_labels'"):
        keras_models.RobertaForSequenceClassification(None, num_label=3)


def test_keras_arguments_still_work():
    backbone = keras_models.RobertaBackbone(
        **FAMILIES["roberta"].tiny, name="encoder", dtype="bfloat16", trainable=False
    )
    assert (backbone.name, backbone.dtype_policy.name, backbone.trainable) == (
        "encoder",
        "bfloat16",
        False,
    )
    task = keras_models.RobertaForTokenClassification(backbone, name="tagger", dtype="bfloat16")
    assert task.name == "tagger"
    with pytest.raises(ValueError, match="backbone's policy"):
        keras_models.RobertaForTokenClassification(backbone, dtype="float32")


@pytest.mark.parametrize("family", sorted(EMBEDDED_TASKS))
def test_unknown_from_preset_override_is_refused(family):
    backbone_cls = getattr(keras_models, FAMILIES[family].backbone)
    task_cls = getattr(keras_models, EMBEDDED_TASKS[family])
    tokenizer_cls = get_family(backbone_cls.model_type).tokenizer
    for cls in (backbone_cls, task_cls, tokenizer_cls):
        with pytest.raises(ValueError, match="unknown argument 'totally_bogus_option'"):
            cls.from_preset(f"{family}_tiny", totally_bogus_option=123)


def test_a_head_argument_on_a_head_without_it_is_refused():
    # transformers' masked-LM head has no labels: `num_labels` would be dropped, so it is refused.
    with pytest.raises(ValueError, match="unknown argument 'num_labels'"):
        keras_models.RobertaForMaskedLM.from_preset("roberta_tiny", num_labels=3)


# --- the transformers config ---------------------------------------------------------------
CONFIGS = {
    "megatron-bert": "MegatronBertConfig",
    "opt": "OPTConfig",
    "pegasus": "PegasusConfig",
    "roberta": "RobertaConfig",
    "roc_bert": "RoCBertConfig",
    "roformer": "RoFormerConfig",
}


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_every_transformers_config_field_is_accounted_for(model_type):
    fields = getattr(transformers, CONFIGS[model_type])().to_dict()
    converter = get_family(model_type).converter
    used, no_effect, refused = config_fields.groups(model_type, converter.backbone_fields)
    for field in fields:
        groups = [
            name
            for name, g in (("used", used), ("no_effect", no_effect), ("refused", refused))
            if field in g
        ]
        assert len(groups) == 1, (field, groups)
    for field, reason in no_effect.items():
        assert isinstance(reason, str) and reason, field
    # Every backbone field the converter reads is a constructor argument of the backbone.
    assert set(converter.backbone_fields) <= set(converter.backbone_cls.accepted_arguments())


@pytest.fixture(scope="module")
def roberta_checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("roberta")
    config = transformers.RobertaConfig(**FAMILIES["roberta"].tiny)
    save_hf(transformers.RobertaForMaskedLM, config, directory)
    return str(directory)


def edited_copy(directory, tmp_path, **fields):
    """A copy of a checkpoint with `fields` set in (None: removed from) its config.json."""
    target = tmp_path / "edited"
    shutil.copytree(directory, target)
    path = target / "config.json"
    config = json.loads(path.read_text())
    for field, value in fields.items():
        if value is None:
            config.pop(field, None)
        else:
            config[field] = value
    path.write_text(json.dumps(config))
    return str(target)


@config_reading
@pytest.mark.parametrize(
    "field,value",
    [
        ("position_embedding_type", "relative_key"),
        ("add_cross_attention", True),
        ("pruned_heads", {"0": [1]}),
        ("tie_word_embeddings", False),
        ("is_encoder_decoder", True),
        ("chunk_size_feed_forward", 0),  # no effect: loads
    ],
)
def test_refused_config_values(roberta_checkpoint, tmp_path, field, value):
    directory = edited_copy(roberta_checkpoint, tmp_path, **{field: value})
    if field == "chunk_size_feed_forward":
        keras_models.RobertaForMaskedLM.from_preset(directory)
        return
    with pytest.raises(ValueError, match=f"`{field}="):
        keras_models.RobertaForMaskedLM.from_preset(directory)


@config_reading
def test_output_flags_in_config_json_build_the_outputs(roberta_checkpoint, tmp_path):
    # transformers returns what config.json's `output_*` fields ask for; so does the graph.
    directory = edited_copy(
        roberta_checkpoint, tmp_path, output_attentions=True, output_hidden_states=True
    )
    model = keras_models.RobertaForMaskedLM.from_preset(directory)
    out = model(np.array([[0, 5, 6, 2]]))
    layers = FAMILIES["roberta"].tiny["num_hidden_layers"]
    assert len(out.attentions) == layers and len(out.hidden_states) == layers + 1
    assert model.backbone.get_config()["output_attentions"] is True


@config_reading
def test_tie_word_embeddings_matters_only_to_lm_heads(roberta_checkpoint, tmp_path):
    directory = edited_copy(roberta_checkpoint, tmp_path, tie_word_embeddings=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unused LM-head weights
        keras_models.RobertaBackbone.from_preset(directory)


@config_reading
def test_layerdrop_is_refused(tmp_path):
    config = transformers.OPTConfig(**FAMILIES["opt"].tiny, layerdrop=0.1)
    save_hf(transformers.OPTModel, config, tmp_path)
    with pytest.raises(ValueError, match="`layerdrop=0.1`.*LayerDrop"):
        keras_models.OPTBackbone.from_preset(str(tmp_path))


@config_reading
def test_unknown_activation_names_the_field(roberta_checkpoint, tmp_path):
    directory = edited_copy(roberta_checkpoint, tmp_path, hidden_act="swishy")
    with pytest.raises(ValueError, match="`hidden_act in .*config.json` 'swishy'"):
        keras_models.RobertaBackbone.from_preset(directory)
    with pytest.raises(ValueError, match="`activation_function` 'swishy'"):
        keras_models.OPTBackbone(**FAMILIES["opt"].tiny, activation_function="swishy")


@config_reading
def test_unknown_model_type_is_refused(roberta_checkpoint, tmp_path):
    directory = edited_copy(roberta_checkpoint, tmp_path, model_type="robertax")
    with pytest.raises(ValueError, match="Unsupported model_type 'robertax'"):
        keras_models.RobertaBackbone.from_preset(directory)


@config_reading
def test_fields_outside_the_transformers_config_warn(roberta_checkpoint, tmp_path):
    directory = edited_copy(roberta_checkpoint, tmp_path, static_position_embeddings=True)
    with pytest.warns(UserWarning, match="static_position_embeddings"):
        keras_models.RobertaBackbone.from_preset(directory)


@config_reading
@pytest.mark.parametrize("field", ["dtype", "torch_dtype"])
def test_config_dtype_sets_the_policy(roberta_checkpoint, tmp_path, field):
    directory = edited_copy(roberta_checkpoint, tmp_path, **{"dtype": None, field: "bfloat16"})
    assert keras_models.RobertaBackbone.from_preset(directory).dtype_policy.name == "bfloat16"
    model = keras_models.RobertaForMaskedLM.from_preset(directory, dtype="float32")
    assert model.backbone.dtype_policy.name == "float32"  # the caller's dtype wins


# --- label fields ---------------------------------------------------------------------------
def _inputs(family, choices=False):
    ids = np.array([[3, 5, 6, 7, 4], [3, 8, 9, 4, 1]], "int32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], "int32")
    x = {"input_ids": ids, "attention_mask": mask}
    if family == "roc_bert":
        x["input_shape_ids"] = ids
        x["input_pronunciation_ids"] = ids
    if choices:
        x = {k: np.stack([v, v[:, ::-1]], axis=1) for k, v in x.items()}
    return x


def _labels(head, problem_type, num_labels, rng):
    if head == "MultipleChoice":
        return np.array([1, 0])
    if head == "TokenClassification":
        labels = rng.integers(0, num_labels, (2, 5))
        labels[1, 4] = -100
        return labels
    if problem_type == "regression":
        return rng.normal(size=(2,)).astype("float32")
    if problem_type == "multi_label_classification":
        return (rng.random((2, num_labels)) > 0.5).astype("float32")
    return np.array([2, 0])


LABEL_CASES = [
    (family, "SequenceClassification", problem_type, 1 if problem_type == "regression" else 3)
    for family in sorted(PREFIX)
    for problem_type in ("regression", "single_label_classification", "multi_label_classification")
] + [
    (family, head, "multi_label_classification", 3)
    for family in sorted(PREFIX)
    if family != "opt"
    for head in ("TokenClassification", "MultipleChoice")
]


# Which arguments reach the head is backend-independent (and each head's numerics are in the
# family parity tests on every backend): every family on torch, the fastest here; RoBERTa on
# jax and tensorflow.
if keras.backend.backend() != "torch":
    LABEL_CASES = [case for case in LABEL_CASES if case[0] == "roberta"]


@pytest.mark.parametrize(
    "family,head,problem_type,num_labels", LABEL_CASES, ids=lambda v: str(v)[:12]
)
def test_num_labels_and_problem_type_match_transformers(
    tmp_path, family, head, problem_type, num_labels
):
    """From config.json and as overrides, `num_labels` and `problem_type` give transformers'
    head and loss (token classification and multiple choice ignore `problem_type` there)."""
    name = f"{PREFIX[family]}For{head}"
    kwargs = dict(FAMILIES[family].tiny, num_labels=num_labels, problem_type=problem_type)
    hf = save_hf(
        getattr(transformers, name),
        getattr(transformers, FAMILIES[family].hf_config)(**kwargs),
        tmp_path / "hf",
    )
    stripped = edited_copy(
        tmp_path / "hf", tmp_path, id2label=None, label2id=None, problem_type=None, num_labels=None
    )
    x = _inputs(family, choices=head == "MultipleChoice")
    labels = _labels(head, problem_type, num_labels, np.random.default_rng(0))
    theirs = hf_outputs(hf, x, labels=labels)
    cls = getattr(keras_models, name)
    for model in (
        cls.from_preset(str(tmp_path / "hf")),
        cls.from_preset(stripped, num_labels=num_labels, problem_type=problem_type),
    ):
        assert model.config.num_labels == num_labels
        assert model.config.problem_type == problem_type
        logits = model(x)["logits"]
        mask = x["attention_mask"] if head == "TokenClassification" else None
        assert_close(logits, theirs.logits, mask)
        loss = model.hf_loss(model.collect_labels(x, labels), {"logits": logits})
        np.testing.assert_allclose(float(loss), float(theirs.loss), atol=1e-5)


@config_reading
def test_id2label_from_config_and_overrides(tmp_path):
    names = {0: "NEG", 1: "NEU", 2: "POS"}
    config = transformers.RobertaConfig(**FAMILIES["roberta"].tiny, id2label=names)
    save_hf(transformers.RobertaForSequenceClassification, config, tmp_path)
    model = keras_models.RobertaForSequenceClassification.from_preset(str(tmp_path))
    logits = keras.ops.convert_to_numpy(model.predict(_inputs("roberta"), verbose=0)["logits"])
    predicted = int(np.argmax(logits[0]))
    assert model.config.id2label[predicted] == names[predicted]
    assert model.config.label2id == {"NEG": 0, "NEU": 1, "POS": 2}
    renamed = keras_models.RobertaForSequenceClassification.from_preset(
        str(tmp_path), id2label={0: "a", 1: "b", 2: "c"}
    )
    assert renamed.config.id2label == {0: "a", 1: "b", 2: "c"}
    with pytest.raises(ValueError, match="disagrees with `id2label`"):
        keras_models.RobertaForSequenceClassification.from_preset(
            str(tmp_path), num_labels=2, id2label=names
        )
    # A Keras preset keeps the names, and a new `num_labels` there drops them.
    renamed.save_to_preset(str(tmp_path / "keras"))
    again = keras_models.RobertaForSequenceClassification.from_preset(str(tmp_path / "keras"))
    assert again.config.id2label == {0: "a", 1: "b", 2: "c"}


@config_reading
def test_opt_num_labels_override_trains_multi_label():
    # The reported failure: a 2-label model, then a shape error in `fit`.
    model = keras_models.OPTForSequenceClassification.from_preset(
        "opt_tiny", num_labels=3, problem_type="multi_label_classification"
    )
    ids = np.array([[2, 50, 60, 70], [2, 80, 90, 1]], "int32")
    labels = np.array([[1, 0, 1], [0, 1, 0]], "float32")
    assert model(ids)["logits"].shape == (2, 3)
    model.compile(optimizer="adam")
    history = model.fit(ids, labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@config_reading
def test_model_config_is_a_read_only_transformers_view():
    model = keras_models.RobertaForQuestionAnswering.from_preset("roberta_tiny")
    config = model.config
    assert config.model_type == "roberta"
    assert config.architectures == ["RobertaForQuestionAnswering"]
    assert config.hidden_size == model.backbone.hidden_size
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1"}
    with pytest.raises(AttributeError, match="read-only"):
        config.hidden_size = 3
    with pytest.raises(AttributeError, match="no field 'hiden_size'"):
        config.hiden_size  # noqa: B018


# --- MegatronBERT's add_binary_head ----------------------------------------------------------
def test_pretraining_without_binary_head(tmp_path):
    config = transformers.MegatronBertConfig(**FAMILIES["megatron_bert"].tiny)
    hf = save_hf(transformers.MegatronBertForPreTraining, config, tmp_path)
    with pytest.warns(UserWarning, match="seq_relationship"):  # NSP weights left unused
        model = keras_models.MegatronBertForPreTraining.from_preset(
            str(tmp_path), add_binary_head=False
        )
    x = _inputs("megatron_bert")
    out = model(x)
    assert sorted(out) == ["prediction_logits"]
    labels = np.where(x["attention_mask"] == 1, x["input_ids"], -100).astype("int64")
    theirs = hf_outputs(hf, x)
    assert_close(out["prediction_logits"], theirs.prediction_logits, x["attention_mask"])
    import torch

    expected = torch.nn.functional.cross_entropy(
        theirs.prediction_logits.reshape(-1, config.vocab_size), torch.tensor(labels).reshape(-1)
    )
    loss = model.hf_loss(model.collect_labels(x, labels), out)
    np.testing.assert_allclose(float(loss), float(expected), atol=1e-5)
    assert model.label_names == ("labels",)
    assert "add_binary_head" in model.get_config()


# --- activations ------------------------------------------------------------------------------
ACTIVATION_CASES = [
    ("roformer", "gelu_new"),
    ("roberta", "gelu_fast"),
    ("roberta", "quick_gelu"),
    ("roberta", "silu"),
    ("roberta", "gelu_10"),
    ("roberta", "mish"),
    ("megatron_bert", "relu6"),
    ("megatron_bert", "leaky_relu"),
    ("megatron_bert", "relu2"),
]
if keras.backend.backend() != "torch":
    # Each activation is one keras.ops expression; the rest of the model is in the parity tests.
    ACTIVATION_CASES = ACTIVATION_CASES[:1]


@pytest.mark.parametrize("family,activation", ACTIVATION_CASES)
def test_activations_match_transformers(tmp_path, family, activation):
    kwargs = dict(FAMILIES[family].tiny, hidden_act=activation)
    hf_cls = getattr(transformers, FAMILIES[family].hf_model)
    hf = save_hf(hf_cls, getattr(transformers, FAMILIES[family].hf_config)(**kwargs), tmp_path)
    x = _inputs(family)
    ours = getattr(keras_models, FAMILIES[family].backbone).from_preset(str(tmp_path))(x)
    assert_close(
        ours["last_hidden_state"], hf_outputs(hf, x).last_hidden_state, x["attention_mask"]
    )


@config_reading
def test_saved_tasks_round_trip_their_label_fields(tmp_path):
    backbone = keras_models.RobertaBackbone(**FAMILIES["roberta"].tiny, add_pooling_layer=False)
    model = keras_models.RobertaForTokenClassification(
        backbone, id2label={0: "O", 1: "B", 2: "I"}, problem_type="single_label_classification"
    )
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.config.id2label == {0: "O", 1: "B", 2: "I"}
    assert loaded.num_labels == 3


@config_reading
def test_pooler_and_span_width_options():
    model = keras_models.RobertaForSequenceClassification.from_preset(
        "roberta_tiny", add_pooling_layer=True
    )
    assert model.backbone.pooler is not None
    with pytest.raises(ValueError, match="add_pooling_layer=True"):
        keras_models.MegatronBertForSequenceClassification.from_preset(
            "megatron_bert_tiny", add_pooling_layer=False
        )
    # transformers' OPT and RoFormer QA heads are Linear(hidden, 2) whatever num_labels says.
    with pytest.raises(ValueError, match="2 span outputs"):
        keras_models.OPTForQuestionAnswering.from_preset("opt_tiny", num_labels=3)


def test_every_activation_equals_transformers_on_this_backend():
    import torch
    from transformers.activations import ACT2FN

    from keras_models.layers.activations import _HF_ACTIVATIONS, get_activation

    x = np.linspace(-12, 12, 97).astype("float32")
    for name in _HF_ACTIVATIONS:
        activation = keras.activations.get(get_activation(name))
        ours = keras.ops.convert_to_numpy(activation(keras.ops.convert_to_tensor(x)))
        theirs = ACT2FN[name](torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, theirs, atol=2e-6, err_msg=name)

"""The family registry: what each family folder declares, and everything that reads it (the
package exports, the auto classes, tokenizer lookup, generic-task loading, the command)."""

import keras
import numpy as np
import pytest

import keras_models
from keras_models.cli import main
from keras_models.presets.families import Family, add_family, families, family_of, get_family

#: Which class a preset loads into is backend-independent: checked once, on torch.
registry_loading = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="backend-independent class choice, run on torch"
)

FAMILY_NAMES = ["megatron_bert", "opt", "pegasus", "roberta", "roc_bert", "roformer"]


def test_every_family_registers_once_with_its_classes():
    assert [family.name for family in families()] == FAMILY_NAMES
    for family in families():
        assert get_family(family.model_type) is family
        assert family.backbone.model_type == family.model_type
        assert family_of(family.backbone) is family
        assert {preset.family for preset in family.presets} <= {family.name}
        for task in family.tasks:
            assert task.backbone_cls is family.backbone, task
            assert task.head is not None, task
            assert task.__name__.startswith(family.backbone.__name__[: -len("Backbone")])
        assert family.converter.backbone_cls is family.backbone


def test_package_exports_what_the_registry_holds():
    registered = {cls.__name__: cls for family in families() for cls in family.classes}
    assert len(registered) == 6 * 2 + 32  # backbones, tokenizers, task classes
    for name, cls in registered.items():
        assert getattr(keras_models, name) is cls
        assert name in keras_models.__all__
    assert len(set(keras_models.__all__)) == len(keras_models.__all__)
    for name in keras_models.__all__:
        assert hasattr(keras_models, name), name


def test_unknown_model_type_and_head_are_named():
    with pytest.raises(ValueError, match="'bert'.*supported: \\['megatron-bert'"):
        get_family("bert")
    with pytest.raises(ValueError, match="opt family has no masked_lm head"):
        get_family("opt").task_class("masked_lm")
    family = get_family("roberta")
    with pytest.raises(ValueError, match="already registered"):
        add_family(family)

    class Converter:
        model_type = "x"

    twice = Family("x", Converter(), None, (family.tasks[0], family.tasks[0]))
    with pytest.raises(ValueError, match="share a head"):
        add_family(twice)


def test_subclass_of_a_family_backbone_belongs_to_it():
    class MyRoberta(keras_models.RobertaBackbone):
        pass

    assert family_of(MyRoberta) is get_family("roberta")
    assert family_of(keras_models.Backbone) is None


@registry_loading
def test_generic_and_auto_classes_load_the_family_class():
    with pytest.warns(UserWarning, match="freshly initialised"):
        model = keras_models.QuestionAnswering.from_preset("roberta_tiny")
    assert type(model) is keras_models.RobertaForQuestionAnswering
    with pytest.warns(UserWarning):
        model = keras_models.AutoModelForMaskedLM.from_pretrained("roc_bert_tiny")
    assert type(model) is keras_models.RoCBertForMaskedLM
    with pytest.raises(ValueError, match="pegasus family has no question_answering head"):
        keras_models.AutoModelForQuestionAnswering.from_preset("pegasus_tiny")
    backbone = keras_models.AutoModel.from_pretrained("opt_tiny")
    assert type(backbone) is keras_models.OPTBackbone
    assert type(backbone.tokenizer) is keras_models.OPTTokenizer
    ids = np.array([[2, 10, 11]])
    direct = keras_models.OPTBackbone.from_pretrained("opt_tiny")(ids)["last_hidden_state"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backbone(ids)["last_hidden_state"]),
        keras.ops.convert_to_numpy(direct),
    )
    tokenizer = keras_models.OPTTokenizer.from_pretrained("opt_tiny")
    np.testing.assert_array_equal(
        tokenizer("a b")["input_ids"], backbone.tokenizer("a b")["input_ids"]
    )


def test_command_refuses_a_backend_other_than_keras_one():
    other = "torch" if keras.backend.backend() != "torch" else "jax"
    with pytest.raises(ValueError, match=f"KERAS_BACKEND={other}"):
        main(["demo", "--backend", other, "--train-size", "1"])

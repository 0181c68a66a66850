"""The weight tables are reversible: walking a converted model back through its family's table
gives the checkpoint's tensors exactly, and every checkpoint tensor is accounted for."""

import keras
import numpy as np
import pytest
import transformers

import keras_models
from keras_models.presets.families import get_family
from keras_models.presets.weight_table import dense, export_weights, load_table, param
from keras_models.presets.weights import WeightPorter, read_hf_weights
from tests.families import FAMILIES
from tests.helpers import save_hf

# (family, model_type, transformers class, our class): one tiny checkpoint each, chosen so
# every kind of row and most head layouts are walked.
CASES = [
    ("roberta", "roberta", "RobertaForMaskedLM", "RobertaForMaskedLM"),
    ("roberta", "roberta", "RobertaForSequenceClassification", "RobertaForSequenceClassification"),
    ("opt", "opt", "OPTForSequenceClassification", "OPTForSequenceClassification"),
    ("opt", "opt", "OPTForCausalLM", "OPTForCausalLM"),
    ("pegasus", "pegasus", "PegasusForConditionalGeneration", "PegasusForConditionalGeneration"),
    ("pegasus", "pegasus", "PegasusModel", "PegasusBackbone"),
    ("megatron_bert", "megatron-bert", "MegatronBertForPreTraining", "MegatronBertForPreTraining"),
    ("roc_bert", "roc_bert", "RoCBertForQuestionAnswering", "RoCBertForQuestionAnswering"),
    ("roformer", "roformer", "RoFormerForMaskedLM", "RoFormerForMaskedLM"),
    ("roformer", "roformer", "RoFormerForTokenClassification", "RoFormerForTokenClassification"),
]


@pytest.mark.parametrize("family,model_type,hf_name,our_name", CASES, ids=[c[2] for c in CASES])
def test_export_reproduces_the_checkpoint(tmp_path, family, model_type, hf_name, our_name):
    spec = FAMILIES[family]
    config = getattr(transformers, spec.hf_config)(**spec.tiny)
    save_hf(getattr(transformers, hf_name), config, tmp_path)
    checkpoint = read_hf_weights(str(tmp_path))
    model = getattr(keras_models, our_name).from_preset(str(tmp_path))

    covered = set()
    for keys, value, optional in get_family(model_type).converter.export(model):
        present = [key for key in keys if key in checkpoint]
        assert present or optional, f"{keys} is exported but not in the checkpoint"
        for key in present:
            assert value.shape == checkpoint[key].shape, key
            np.testing.assert_array_equal(value, checkpoint[key], err_msg=key)
        covered.update(present)
    assert covered == set(checkpoint), sorted(set(checkpoint) - covered)


class _Heads:
    """A stand-in for an attention projection whose kernel splits heads (`[in, heads, dim]`)."""

    use_bias = True

    def __init__(self):
        self.kernel = keras.Variable(np.zeros((4, 2, 3), "float32"))
        self.bias = keras.Variable(np.zeros((2, 3), "float32"))


class _Model:
    def __init__(self):
        self.query = _Heads()
        self.scale = keras.Variable(np.zeros((5,), "float32"))


def test_head_split_and_reshaped_params_round_trip():
    rng = np.random.default_rng(0)
    tensors = {
        "q.weight": rng.normal(size=(6, 4)).astype("float32"),  # torch Linear [out, in]
        "q.bias": rng.normal(size=(6,)).astype("float32"),
        "scale": rng.normal(size=(1, 5)).astype("float32"),
    }
    table = (dense("q", "query", split="out"), param("scale", "scale", hf_shape=(1, -1)))
    model = _Model()
    porter = WeightPorter(dict(tensors))
    load_table(model, table, porter)
    assert porter.unused_keys() == []
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.query.kernel), tensors["q.weight"].T.reshape(4, 2, 3)
    )
    exported = export_weights(model, table)
    assert sorted(exported) == sorted(tensors)
    for key, value in tensors.items():
        np.testing.assert_array_equal(exported[key], value)


def test_a_missing_head_split_tensor_is_named():
    table = (dense("q", "query", split="out"),)
    porter = WeightPorter({"q.weight": np.zeros((6, 4), "float32")})
    with pytest.raises(ValueError, match="Missing weight 'q.bias'"):
        load_table(_Model(), table, porter)

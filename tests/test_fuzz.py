"""Property-based input fuzzing: any input structure, dtype, shape or value ends in a correct
result or a `ValueError`, never another exception type or a silent wrong result."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import keras_models

VOCAB, MAX_POS, PAD = 30, 16, 1


def tiny_backbone():
    return keras_models.RobertaBackbone(
        vocab_size=VOCAB,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=8,
        max_position_embeddings=MAX_POS,
        type_vocab_size=2,
    )


@pytest.fixture(scope="module")
def models():
    backbone = tiny_backbone()
    return {
        "backbone": backbone,
        "qa": keras_models.RobertaForQuestionAnswering(backbone),
        "mc": keras_models.RobertaForMultipleChoice(backbone),
    }


NAMES = ["input_ids", "attention_mask", "token_type_ids", "position_ids", "bogus"]
values = st.integers(-3, VOCAB + 3)
dtypes = st.sampled_from(["int32", "int64", "float32", "bool"])


@st.composite
def arrays(draw, rank):
    shape = tuple(draw(st.integers(0, 4)) for _ in range(rank))
    data = draw(st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(data, dtype="int64").reshape(shape).astype(draw(dtypes))


@st.composite
def structures(draw):
    rank = draw(st.sampled_from([1, 2, 2, 3]))
    kind = draw(st.sampled_from(["tensor", "list", "dict"]))
    if kind == "tensor":
        return draw(arrays(rank))
    if kind == "list":
        return [draw(arrays(rank)) for _ in range(draw(st.integers(0, 5)))]
    keys = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))
    return {k: draw(arrays(rank)) for k in keys}


def _valid(x, rank):
    """Our own statement of the contract, to tell a right acceptance from a silent one."""
    if isinstance(x, np.ndarray):
        x = {"input_ids": x}
    elif isinstance(x, list):
        if len(x) > 4:
            return False
        x = dict(zip(NAMES[:4], x))
    if "bogus" in x or "input_ids" not in x:
        return False
    for name, value in x.items():
        if value.ndim != rank or 0 in value.shape:
            return False
        if name != "attention_mask" and value.dtype.kind not in "iu":
            return False
    ids = x["input_ids"]
    limits = {"input_ids": VOCAB, "token_type_ids": 2, "position_ids": MAX_POS}
    for name, high in limits.items():
        if name in x and (x[name].min() < 0 or x[name].max() >= high):
            return False
    if len({v.shape for v in x.values()}) > 1:
        return False
    if "position_ids" not in x and ids.shape[-1] + PAD >= MAX_POS:
        return False
    return True


@seed(1234)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=structures(), which=st.sampled_from(["backbone", "qa", "mc"]))
def test_any_input_gives_a_result_or_a_value_error(models, x, which):
    model = models[which]
    rank = 3 if which == "mc" else 2
    expected = _valid(x, rank)
    try:
        out = model(x)
    except ValueError:
        assert not expected, f"refused a valid input: {x!r}"
        return
    assert expected, f"accepted an invalid input: {x!r}"
    for value in out.values():
        assert np.isfinite(keras.ops.convert_to_numpy(value)).all()

"""Property-based input fuzzing of every backbone and a representative task per family (plus
multiple choice): any input structure (tensor, list, dict, keywords), dtype, shape or value
ends in a correct result (the same numbers as the dict-form call of the same inputs) or a
`ValueError`, never another exception type or a silently accepted bad input.

`_expect_valid` states the contract independently of the library: names, ranks, dtypes,
shapes, the families' tables and position rules. Fixed seed, bounded examples."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_models
from tests.families import FAMILIES
from tests.tiny_models import backbone as make_backbone
from tests.tiny_models import config, max_length
from tests.tiny_models import task as make_task

MASKS = ("attention_mask", "decoder_attention_mask")
MODELS = [f"{family}:backbone" for family in sorted(FAMILIES)]
MODELS += [f"{family}:task" for family in sorted(FAMILIES)]
MODELS += ["roberta:choice", "roc_bert:choice"]


@pytest.fixture(scope="module")
def models():
    built = {}
    for family in sorted(FAMILIES):
        backbone = make_backbone(family)
        built[f"{family}:backbone"] = backbone
        built[f"{family}:task"] = make_task(family, backbone)
    built["roberta:choice"] = keras_models.RobertaForMultipleChoice(built["roberta:backbone"])
    built["roc_bert:choice"] = keras_models.RoCBertForMultipleChoice(built["roc_bert:backbone"])
    return built


def tables(family):
    """Input name -> (lowest, one past the highest) accepted id, from the HF config."""
    cfg = config(family)
    vocab, positions = cfg["vocab_size"], cfg["max_position_embeddings"]
    limits = {"input_ids": (0, vocab), "decoder_input_ids": (0, vocab)}
    limits["token_type_ids"] = (0, cfg.get("type_vocab_size", 0))
    limits["position_ids"] = (-2 if family == "opt" else 0, positions)
    limits["input_shape_ids"] = (0, cfg.get("shape_vocab_size", 0))
    limits["input_pronunciation_ids"] = (0, cfg.get("pronunciation_vocab_size", 0))
    return limits


def needed_positions(family, x):
    """The largest position index a sequence needs when `position_ids` are not given."""
    ids = x["input_ids"]
    if family == "roberta":  # padding-aware, counting from pad + 1 (pad id 1)
        real = (ids != 1).astype("int64")
        return int((np.cumsum(real, -1) * real).max()) + 1
    if family == "opt":  # counts the attended tokens only
        mask = x.get("attention_mask", np.ones_like(ids)).astype("int64")
        return int((np.cumsum(mask, -1) * mask).max()) - 1
    return ids.shape[-1] - 1


def _expect_valid(family, kind, x, names):
    """Our statement of the contract for an input already matched to names (a dict)."""
    rank = 3 if kind == "choice" else 2
    if x is None or set(x) - set(names) or "input_ids" not in x:
        return False
    if family == "pegasus" and kind != "choice" and "decoder_input_ids" not in x:
        return False
    for name, value in x.items():
        if value.ndim != rank or 0 in value.shape:
            return False
        allowed = "biuf" if name in MASKS else "iu"
        if value.dtype.kind not in allowed:
            return False
    encoder = {v.shape for k, v in x.items() if not k.startswith("decoder_")}
    decoder = {v.shape for k, v in x.items() if k.startswith("decoder_")}
    if len(encoder) > 1 or len(decoder) > 1:
        return False
    if decoder and next(iter(decoder))[:-1] != x["input_ids"].shape[:-1]:
        return False
    for name, (low, high) in tables(family).items():
        if name in x and (x[name].min() < low or x[name].max() >= high):
            return False
    if family in ("pegasus", "roformer"):
        limit = config(family)["max_position_embeddings"]
        return all(x[n].shape[-1] <= limit for n in ("input_ids", "decoder_input_ids") if n in x)
    if "position_ids" not in x:
        return needed_positions(family, x) < config(family)["max_position_embeddings"]
    return True


@st.composite
def arrays(draw, family, name, shape, clean=False):
    low, high = (0, 2) if name in MASKS else tables(family).get(name, (0, 1))
    high = max(high, 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.integers(max(low, 0), high, size=shape)
    if values.size and not clean and draw(st.integers(0, 3)) == 0:  # one id off the table
        values.flat[draw(st.integers(0, values.size - 1))] = draw(st.sampled_from([low - 1, high]))
    dtypes = ["int32", "int64", "uint8"] + ([] if clean else ["float32", "bool"])
    if name in MASKS:
        dtypes += ["float32", "bool"]
    dtype = draw(st.sampled_from(dtypes))
    if dtype == "uint8" and values.size and values.min() < 0:
        dtype = "int64"  # a wrapped negative would be another (valid) number
    return values.astype(dtype)


@st.composite
def cases(draw, family, kind, names):
    """(structure, the same inputs as a name -> array dict or None when unmatchable).

    Half the cases are "clean" (right rank, no empty axis, integer ids inside the tables, no
    unknown name or shape mismatch: mostly valid), half anything goes."""
    clean = draw(st.booleans())
    rank = 3 if kind == "choice" else 2
    if not clean:
        rank = draw(st.sampled_from([rank, rank - 1, rank + 1]))
    # Few distinct shapes: each new one costs JAX op compilations in eager calls.
    lengths = [4, max_length(family), max_length(family) + 1] + ([] if clean else [0, 1])
    shape = tuple(
        [draw(st.sampled_from([2] if clean else [0, 1, 2]))]
        + [draw(st.sampled_from([1, 2]))] * (rank - 2)
        + [draw(st.sampled_from(lengths))]
    )[-rank:]
    decoder_shape = shape[:-1] + (draw(st.sampled_from([1, 3])),)
    pool = names if clean else [*names, "bogus"]
    chosen = draw(st.lists(st.sampled_from(pool), unique=True, max_size=5))
    if clean or draw(st.booleans()):
        chosen = ["input_ids"] + [n for n in chosen if n != "input_ids"]
    if family == "pegasus" and (clean or draw(st.booleans())):
        chosen = list(dict.fromkeys(["input_ids", "decoder_input_ids", *chosen]))
    values = {}
    for name in chosen:
        this = decoder_shape if name.startswith("decoder_") else shape
        if not clean and draw(st.integers(0, 3)) == 0:  # parts that disagree in shape
            this = this[:-1] + (this[-1] + 1,)
        values[name] = draw(arrays(family, name, this, clean))
    form = draw(st.sampled_from(["tensor", "list", "dict", "dict", "kwargs"]))
    if form == "tensor":
        ids = values.get("input_ids", draw(arrays(family, "input_ids", shape, clean)))
        return ids, {"input_ids": ids}
    if form == "list":
        count = draw(st.integers(1 if clean else 0, len(names) + (0 if clean else 1)))
        items = [
            values.get(
                n, draw(arrays(family, n, decoder_shape if "decoder" in n else shape, clean))
            )
            for n in names[:count]
        ]
        if count > len(names):
            items.append(items[0])
        matched = dict(zip(names, items)) if count <= len(names) else None
        return items, matched
    return (form, values), values


def _call(model, structure):
    if isinstance(structure, tuple) and structure[0] == "kwargs":
        return model(**structure[1])
    if isinstance(structure, tuple) and structure[0] == "dict":
        return model(structure[1])
    return model(structure)


def _np(outputs):
    return {k: np.asarray(keras.ops.convert_to_numpy(v), "float32") for k, v in outputs.items()}


@pytest.mark.parametrize("which", MODELS)
def test_any_input_gives_the_dict_result_or_a_value_error(models, which):
    family, kind = which.split(":")
    model = models[which]
    names = list(model.input_names)

    @settings(
        max_examples=7,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases(family, kind, names))
    def check(case):
        structure, matched = case
        expected = _expect_valid(family, kind, matched, names)
        try:
            out = _np(_call(model, structure))
        except ValueError:
            assert not expected, f"{which} refused a valid input: {matched!r}"
            return
        assert expected, f"{which} accepted an invalid input: {structure!r}"
        reference = _np(model({k: v.astype("int32") for k, v in matched.items()}))
        assert out.keys() == reference.keys()
        for name, value in out.items():
            assert np.isfinite(value).all(), f"{which}: {name} is not finite"
            np.testing.assert_allclose(value, reference[name], atol=1e-6)

    check()

"""Every family refuses ids outside its tables and sequences longer than its positions allow,
with a ValueError on every backend, in direct calls and in `fit`; rows whose attention mask
is all zeros stay finite; generation past the position table is refused before it runs."""

import keras
import numpy as np
import pytest

import keras_models
from tests.families import FAMILIES
from tests.tiny_models import TYPE_VOCAB, config, inputs, labels, max_length
from tests.tiny_models import backbone as make_backbone
from tests.tiny_models import task as make_task


@pytest.fixture(scope="module")
def models():
    built = {}
    for family in FAMILIES:
        backbone = make_backbone(family)
        task = make_task(family, backbone)
        task.compile(optimizer="sgd")
        built[family] = (backbone, task)
    return built


def bad_inputs(family):
    """(input dict, pattern the error must match) for each way to leave the tables."""
    cfg = config(family)
    vocab = cfg["vocab_size"]
    ok = np.full((2, 4), 3, "int32")
    too_long = np.full((1, max_length(family) + 1), 3, "int32")
    cases = [
        (inputs(family, [[3, vocab], [3, 4]]), rf"`input_ids` holds {vocab}.*\[0, {vocab}\)"),
        (inputs(family, [[3, -1], [3, 4]]), r"`input_ids` holds -1"),
        (inputs(family, too_long), rf"too long.*{max_length(family) + 1}"),
    ]
    if family != "pegasus" and family != "opt":
        cases.append(
            (
                inputs(family, ok, token_type_ids=np.full((2, 4), TYPE_VOCAB)),
                rf"`token_type_ids` holds {TYPE_VOCAB}.*\[0, {TYPE_VOCAB}\)",
            )
        )
    if family in ("roberta", "megatron_bert", "roc_bert", "opt"):
        positions = np.full((2, 4), cfg["max_position_embeddings"], "int32")
        cases.append((inputs(family, ok, position_ids=positions), r"`position_ids` holds"))
    if family == "roc_bert":
        shapes = np.full((2, 4), cfg["shape_vocab_size"], "int32")
        sounds = np.full((2, 4), cfg["pronunciation_vocab_size"], "int32")
        cases.append((inputs(family, ok, input_shape_ids=shapes), r"`input_shape_ids` holds 23"))
        cases.append(
            (
                inputs(family, ok, input_pronunciation_ids=sounds),
                r"`input_pronunciation_ids` holds 17",
            )
        )
    if family == "pegasus":
        long_decoder = np.full((1, max_length(family) + 1), 3, "int32")
        cases.append(
            (
                inputs(family, [[3, 4]], decoder_input_ids=long_decoder),
                r"`decoder_input_ids` is too",
            )
        )
        cases.append(
            (inputs(family, ok, decoder_input_ids=[[3, vocab]] * 2), r"`decoder_input_ids` holds")
        )
    return cases


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_out_of_range_ids_and_long_sequences_raise(models, family):
    backbone, task = models[family]
    for x, pattern in bad_inputs(family):
        for model in (backbone, task):
            with pytest.raises(ValueError, match=pattern):
                model(x)
            with pytest.raises(ValueError, match=pattern):
                model(**x)
        with pytest.raises(ValueError, match=pattern):
            task.fit(x, labels(family, x), epochs=1, verbose=0)
        with pytest.raises(ValueError, match=pattern):
            task.predict(x, verbose=0)
    # The longest accepted sequence runs and gives finite numbers.
    longest = inputs(family, np.full((1, max_length(family)), 3, "int32"))
    for value in backbone(longest).values():
        assert np.isfinite(keras.ops.convert_to_numpy(value)).all()


def test_seq2seq_labels_too_long_for_the_decoder_raise_in_fit(models):
    _, task = models["pegasus"]
    too_long = np.full((1, max_length("pegasus") + 1), 3, "int32")
    with pytest.raises(ValueError, match="`decoder_input_ids` is too long"):
        task.fit({"input_ids": np.full((1, 4), 3, "int32")}, too_long, epochs=1, verbose=0)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_all_zero_attention_mask_rows_stay_finite(models, family):
    backbone, task = models[family]
    ids = np.array([[3, 4, 5, 6], [7, 8, 9, 2]], "int32")
    zero_row = np.array([[0, 0, 0, 0], [1, 1, 1, 0]], "int32")
    extra = {"attention_mask": zero_row}
    if family == "pegasus":
        extra["decoder_attention_mask"] = zero_row
        extra["decoder_input_ids"] = ids
    for model in (backbone, task):
        outputs = model(inputs(family, ids, **extra))
        for name, value in outputs.items():
            value = keras.ops.convert_to_numpy(value)
            assert np.isfinite(value).all(), f"{family} {name} is not finite"


def test_generation_past_the_position_table_raises_before_running(models):
    opt = keras_models.OPTForCausalLM(models["opt"][0])
    limit = config("opt")["max_position_embeddings"]
    prompt = np.full((1, 5), 3, "int32")
    with pytest.raises(ValueError, match=rf"needs {limit + 1} positions.*at most {limit - 5}"):
        opt.generate(prompt, max_new_tokens=limit - 4)
    # Left padding takes no positions in OPT: a padded prompt with 5 real tokens fits too.
    padded = {
        "input_ids": np.full((1, 8), 3, "int32"),
        "attention_mask": np.array([[0, 0, 0, 1, 1, 1, 1, 1]], "int32"),
    }
    ids, mask = opt.generation_inputs(padded)[:2]
    opt.check_generation_length(ids, mask, limit - 5)  # no error
    with pytest.raises(ValueError, match=rf"needs {limit + 1} positions"):
        opt.check_generation_length(ids, mask, limit - 4)

    _, pegasus = models["pegasus"]
    limit = config("pegasus")["max_position_embeddings"]
    with pytest.raises(ValueError, match=rf"needs {limit + 1} positions"):
        pegasus.generate(prompt, max_new_tokens=limit)
    with pytest.raises(ValueError, match="`input_ids` is too long"):
        pegasus.generate(np.full((1, limit + 1), 3, "int32"), max_new_tokens=2)


@pytest.mark.parametrize("family", ["roberta", "opt"])
def test_generator_batches_are_checked_in_fit(models, family):
    _, task = models[family]
    vocab = config(family)["vocab_size"]
    good = inputs(family, np.full((2, 4), 3, "int32"))
    bad = inputs(family, np.array([[3, vocab, 3, 3], [3, 3, 3, 3]], "int32"))

    def batches():  # the bad batch first: refused before any step is compiled
        yield bad, labels(family, bad)
        yield good, labels(family, good)

    with pytest.raises(ValueError, match=rf"`input_ids` holds {vocab}"):
        task.fit(batches(), epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)

"""Data pipelines in `fit` / `evaluate` / `predict`: `tf.data.Dataset`, `keras.utils.PyDataset`,
torch `DataLoader` and grain datasets (all accepted by Keras on every backend) train exactly as
in-memory arrays do, in every batch form, and each batch is checked on the host as it is
drawn: a bad third batch is refused with a `ValueError` naming it, before its step runs."""

import grain
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import keras_models
from tests.tiny_models import config

BATCH = 4
ROWS = 12  # three batches
VOCAB = config("roberta")["vocab_size"]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, VOCAB, (ROWS, 6)).astype("int32")
    mask = np.ones_like(ids)
    mask[::3, -2:] = 0
    labels = rng.integers(0, 3, ROWS).astype("int32")
    return ids, mask, labels


#: Batch forms: `(ids, mask, labels)` -> what a pipeline yields (and arrays `fit` takes).
FORMS = {
    "dict_x_and_y": lambda i, m, y: ({"input_ids": i, "attention_mask": m}, y),
    "tuple_x_and_y": lambda i, m, y: ((i, m), y),
    "labels_inside_x": lambda i, m, y: {"input_ids": i, "attention_mask": m, "labels": y},
}


class Batches(keras.utils.PyDataset):
    """A PyDataset over `(ids, mask, labels)` rows in a given batch form."""

    def __init__(self, form, arrays, **kwargs):
        super().__init__(**kwargs)
        self.form, self.arrays = form, arrays

    def __len__(self):
        return -(-len(self.arrays[0]) // BATCH)

    def __getitem__(self, index):
        rows = slice(index * BATCH, (index + 1) * BATCH)
        return self.form(*(a[rows] for a in self.arrays))


def pipeline(kind, form, arrays, **kwargs):
    """`arrays` batched by `BATCH`, in order, as a pipeline of `kind` yielding `form`."""
    if kind == "tf_data":
        return tf.data.Dataset.from_tensor_slices(form(*arrays)).batch(BATCH)
    if kind == "py_dataset":
        return Batches(form, arrays, **kwargs)
    rows = [form(*(a[j] for a in arrays)) for j in range(len(arrays[0]))]
    if kind == "grain":
        return grain.MapDataset.source(rows).batch(BATCH)
    return torch.utils.data.DataLoader(rows, batch_size=BATCH, shuffle=False)


KINDS = ("tf_data", "py_dataset", "torch_loader", "grain")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    backbone = keras_models.RobertaBackbone(
        **config("roberta"), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    model = keras_models.RobertaForSequenceClassification(backbone, num_labels=3)
    return compiled(model)


def compiled(model):
    # Compiled once: each test restarts from the same weights but reuses the compiled steps.
    model.compile(optimizer=keras.optimizers.SGD(0.5))  # no optimizer state besides the count
    model.initial_weights = model.get_weights()
    return model


def reset(model):
    model.set_weights(model.initial_weights)
    model.optimizer.iterations.assign(0)
    return model


def fit_weights(model, x, y=None, **kwargs):
    reset(model).fit(x, y, epochs=1, shuffle=False, verbose=0, **kwargs)
    return model.get_weights()


def assert_same_weights(ours, expected, atol=1e-6):
    for a, b in zip(ours, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=atol)


def array_fit(model, form, arrays):
    """The weights after one epoch on in-memory arrays, batch by batch in order."""
    key = (id(model), form, len(arrays[0]))
    if key not in _ARRAY_FITS:
        _ARRAY_FITS[key] = _array_fit(model, form, arrays)
    return _ARRAY_FITS[key]


_ARRAY_FITS = {}


def _array_fit(model, form, arrays):
    data = form(*arrays)
    x, y = data if isinstance(data, tuple) else (data, None)
    return fit_weights(model, x, y, batch_size=BATCH)


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("kind", KINDS)
def test_fit_on_a_pipeline_equals_fit_on_arrays(model, kind, form):
    arrays = _data()
    expected = array_fit(model, FORMS[form], arrays)
    assert not np.allclose(expected[0], model.initial_weights[0])  # the epoch trained
    assert_same_weights(fit_weights(model, pipeline(kind, FORMS[form], arrays)), expected)


def _bad_third_batch():
    ids, mask, labels = _data()
    ids = ids.copy()
    ids[2 * BATCH + 1, 3] = VOCAB  # one past the table, in the third batch
    return ids, mask, labels


def _weights_after_good_batches(model, form):
    """What the batches before the bad one leave: both of them, except on a JAX accelerator,
    where Keras draws one batch ahead (the bad batch is found before the second step)."""
    good = 2
    if keras.backend.backend() == "jax":
        import jax

        good = 1 if jax.default_backend() != "cpu" else 2
    return array_fit(model, form, tuple(a[: good * BATCH] for a in _data()))


BAD = r"Batch 3 \(counting from 1\) of the `{}` data: `input_ids` holds {}, outside"


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_third_batch_fails_fit_before_its_step(model, kind):
    form = FORMS["dict_x_and_y"]
    expected = _weights_after_good_batches(model, form)
    reset(model)
    with pytest.raises(ValueError, match=BAD.format("fit", VOCAB)) as caught:
        model.fit(pipeline(kind, form, _bad_third_batch()), epochs=1, shuffle=False, verbose=0)
    assert type(caught.value) is ValueError  # ours, not a tf.data or torch wrapper
    assert_same_weights(model.get_weights(), expected)
    # The model still trains afterwards (JAX: its variables were put back).
    model.fit(pipeline(kind, form, _data()), epochs=1, verbose=0)
    assert np.isfinite(model.get_weights()[0]).all()


def test_a_bad_first_batch_changes_no_weight(model):
    # Found before any step ran (on JAX: after Keras detached the variables for the loop).
    ids, mask, labels = _data()
    ids = ids.copy()
    ids[0, 0] = VOCAB
    reset(model).fit(pipeline("tf_data", FORMS["dict_x_and_y"], _data()), verbose=0)
    before = model.get_weights()
    bad = pipeline("tf_data", FORMS["dict_x_and_y"], (ids, mask, labels))
    with pytest.raises(ValueError, match=r"Batch 1 \(counting from 1\) of the `fit` data"):
        model.fit(bad, verbose=0)
    assert_same_weights(model.get_weights(), before, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_and_predict_check_each_batch(model, kind):
    reset(model)
    bad = _bad_third_batch()
    with pytest.raises(ValueError, match=BAD.format("evaluate", VOCAB)):
        model.evaluate(pipeline(kind, FORMS["labels_inside_x"], bad), verbose=0)
    inputs_only = lambda i, m, y: {"input_ids": i, "attention_mask": m}  # noqa: E731
    with pytest.raises(ValueError, match=BAD.format("predict", VOCAB)):
        model.predict(pipeline(kind, inputs_only, bad), verbose=0)
    assert_same_weights(model.get_weights(), model.initial_weights, atol=0)
    # Good pipelines give what arrays give.
    ids, mask, labels = _data()
    logits = model.predict(pipeline(kind, inputs_only, _data()), verbose=0)["logits"]
    arrays = {"input_ids": ids, "attention_mask": mask}
    np.testing.assert_allclose(logits, model.predict(arrays, verbose=0)["logits"], atol=1e-6)
    loss = model.evaluate(pipeline(kind, FORMS["dict_x_and_y"], _data()), verbose=0)
    np.testing.assert_allclose(loss, model.evaluate(arrays, labels, verbose=0), rtol=1e-6)


def test_validation_pipelines_are_checked(model):
    reset(model)
    form = FORMS["dict_x_and_y"]
    bad = pipeline("tf_data", form, _bad_third_batch())
    message = r"Batch 3 \(counting from 1\) of the validation data: `input_ids` holds"
    with pytest.raises(ValueError, match=message):
        model.fit(pipeline("tf_data", form, _data()), validation_data=bad, verbose=0)


def test_batches_are_counted_per_epoch_with_pydataset_workers(model):
    # Workers draw batches in threads, ahead of the loop; positions count the loop's order.
    form = FORMS["dict_x_and_y"]
    data = Batches(form, _bad_third_batch(), workers=2, max_queue_size=4)
    reset(model)
    with pytest.raises(ValueError, match=BAD.format("fit", VOCAB)):
        model.fit(data, epochs=1, shuffle=False, verbose=0)
    # Shuffled by `fit`, the bad batch is found where it was drawn, and the message says so.
    with pytest.raises(ValueError, match=r"Batch \d \(counting from 1, in shuffled order\)"):
        model.fit(data, epochs=1, shuffle=True, verbose=0)
    # With the workers' queue shorter than an epoch, batches still arrive in order.
    queued = Batches(form, _data(), workers=2, max_queue_size=1)
    assert_same_weights(fit_weights(model, queued), array_fit(model, form, _data()))
    # A good pipeline is drawn again in each epoch, from its first batch.
    drawn = []

    class Counting(Batches):
        def __getitem__(self, index):
            drawn.append(index)
            return super().__getitem__(index)

    history = reset(model).fit(
        Counting(form, _data(), workers=2), epochs=2, shuffle=False, verbose=0
    )
    assert len(history.history["loss"]) == 2
    assert sorted(drawn).count(0) >= 2 and sorted(set(drawn)) == [0, 1, 2]


def test_wrong_labels_and_lengths_in_a_batch_name_the_batch(model):
    reset(model)
    ids, mask, labels = _data()
    long_ids = np.full((BATCH, config("roberta")["max_position_embeddings"]), 3, "int32")

    def batches():
        yield {"input_ids": ids[:BATCH]}, labels[:BATCH]
        yield {"input_ids": long_ids}, labels[:BATCH]

    with pytest.raises(ValueError, match=r"Batch 2 \(counting from 1\).*too long"):
        model.fit(batches(), epochs=1, verbose=0)
    unlabelled = tf.data.Dataset.from_tensor_slices({"input_ids": ids}).batch(BATCH)
    with pytest.raises(ValueError, match=r"Batch 1 \(counting from 1\).*No labels"):
        model.fit(unlabelled, epochs=1, verbose=0)


# --- raw text ---------------------------------------------------------------------------------
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cup", "is", "red", "sky", "blue"]
TEXTS = ["the cup is red", "the sky is blue", "red cup", "blue sky is the sky"] * 2
TEXT_LABELS = np.array([0, 1, 0, 1, 2, 2, 1, 0], "int32")


@pytest.fixture(scope="module")
def text_model():
    keras.utils.set_random_seed(1)
    backbone = keras_models.RobertaBackbone(
        **{**config("roberta"), "pad_token_id": 0},
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = keras_models.RobertaForSequenceClassification(backbone, num_labels=3)
    tokenizer = keras_models.MegatronBertTokenizer({w: i for i, w in enumerate(WORDS)})
    model.preprocessor = keras_models.SequenceClassificationPreprocessor(tokenizer, max_length=8)
    return compiled(model)


def test_a_grain_dataset_of_raw_text_is_refused_with_the_reason(text_model):
    data = pipeline("grain", lambda t, y: (t, y), (np.array(TEXTS), TEXT_LABELS))
    with pytest.raises(ValueError, match=r"The `fit` data is a grain dataset of raw text"):
        text_model.fit(data, epochs=1, verbose=0)


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "grain"])
def test_pipelines_of_raw_text_go_through_the_preprocessor(text_model, kind):
    texts = np.array(TEXTS)
    with_y = lambda t, y: (t, y)  # noqa: E731
    inside = lambda t, y: {"text": t, "label": y}  # noqa: E731
    expected = []
    for start in range(0, len(TEXTS), BATCH):  # each batch padded to its own longest text
        rows = slice(start, start + BATCH)
        expected.append(text_model.preprocessor.prepare(TEXTS[rows], TEXT_LABELS[rows]))
    reference = fit_weights(text_model, (b for b in expected), steps_per_epoch=2)
    for form in (with_y, inside):
        data = pipeline(kind, form, (texts, TEXT_LABELS))
        assert_same_weights(fit_weights(text_model, data), reference)
    text_only = lambda t, y: {"text": t}  # noqa: E731
    logits = text_model.predict(pipeline(kind, text_only, (texts, TEXT_LABELS)), verbose=0)
    direct = text_model.predict(TEXTS, verbose=0)["logits"]
    np.testing.assert_allclose(logits["logits"], direct, atol=1e-5)


def test_raw_text_pipeline_without_a_preprocessor_is_refused(model):
    reset(model)
    data = tf.data.Dataset.from_tensor_slices((TEXTS, TEXT_LABELS)).batch(BATCH)
    with pytest.raises(ValueError, match=r"Batch 1 \(counting from 1\).*has no preprocessor"):
        model.fit(data, epochs=1, verbose=0)


def test_seq2seq_pipeline_batches_get_decoder_inputs_from_their_labels():
    # Keras passes no `y` to the model: the host builds each batch's decoder inputs, as it does
    # for arrays.
    keras.utils.set_random_seed(2)
    backbone = keras_models.PegasusBackbone(**config("pegasus"), dropout=0.0)
    model = compiled(keras_models.PegasusForConditionalGeneration(backbone))
    rng = np.random.default_rng(3)
    ids = rng.integers(3, VOCAB, (8, 5)).astype("int32")
    labels = rng.integers(3, VOCAB, (8, 4)).astype("int32")
    labels[:, -1] = -100  # ignored by the loss, padded in the decoder inputs
    expected = fit_weights(model, {"input_ids": ids}, labels, batch_size=BATCH)
    data = tf.data.Dataset.from_tensor_slices(({"input_ids": ids}, labels)).batch(BATCH)
    assert_same_weights(fit_weights(model, data), expected)

"""Preprocessors: raw text in, model inputs and labels out, answers and strings back.

A tiny byte-level BPE tokenizer is trained here on the templated texts and saved in the Hugging
Face layout; transformers' `AutoTokenizer` loads the same files and is the reference for the
windows, offsets and word ids. Expected spans are computed in the tests with plain loops that
follow transformers' `run_qa.py` example.
"""

import os

import keras
import numpy as np
import pytest
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import models, pre_tokenizers, processors, trainers

import keras_models
from keras_models import (
    QuestionAnsweringPreprocessor,
    RobertaBackbone,
    RobertaForQuestionAnswering,
    RobertaTokenizer,
)

OBJECTS = ["apple", "car", "house", "sky", "ball", "door", "shirt", "flower", "boat", "cup"]
COLORS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange"]
FILLERS = [
    "",
    "It was a long day in the small town.",
    "Nobody knew why the weather changed so fast.",
    "We walked along the river and talked about the past.",
]
LONG = (
    "The history of the town goes back many centuries. Farmers grew wheat near the river, "
    "and traders came from far away to sell cloth and salt. Over time the town grew into a "
    "city with markets, bridges and a large library. "
)


def qa_records(count, seed=0):
    rng = np.random.default_rng(seed)
    records = {"question": [], "context": [], "answer_text": [], "answer_start": []}
    for i in range(count):
        obj = OBJECTS[i % len(OBJECTS)]
        color = COLORS[int(rng.integers(len(COLORS)))]
        filler = FILLERS[int(rng.integers(len(FILLERS)))]
        prefix = (filler + " " if filler else "") + f"The {obj} is "
        context = prefix + f"{color}. That is all."
        records["question"].append(f"What color is the {obj}?")
        records["context"].append(context)
        records["answer_text"].append(color)
        records["answer_start"].append(len(prefix))
    return records


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("prep_tokenizer"))
    train = list(qa_records(40)["context"]) + list(qa_records(40)["question"]) + [LONG] * 3
    backend = RustTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(train, trainer)
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    backend.save(os.path.join(directory, "tokenizer.json"))
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        f.write('{"tokenizer_class": "RobertaTokenizer"}')
    return directory


@pytest.fixture(scope="module")
def tokenizer(tok_dir):
    return RobertaTokenizer.from_preset(tok_dir)


@pytest.fixture(scope="module")
def hf_tokenizer(tok_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tok_dir)


def tiny_backbone(tokenizer, max_length=64, **kwargs):
    return RobertaBackbone(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length + 2,
        pad_token_id=tokenizer.pad_token_id,
        **kwargs,
    )


def long_examples():
    questions = ["What did farmers grow?", "Who came from far away?", "What color is the cup?"]
    contexts = [LONG * 3, "Intro. " + LONG * 2 + "Traders sold salt.", "The cup is red."]
    return questions, contexts


# --- question answering: features ---------------------------------------------------------
def test_qa_windows_match_transformers(tokenizer, hf_tokenizer):
    questions, contexts = long_examples()
    pre = QuestionAnsweringPreprocessor(tokenizer, max_length=40, doc_stride=10)
    ours = pre.features(questions, contexts)
    theirs = hf_tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=40,
        stride=10,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    assert len(theirs["input_ids"]) > 6  # several windows per long context
    for key in ("input_ids", "attention_mask", "offset_mapping", "overflow_to_sample_mapping"):
        np.testing.assert_array_equal(ours[key], np.asarray(theirs[key]), err_msg=key)
    expected = [
        [-1 if s is None else s for s in theirs.sequence_ids(i)]
        for i in range(len(theirs["input_ids"]))
    ]
    np.testing.assert_array_equal(ours["sequence_ids"], expected)


def run_qa_labels(hf_encoded, contexts, starts, texts, cls_id):
    """Span labels by the loop of transformers' run_qa.py (prepare_train_features)."""
    out_start, out_end = [], []
    for i, offsets in enumerate(hf_encoded["offset_mapping"]):
        ids = hf_encoded["input_ids"][i]
        cls_index = ids.index(cls_id)
        seq = hf_encoded.sequence_ids(i)
        sample = hf_encoded["overflow_to_sample_mapping"][i]
        start_char = starts[sample]
        end_char = start_char + len(texts[sample])
        ts = 0
        while seq[ts] != 1:
            ts += 1
        te = len(ids) - 1
        while seq[te] != 1:
            te -= 1
        if not (offsets[ts][0] <= start_char and offsets[te][1] >= end_char):
            out_start.append(cls_index)
            out_end.append(cls_index)
            continue
        while ts < len(offsets) and offsets[ts][0] <= start_char:
            ts += 1
        out_start.append(ts - 1)
        while offsets[te][1] >= end_char:
            te -= 1
        out_end.append(te + 1)
    return out_start, out_end


def test_qa_labels_land_on_the_answer(tokenizer, hf_tokenizer):
    # Answers in the first, middle and last windows, and ones that cross a window edge.
    context = LONG * 3
    words = [(w, i) for i, w in _words(context)]
    picks = [words[3], words[40], words[75], words[-2], words[52], words[58], words[61]]
    questions = [f"Where is {w}?" for w, _ in picks]
    contexts = [context] * len(picks)
    texts = [w for w, _ in picks]
    starts = [i for _, i in picks]
    # A two-word answer, so that some windows hold only half of it.
    texts.append("traders came from far")
    starts.append(context.index("traders came from far", 300))
    questions.append("Which part?")
    contexts.append(context)
    pre = QuestionAnsweringPreprocessor(tokenizer, max_length=32, doc_stride=8)
    features, y = pre.prepare(
        {"question": questions, "context": contexts, "answer_text": texts, "answer_start": starts}
    )
    assert y is None
    encoded = pre.features(questions, contexts)
    mapping = encoded["overflow_to_sample_mapping"]
    found = set()
    for row in range(len(mapping)):
        s, e = features["start_positions"][row], features["end_positions"][row]
        if s == 0:
            assert e == 0
            continue
        text = tokenizer.decode(features["input_ids"][row][s : e + 1]).strip()
        assert text == texts[mapping[row]]
        found.add(int(mapping[row]))
    assert found == set(range(len(texts)))
    # The long answer is cut by some windows: those are labelled 0, as in run_qa.
    rows = np.flatnonzero(mapping == len(texts) - 1)
    assert (features["start_positions"][rows] == 0).any()
    hf = hf_tokenizer(
        [q.lstrip() for q in questions],
        contexts,
        truncation="only_second",
        max_length=32,
        stride=8,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    expected = run_qa_labels(hf, contexts, starts, texts, tokenizer.cls_token_id)
    np.testing.assert_array_equal(features["start_positions"], expected[0])
    np.testing.assert_array_equal(features["end_positions"], expected[1])


def _words(text):
    index = 0
    for word in text.split(" "):
        if word.strip(".,") == word and word:
            yield index, word
        index += len(word) + 1


def run_qa_postprocess(hf_encoded, contexts, start_logits, end_logits, n_best_size, max_len):
    """transformers' run_qa.py postprocess_qa_predictions (SQuAD v1), plain loops."""
    prelim = {i: [] for i in range(len(contexts))}
    for row in range(len(hf_encoded["input_ids"])):
        sample = hf_encoded["overflow_to_sample_mapping"][row]
        seq = hf_encoded.sequence_ids(row)
        offsets = [
            o if seq[k] == 1 else None for k, o in enumerate(hf_encoded["offset_mapping"][row])
        ]
        starts = np.argsort(start_logits[row])[-1 : -n_best_size - 1 : -1].tolist()
        ends = np.argsort(end_logits[row])[-1 : -n_best_size - 1 : -1].tolist()
        for s in starts:
            for e in ends:
                if offsets[s] is None or offsets[e] is None:
                    continue
                if e < s or e - s + 1 > max_len:
                    continue
                prelim[sample].append(
                    (offsets[s][0], offsets[e][1], start_logits[row][s] + end_logits[row][e])
                )
    out = []
    for i, context in enumerate(contexts):
        preds = sorted(prelim[i], key=lambda p: p[2], reverse=True)[:n_best_size]
        scores = np.array([p[2] for p in preds])
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        out.append([(context[a:b], a, b, p) for (a, b, _), p in zip(preds, probs)])
    return out


def test_qa_postprocessing_matches_run_qa(tokenizer, hf_tokenizer):
    questions, contexts = long_examples()
    pre = QuestionAnsweringPreprocessor(tokenizer, max_length=40, doc_stride=10)
    encoded = pre.features(questions, contexts)
    hf = hf_tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=40,
        stride=10,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    rng = np.random.default_rng(1)
    for max_len in (30, 3):
        start = rng.normal(size=encoded["input_ids"].shape).astype("float32")
        end = rng.normal(size=encoded["input_ids"].shape).astype("float32")
        ours = pre.postprocess(encoded, contexts, start, end, n_best=5, max_answer_length=max_len)
        expected = run_qa_postprocess(hf, contexts, start, end, 20, max_len)
        for got, want, context in zip(ours, expected, contexts):
            assert len(got) == min(5, len(want)) and len(want) >= 4
            for g, (text, a, b, p) in zip(got, want):
                assert (g["answer"], g["start"], g["end"]) == (text, a, b)
                assert g["answer"] == context[g["start"] : g["end"]]
                assert 0 <= g["start"] <= g["end"] <= len(context)
                np.testing.assert_allclose(g["score"], p, rtol=1e-5)


# --- question answering: the model ------------------------------------------------------------
@pytest.fixture(scope="module")
def qa_model(tokenizer):
    keras.utils.set_random_seed(0) if keras.backend.backend() != "jax" else None
    model = RobertaForQuestionAnswering(tiny_backbone(tokenizer, add_pooling_layer=False))
    model.preprocessor = QuestionAnsweringPreprocessor(tokenizer, max_length=48, doc_stride=16)
    return model


def exact_match(model, records):
    answers = model.answer(records["question"], records["context"])
    return np.mean([a["answer"] == t for a, t in zip(answers, records["answer_text"])])


def test_qa_answer_api(qa_model, tokenizer):
    questions, contexts = long_examples()
    one = qa_model.answer(questions[0], contexts[0])
    assert set(one) == {"answer", "score", "start", "end"}
    assert one["answer"] == contexts[0][one["start"] : one["end"]] and one["answer"]
    assert one["start"] <= one["end"] and 0.0 < one["score"] <= 1.0
    many = qa_model.answer(questions, contexts, n_best=3, max_answer_length=4)
    assert len(many) == 3 and all(len(c) == 3 for c in many[:2])
    for candidates, context in zip(many, contexts):
        assert [c["score"] for c in candidates] == sorted(
            (c["score"] for c in candidates), reverse=True
        )
        for c in candidates:
            assert c["answer"] == context[c["start"] : c["end"]]
    single_list = qa_model.answer([questions[2]], [contexts[2]])
    assert isinstance(single_list, list) and single_list[0]["answer"] in contexts[2]


def test_qa_fit_on_raw_records_raises_exact_match(qa_model):
    records = qa_records(48)
    before = exact_match(qa_model, records)
    qa_model.compile(optimizer=keras.optimizers.Adam(3e-3))
    qa_model.fit(records, epochs=12, batch_size=8, verbose=0)
    after = exact_match(qa_model, records)
    assert after >= 0.8 and after > before + 0.5, (before, after)
    loss = qa_model.evaluate(records, verbose=0)
    assert np.isfinite(loss)


def test_qa_errors(qa_model, tokenizer):
    pre = qa_model.preprocessor
    records = qa_records(3)
    with pytest.raises(ValueError, match="context"):
        pre.prepare({"question": records["question"]})
    with pytest.raises(ValueError, match="same length"):
        pre.features(records["question"], records["context"][:2])
    bad = dict(records, answer_start=[0, 0, 0])
    with pytest.raises(ValueError, match="does not point at"):
        pre.prepare(bad)
    with pytest.raises(ValueError, match="answer_start"):
        pre.prepare({k: v for k, v in records.items() if k != "answer_start"})
    with pytest.raises(ValueError, match="Unknown key"):
        pre.prepare(dict(records, answers=["x"] * 3))
    bare = RobertaForQuestionAnswering(qa_model.backbone)
    with pytest.raises(ValueError, match="no preprocessor"):
        bare.answer("Who?", "Nobody.")
    with pytest.raises(ValueError, match="no preprocessor"):
        bare.fit(records, epochs=1)
    with pytest.raises(ValueError, match="doc_stride"):
        QuestionAnsweringPreprocessor(tokenizer, max_length=16, doc_stride=16)
    with pytest.raises(ValueError, match="n_best"):
        qa_model.answer("Who?", "Nobody.", n_best=0)
    assert keras_models.QuestionAnsweringPreprocessor is QuestionAnsweringPreprocessor


def test_qa_preset_round_trip_attaches_tokenizer(qa_model, tok_dir, tmp_path):
    from transformers import RobertaConfig
    from transformers import RobertaForQuestionAnswering as HFQA

    # A Hugging Face checkpoint directory with the tokenizer files beside the weights.
    hf_dir = str(tmp_path / "hf")
    tok = qa_model.tokenizer
    config = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=66,
    )
    HFQA(config).save_pretrained(hf_dir)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tok_dir).save_pretrained(hf_dir)
    loaded = RobertaForQuestionAnswering.from_preset(hf_dir)
    assert isinstance(loaded.tokenizer, RobertaTokenizer)
    assert isinstance(loaded.preprocessor, QuestionAnsweringPreprocessor)
    np.testing.assert_array_equal(
        loaded.tokenizer("The cup is red.")["input_ids"], tok("The cup is red.")["input_ids"]
    )
    # Keras preset: weights, tokenizer files and preprocessor settings round-trip.
    keras_dir = str(tmp_path / "keras")
    qa_model.save_to_preset(keras_dir)
    assert os.path.exists(os.path.join(keras_dir, "tokenizer.json"))
    again = RobertaForQuestionAnswering.from_preset(keras_dir)
    assert again.preprocessor.max_length == 48 and again.preprocessor.doc_stride == 16
    questions, contexts = long_examples()
    assert again.answer(questions, contexts) == qa_model.answer(questions, contexts)
    backbone = RobertaBackbone.from_preset(keras_dir)
    assert isinstance(backbone.tokenizer, RobertaTokenizer)
    # A tokenizer built in memory is saved from its pipeline.
    bare = RobertaTokenizer(*_vocab_merges(tok), pad_token="<pad>")
    qa_model.tokenizer = bare
    try:
        qa_model.save_to_preset(str(tmp_path / "mem"))
    finally:
        qa_model.tokenizer = None
    again = RobertaForQuestionAnswering.from_preset(str(tmp_path / "mem"))
    np.testing.assert_array_equal(
        again.tokenizer(["a red cup", "sky"], padding=True)["input_ids"],
        bare(["a red cup", "sky"], padding=True)["input_ids"],
    )


def _vocab_merges(tokenizer):
    import json

    data = json.loads(tokenizer.backend.to_str())["model"]
    return data["vocab"], [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["merges"]
    ]

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
        num_hidden_layers=1,
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
    model = RobertaForQuestionAnswering(tiny_backbone(tokenizer, add_pooling_layer=False))
    _init(model, 0)
    model.preprocessor = QuestionAnsweringPreprocessor(tokenizer, max_length=32, doc_stride=8)
    return model


def _init(model, seed, std=0.05):
    # The same starting weights on every backend (the Keras initialisers draw differently).
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if len(variable.shape) >= 2:
            variable.assign(rng.normal(0.0, std, variable.shape).astype("float32"))


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
    records = qa_records(32)
    before = exact_match(qa_model, records)
    qa_model.compile(optimizer=keras.optimizers.Adam(5e-3))
    qa_model.fit(records, epochs=3, batch_size=8, verbose=0)
    after = exact_match(qa_model, records)
    assert after >= 0.75 and after > before + 0.5, (before, after)


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
    # No model_max_length in the tokenizer config: the position table (66) bounds the windows.
    assert (loaded.preprocessor.max_length, loaded.preprocessor.doc_stride) == (64, 16)
    np.testing.assert_array_equal(
        loaded.tokenizer("The cup is red.")["input_ids"], tok("The cup is red.")["input_ids"]
    )
    # Keras preset: weights, tokenizer files and preprocessor settings round-trip.
    keras_dir = str(tmp_path / "keras")
    qa_model.save_to_preset(keras_dir)
    assert os.path.exists(os.path.join(keras_dir, "tokenizer.json"))
    again = RobertaForQuestionAnswering.from_preset(keras_dir)
    assert again.preprocessor.max_length == 32 and again.preprocessor.doc_stride == 8
    questions, contexts = long_examples()
    ours, theirs = (
        again.preprocessor.features(questions, contexts),
        qa_model.preprocessor.features(questions, contexts),
    )
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(again.weights[0]),
        keras.ops.convert_to_numpy(qa_model.weights[0]),
    )
    backbone = RobertaBackbone.from_preset(keras_dir)
    assert isinstance(backbone.tokenizer, RobertaTokenizer)
    hidden = backbone.predict(["The cup is red.", "Hi"], verbose=0)["last_hidden_state"]
    assert hidden.shape == (2, len(tok("The cup is red.")["input_ids"][0]), 32)
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


# --- classification, token classification, multiple choice ------------------------------------
SENTENCES = ["The cup is red.", "It was a long day in the small town.", "The sky is blue."]


def test_sequence_classification_raw_text(tokenizer):
    from keras_models import RobertaForSequenceClassification, SequenceClassificationPreprocessor

    model = RobertaForSequenceClassification(tiny_backbone(tokenizer), num_labels=3)
    model.preprocessor = SequenceClassificationPreprocessor(
        tokenizer, max_length=32, id2label=["neg", "neu", "pos"]
    )
    arrays = tokenizer(SENTENCES, padding=True)
    expected = model.predict(arrays, verbose=0)["logits"]
    np.testing.assert_allclose(model.predict(SENTENCES, verbose=0)["logits"], expected, atol=1e-6)
    pairs = tokenizer(SENTENCES, SENTENCES[::-1], padding=True)
    features, _ = model.preprocessor.prepare({"text": SENTENCES, "text_pair": SENTENCES[::-1]})
    assert set(features) == set(pairs)
    for key in pairs:
        np.testing.assert_array_equal(features[key], pairs[key])
    model.compile()
    labels = np.array([0, 2, 1])
    np.testing.assert_allclose(
        model.evaluate(SENTENCES, ["neg", "pos", "neu"], verbose=0),
        model.evaluate(arrays, labels, verbose=0),
        rtol=1e-5,
    )
    out = model.classify(SENTENCES)
    assert [o["label_id"] for o in out] == np.argmax(expected, -1).tolist()
    assert out[0]["label"] == ["neg", "neu", "pos"][out[0]["label_id"]]
    np.testing.assert_allclose(sum(out[0]["probabilities"]), 1.0, rtol=1e-6)
    assert model.classify(SENTENCES[0])["label_id"] == out[0]["label_id"]
    inside = model.preprocessor.prepare({"text": SENTENCES, "label": [0, 2, 1]})[1]
    np.testing.assert_array_equal(inside, labels)
    with pytest.raises(ValueError, match="both"):
        model.preprocessor.prepare({"text": SENTENCES, "label": [0, 2, 1]}, labels)
    with pytest.raises(ValueError, match="same length"):
        model.predict({"text": SENTENCES, "text_pair": SENTENCES[:2]})
    with pytest.raises(ValueError, match="not in `id2label`"):
        model.fit(SENTENCES, ["neg", "bad", "pos"])


WORDS = [["My", "name", "is", "Ada", "Lovelace"], ["The", "strawberry", "sky", "glows"], ["Hi"]]
WORD_LABELS = [[0, 0, 0, 1, 2], [0, 3, 0, 0], [4]]


def test_token_classification_alignment(tok_dir, tokenizer):
    from transformers import AutoTokenizer

    from keras_models import RobertaForTokenClassification, TokenClassificationPreprocessor

    hf = AutoTokenizer.from_pretrained(tok_dir, add_prefix_space=True)
    theirs = hf(WORDS, is_split_into_words=True, padding=True, truncation=True, max_length=32)
    model = RobertaForTokenClassification(tiny_backbone(tokenizer), num_labels=5)
    for label_all in (False, True):
        pre = TokenClassificationPreprocessor(tokenizer, max_length=32, label_all_tokens=label_all)
        features, y = pre.prepare({"words": WORDS}, WORD_LABELS)
        np.testing.assert_array_equal(features["input_ids"], theirs["input_ids"])
        expected = []
        for i in range(len(WORDS)):
            row, previous = [], None
            for word in theirs.word_ids(i):
                if word is None:
                    row.append(-100)
                elif word != previous or label_all:
                    row.append(WORD_LABELS[i][word])
                else:
                    row.append(-100)
                previous = word
            expected.append(row)
        np.testing.assert_array_equal(y, expected)
    assert (np.asarray(expected) == -100).sum() > 2 * len(WORDS)  # some words split
    model.preprocessor = TokenClassificationPreprocessor(tokenizer, max_length=32)
    model.compile()
    arrays = {k: np.asarray(theirs[k]) for k in ("input_ids", "attention_mask")}
    first_only = TokenClassificationPreprocessor(tokenizer, 32).prepare(WORDS, WORD_LABELS)[1]
    np.testing.assert_allclose(
        model.evaluate({"words": WORDS}, WORD_LABELS, verbose=0),
        model.evaluate(arrays, first_only, verbose=0),
        rtol=1e-5,
    )
    tags = model.tag(WORDS)
    logits = model.predict(arrays, verbose=0)["logits"]
    for i, words in enumerate(WORDS):
        ids = theirs.word_ids(i)
        firsts = [ids.index(w) for w in range(len(words))]
        assert tags[i] == np.argmax(logits[i][firsts], -1).tolist()
    assert model.tag(WORDS[0]) == tags[0]
    with pytest.raises(ValueError, match="5 words but 4 labels"):
        model.fit({"words": WORDS[:1]}, [[0, 0, 0, 1]])


def test_multiple_choice_packing(tok_dir, tokenizer, hf_tokenizer):
    from keras_models import MultipleChoicePreprocessor, RobertaForMultipleChoice

    prompts = ["The cup is", "The sky is"]
    choices = [["red.", "a long day.", "blue sky"], ["blue.", "green.", "in the town."]]
    pre = MultipleChoicePreprocessor(tokenizer, max_length=16)
    features, y = pre.prepare({"prompt": prompts, "choices": choices}, [0, 1])
    flat = hf_tokenizer(
        [p for p in prompts for _ in range(3)],
        [c for cs in choices for c in cs],
        padding=True,
        truncation=True,
        max_length=16,
    )
    assert features["input_ids"].shape == (2, 3, len(flat["input_ids"][0]))
    for key in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(
            features[key], np.asarray(flat[key]).reshape(2, 3, -1), err_msg=key
        )
    np.testing.assert_array_equal(y, [0, 1])
    model = RobertaForMultipleChoice(tiny_backbone(tokenizer))
    model.preprocessor = pre
    model.compile()
    np.testing.assert_allclose(
        model.evaluate({"prompt": prompts, "choices": choices}, np.array([0, 1]), verbose=0),
        model.evaluate(features, np.array([0, 1]), verbose=0),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="same"):
        pre.prepare({"prompt": prompts, "choices": [["a", "b"], ["c"]]})
    with pytest.raises(ValueError, match="prompt"):
        pre.prepare({"choices": choices})


# --- generation ------------------------------------------------------------------------------
def _scramble(model, seed):
    # Larger random weights, so that a tiny model does not repeat one token.
    _init(model, seed, std=0.5)


def _masked_labels(encoded):
    """Language-model labels of padded token ids: -100 where the mask is 0."""
    return np.where(encoded["attention_mask"] == 1, encoded["input_ids"], -100)


def _assert_raw_loss_equals(model, raw, *arrays):
    """`evaluate` on raw text (through the preprocessor) equals `evaluate` on the arrays."""
    model.compile()
    np.testing.assert_allclose(
        model.evaluate(raw, verbose=0), model.evaluate(*arrays, verbose=0), rtol=1e-5
    )


@pytest.fixture(scope="module")
def opt_tokenizer(tok_dir, tmp_path_factory):
    from keras_models import OPTTokenizer

    directory = str(tmp_path_factory.mktemp("opt_tokenizer"))
    backend = RustTokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    backend.model.save(directory)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        f.write(
            '{"tokenizer_class": "GPT2Tokenizer", "add_bos_token": true, "bos_token": "</s>", '
            '"eos_token": "</s>", "unk_token": "</s>", "pad_token": "<pad>"}'
        )
    return OPTTokenizer.from_preset(directory)


def test_causal_lm_generate_and_fit_on_text(opt_tokenizer):
    from keras_models import CausalLMPreprocessor, OPTBackbone, OPTForCausalLM

    tok = opt_tokenizer
    backbone = OPTBackbone(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        ffn_dim=64,
        num_attention_heads=2,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id,
    )
    model = OPTForCausalLM(backbone)
    _scramble(model, 0)
    with pytest.raises(ValueError, match="no preprocessor"):
        model.generate("The cup")
    model.preprocessor = CausalLMPreprocessor(tok, max_length=32)
    prompts = ["The cup is", "It was a long day in"]
    texts = model.generate(prompts, max_new_tokens=6, eos_token_id=[])
    encoded = tok(prompts, padding=True, padding_side="left")
    ids = model.generate(dict(encoded), max_new_tokens=6, eos_token_id=[])
    new = ids[:, encoded["input_ids"].shape[1] :]
    assert texts == tok.batch_decode(new, skip_special_tokens=True)
    assert all(texts)
    assert model.generate(prompts[1], max_new_tokens=6, eos_token_id=[]) == texts[1]
    features, _ = model.preprocessor.prepare({"text": prompts})
    right = tok(prompts, padding=True)
    np.testing.assert_array_equal(features["labels"], _masked_labels(right))
    _assert_raw_loss_equals(model, {"text": prompts}, {**right, "labels": features["labels"]})


@pytest.fixture(scope="module")
def pegasus_tokenizer(tmp_path_factory):
    import io

    import sentencepiece as spm

    from keras_models import PegasusTokenizer

    directory = str(tmp_path_factory.mktemp("pegasus_tokenizer"))
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES * 4 + [LONG] * 4 + qa_records(20)["context"]),
        model_writer=model,
        vocab_size=120,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    with open(os.path.join(directory, "spiece.model"), "wb") as f:
        f.write(model.getvalue())
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        f.write('{"tokenizer_class": "PegasusTokenizer"}')
    return PegasusTokenizer.from_preset(directory)


def test_seq2seq_generate_and_fit_on_text(pegasus_tokenizer):
    from keras_models import PegasusBackbone, PegasusForConditionalGeneration, Seq2SeqLMPreprocessor

    tok = pegasus_tokenizer
    backbone = PegasusBackbone(
        vocab_size=len(tok),
        max_position_embeddings=64,
        encoder_layers=1,
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_layers=1,
        decoder_ffn_dim=32,
        decoder_attention_heads=2,
        d_model=16,
    )
    model = PegasusForConditionalGeneration(backbone)
    _scramble(model, 1)
    model.preprocessor = Seq2SeqLMPreprocessor(tok, max_length=32, max_target_length=8)
    texts = ["The cup is red.", "It was a long day in the small town."]
    options = dict(max_new_tokens=5, eos_token_id=[], forced_eos_token_id=-1)
    out = model.generate(texts, **options)
    ids = model.generate(dict(tok(texts, padding=True)), **options)
    assert out == tok.batch_decode(ids, skip_special_tokens=True) and any(out)
    targets = ["red", "a long day"]
    features, _ = model.preprocessor.prepare({"text": texts, "target": targets})
    labels = tok(targets, padding=True, truncation=True, max_length=8)
    np.testing.assert_array_equal(features["labels"], _masked_labels(labels))
    raw = {"text": texts, "target": targets}
    _assert_raw_loss_equals(model, raw, dict(tok(texts, padding=True)), features["labels"])
    with pytest.raises(ValueError, match="target"):
        model.fit({"text": texts}, epochs=1, verbose=0)

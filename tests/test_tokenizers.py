"""Parity of the tokenizers with transformers on tokenizer files trained here.

Each family's files are written in the Hugging Face layout (vocab.json + merges.txt,
tokenizer.json, spiece.model, vocab.txt, RoCBert's shape/pronunciation maps) from tiny
vocabularies trained with `tokenizers` / `sentencepiece`; transformers' `AutoTokenizer` loads the
same directory and is the reference for ids, masks, token types and offsets.
"""

import io
import json
import os
import random
import shutil
import sys

import numpy as np
import pytest
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import models, normalizers, pre_tokenizers, processors, trainers

import keras_models
from keras_models import (
    MegatronBertTokenizer,
    OPTTokenizer,
    PegasusTokenizer,
    RobertaTokenizer,
    RoCBertTokenizer,
    RoFormerTokenizer,
)
from keras_models.tokenizers import BatchEncoding

CORPUS = [
    "Hello world! This is a test.",
    "The quick brown fox jumps over the lazy dog.",
    "今天天气非常好。",
    "我们一起去北京吧，好不好？",
    "Café naïve résumé Ångström façade déjà vu",
    "emoji 🤗 party 🎉🎉 time",
    "repeated    spaces   here",
    "",
    "  leading and trailing  ",
    "Mixed 中文 and English, numbers 12345.",
    "tabs\tand\nnewlines",
    "ÉCOLE Über STRASSE don't",
]
SHORT = ["Hi", "ok", "好", "🤗", "a  b", ""]
TRAIN = CORPUS * 3 + [
    "Hello there, how are you doing today? I am fine, thank you.",
    "Transformers and tokenizers turn text into numbers.",
    "北京是中国的首都。我们今天去公园散步。",
    "天气预报说明天会下雨，非常冷。",
    "Les élèves étudient à l'école française.",
    "Zürich, Köln und München sind Städte.",
]
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHINESE_WORDS = ["今天", "天气", "非常", "北京", "我们", "一起", "好不好", "中文"]


def _write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)


def _bpe_files(directory, with_json):
    backend = RustTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(TRAIN, trainer)
    if with_json:
        backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        backend.save(os.path.join(directory, "tokenizer.json"))
    else:
        backend.model.save(directory)
    return backend.get_vocab()


def _wordpiece_vocab(directory, lowercase, extra=()):
    backend = RustTokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=BERT_SPECIALS, show_progress=False
    )
    backend.train_from_iterator(TRAIN, trainer)
    vocab = sorted(backend.get_vocab().items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab] + [w for w in extra if w not in backend.get_vocab()]
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    return tokens


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokenizers")
    out = {}

    def new(name):
        path = root / name
        path.mkdir()
        out[name] = str(path)
        return str(path)

    d = new("roberta")
    vocab = _bpe_files(d, with_json=False)
    mask_id = vocab["<mask>"]
    _write_json(
        os.path.join(d, "tokenizer_config.json"),
        {
            "tokenizer_class": "RobertaTokenizer",
            "added_tokens_decoder": {
                str(mask_id): {
                    "content": "<mask>",
                    "lstrip": True,
                    "normalized": False,
                    "rstrip": False,
                    "single_word": False,
                    "special": True,
                }
            },
        },
    )
    d = new("roberta_json")
    _bpe_files(d, with_json=True)
    _write_json(os.path.join(d, "tokenizer_config.json"), {"tokenizer_class": "RobertaTokenizer"})
    # Without `added_tokens_decoder`, the special tokens map and tokenizer.json's added tokens
    # are read (and the latter's flags win for tokens in both).
    _write_json(
        os.path.join(d, "special_tokens_map.json"),
        {"mask_token": {"content": "<mask>", "lstrip": True, "normalized": False}},
    )
    d = new("opt")
    _bpe_files(d, with_json=False)
    _write_json(
        os.path.join(d, "tokenizer_config.json"),
        {
            "tokenizer_class": "GPT2Tokenizer",
            "add_bos_token": True,
            "add_prefix_space": False,
            "bos_token": "</s>",
            "eos_token": "</s>",
            "unk_token": "</s>",
            "pad_token": "<pad>",
            "errors": "replace",
        },
    )
    d = new("pegasus")
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAIN),
        model_writer=model,
        vocab_size=160,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    with open(os.path.join(d, "spiece.model"), "wb") as f:
        f.write(model.getvalue())
    _write_json(os.path.join(d, "tokenizer_config.json"), {"tokenizer_class": "PegasusTokenizer"})
    for name, lowercase in (("bert_uncased", True), ("bert_cased", False)):
        d = new(name)
        _wordpiece_vocab(d, lowercase)
        _write_json(
            os.path.join(d, "tokenizer_config.json"),
            {"tokenizer_class": "BertTokenizer", "do_lower_case": lowercase},
        )
    d = new("rocbert")
    tokens = _wordpiece_vocab(d, True)
    rng = random.Random(0)
    shape = {t: rng.randrange(1, 50) for t in tokens if rng.random() < 0.7}
    pron = {t: rng.randrange(1, 50) for t in tokens if rng.random() < 0.7}
    shape["[UNK]"], pron["[UNK]"] = 7, 11
    _write_json(os.path.join(d, "word_shape.json"), shape)
    _write_json(os.path.join(d, "word_pronunciation.json"), pron)
    _write_json(
        os.path.join(d, "tokenizer_config.json"),
        {"tokenizer_class": "RoCBertTokenizer", "do_lower_case": True},
    )
    d = new("roformer")
    tokens = _wordpiece_vocab(d, True, extra=CHINESE_WORDS)
    # transformers' RoFormer tokenizer only keeps whole jieba words with a tokenizer.json (from
    # vocab.txt alone it hands its pre-tokenizer a file name instead of the vocabulary).
    backend = RustTokenizer(
        models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]")
    )
    backend.normalizer = normalizers.BertNormalizer(handle_chinese_chars=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.save(os.path.join(d, "tokenizer.json"))
    _write_json(
        os.path.join(d, "tokenizer_config.json"),
        {"tokenizer_class": "RoFormerTokenizer", "do_lower_case": True},
    )
    return out


def _hf(directory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def _same(ours, theirs, context):
    theirs = {k: np.asarray(v) for k, v in theirs.items()}
    assert set(ours) == set(theirs), (context, sorted(ours), sorted(theirs))
    for key, value in theirs.items():
        np.testing.assert_array_equal(ours[key], value, err_msg=f"{key} differs: {context}")


PAIRS = list(zip(CORPUS, CORPUS[::-1]))
# Short first / long second, and the reverse, for the one-sided truncations.
SHORT_LONG = [(s, t) for s, t in zip(SHORT, CORPUS[:6])]
LONG_SHORT = [(t, s) for s, t in SHORT_LONG]
CALLS = [
    ("single, longest, offsets", CORPUS, None, dict(padding=True, return_offsets_mapping=True)),
    ("pairs, longest, offsets", PAIRS, None, dict(padding="longest", return_offsets_mapping=True)),
    (
        "pairs via text_pair, max_length pad, longest_first",
        CORPUS,
        CORPUS[::-1],
        dict(padding="max_length", truncation=True, max_length=13, return_offsets_mapping=True),
    ),
    (
        "single, truncation only, left padding",
        CORPUS,
        None,
        dict(padding=True, truncation="longest_first", max_length=7, padding_side="left"),
    ),
    (
        "only_second",
        SHORT_LONG,
        None,
        dict(padding=True, truncation="only_second", max_length=14, return_offsets_mapping=True),
    ),
    (
        "only_first, multiple of 8, token types",
        LONG_SHORT,
        None,
        dict(
            padding=True,
            truncation="only_first",
            max_length=16,
            pad_to_multiple_of=8,
            return_token_type_ids=True,
        ),
    ),
    ("no special tokens", CORPUS, None, dict(padding=True, add_special_tokens=False)),
]


def _check_family(ours, theirs, corpus=CORPUS, offsets=True):
    for context, text, text_pair, kwargs in CALLS:
        if not offsets:
            kwargs = {k: v for k, v in kwargs.items() if k != "return_offsets_mapping"}
        if text is CORPUS:
            text = corpus
        if text_pair is not None:
            text_pair = corpus[::-1]
        expected = theirs(text, text_pair, return_tensors="np", **kwargs)
        _same(ours(text, text_pair, **kwargs), expected, context)
    for text in corpus:  # one string at a time, no padding
        _same(ours(text), theirs(text, return_tensors="np"), repr(text))
    _same(ours(corpus[0], corpus[1]), theirs(corpus[0], corpus[1], return_tensors="np"), "pair")
    # ids, specials and decoding
    assert ours.vocab_size == theirs.vocab_size
    assert len(ours) == len(theirs)
    for name in ("pad", "unk", "cls", "sep", "mask", "bos", "eos"):
        assert getattr(ours, f"{name}_token_id") == getattr(theirs, f"{name}_token_id"), name
    batch = ours(corpus, padding=True)["input_ids"]
    for skip in (False, True):
        assert ours.batch_decode(batch, skip_special_tokens=skip) == theirs.batch_decode(
            batch.tolist(), skip_special_tokens=skip
        )
        assert ours.decode(batch[2], skip_special_tokens=skip) == theirs.decode(
            batch[2].tolist(), skip_special_tokens=skip
        )


@pytest.mark.parametrize("name", ["roberta", "roberta_json"])
def test_roberta_matches_transformers(dirs, name):
    ours, theirs = RobertaTokenizer.from_preset(dirs[name]), _hf(dirs[name])
    _check_family(ours, theirs, CORPUS + ["Paris is the <mask> of France."])
    assert ours.cls_token_id == 0 and ours.sep_token_id == 2 and ours.pad_token_id == 1


def test_opt_matches_transformers(dirs):
    ours, theirs = OPTTokenizer.from_preset(dirs["opt"]), _hf(dirs["opt"])
    _check_family(ours, theirs)
    ids = ours("Hello world")["input_ids"][0]
    assert ids[0] == ours.bos_token_id == ours.eos_token_id == 2 and ids[-1] != 2


def test_pegasus_matches_transformers(dirs):
    ours, theirs = PegasusTokenizer.from_preset(dirs["pegasus"]), _hf(dirs["pegasus"])
    _check_family(ours, theirs)
    # The reserved ids: <pad> 0, </s> 1, <mask_1> 2, <mask_2> 3, <unk_2>.. <unk_102>, <unk> 105.
    assert [ours.token_to_id(t) for t in ("<pad>", "</s>", "<mask_1>", "<mask_2>", "<unk_2>")] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert ours.unk_token_id == 105 and ours.token_to_id("<unk_102>") == 104


def test_pegasus_reads_tokenizer_json(dirs, tmp_path):
    theirs = _hf(dirs["pegasus"])
    theirs.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").exists()
    if (tmp_path / "spiece.model").exists():  # make sure tokenizer.json is what is read
        os.remove(tmp_path / "spiece.model")
    ours = PegasusTokenizer.from_preset(str(tmp_path))
    _check_family(ours, _hf(str(tmp_path)))


@pytest.mark.parametrize("name", ["bert_uncased", "bert_cased"])
def test_megatron_bert_matches_transformers(dirs, name):
    ours, theirs = MegatronBertTokenizer.from_preset(dirs[name]), _hf(dirs[name])
    _check_family(ours, theirs)
    assert ours.do_lower_case == (name == "bert_uncased")
    assert "token_type_ids" in ours("a b")


def test_rocbert_matches_transformers(dirs):
    from transformers import BertTokenizer

    ours, theirs = RoCBertTokenizer.from_preset(dirs["rocbert"]), _hf(dirs["rocbert"])
    assert type(theirs).__name__ == "RoCBertTokenizer"
    # transformers' RoCBert tokenizer is pure Python and has no offsets: compare those with the
    # BERT tokenizer on the same vocabulary.
    _check_family(ours, theirs, offsets=False)
    bert = BertTokenizer.from_pretrained(dirs["rocbert"])
    for _, text, text_pair, kwargs in CALLS[:3]:
        kwargs = {**kwargs, "return_offsets_mapping": True}
        np.testing.assert_array_equal(
            ours(text, text_pair, **kwargs)["offset_mapping"],
            bert(text, text_pair, return_tensors="np", **kwargs)["offset_mapping"],
        )
    out = ours(["今天好", "Hello"], padding=True)
    shape = json.load(open(os.path.join(dirs["rocbert"], "word_shape.json"), encoding="utf-8"))
    assert out["input_shape_ids"][0, 0] == shape["[UNK]"]  # [CLS] holds the map's [UNK]
    assert out["input_shape_ids"][1, -1] == ours.pad_token_id


def test_roformer_matches_transformers(dirs):
    ours, theirs = RoFormerTokenizer.from_preset(dirs["roformer"]), _hf(dirs["roformer"])
    _check_family(ours, theirs)
    tokens = ours.tokenize("今天天气非常好。")
    assert tokens == theirs.tokenize("今天天气非常好。")
    assert tokens == ["今", "天", "天", "气", "非常", "好", "。"]


def test_roformer_from_vocab_txt_keeps_vocabulary_words(dirs, tmp_path):
    # From vocab.txt alone we behave as transformers does with a tokenizer.json.
    shutil.copy(os.path.join(dirs["roformer"], "vocab.txt"), tmp_path)
    ours = RoFormerTokenizer.from_preset(str(tmp_path))
    theirs = _hf(dirs["roformer"])
    _same(ours(CORPUS, padding=True), theirs(CORPUS, padding=True, return_tensors="np"), "txt")
    assert ours.tokenize("我们一起去北京吧") == ["我们", "一起", "去", "北京", "吧"]


def test_keras_preset_directory(dirs, tmp_path):
    # A Keras preset directory carries the tokenizer files next to preset.json.
    shutil.copytree(dirs["bert_uncased"], tmp_path / "preset")
    (tmp_path / "preset" / "preset.json").write_text("{}")
    ours = MegatronBertTokenizer.from_preset(str(tmp_path / "preset"))
    theirs = _hf(dirs["bert_uncased"])
    _same(ours(CORPUS, padding=True), theirs(CORPUS, padding=True, return_tensors="np"), "preset")
    assert keras_models.MegatronBertTokenizer is MegatronBertTokenizer


def test_bad_arguments(dirs):
    tok = MegatronBertTokenizer.from_preset(dirs["bert_uncased"])
    bad_calls = [
        (dict(text=3), "`text`"),
        (dict(text=["a", 3]), "text[1]"),
        (dict(text="a", text_pair=["b"]), "text_pair"),
        (dict(text=["a", "b"], text_pair=["c"]), "text_pair"),
        (dict(text=["a"], padding="yes"), "padding"),
        (dict(text=["a"], truncation="middle"), "truncation"),
        (dict(text=["a"], max_length=0), "max_length"),
        (dict(text=["a"], padding="max_length"), "max_length"),
        (dict(text=["a", "b c d"]), "padding=True"),
        (dict(text=["a"], padding_side="up"), "padding_side"),
    ]
    for kwargs, words in bad_calls:
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("`", "`")):
            tok(**kwargs)
    with pytest.raises(ValueError, match="token_ids"):
        tok.decode([[1, 2]])
    with pytest.raises(ValueError, match="no WordPiece tokenizer files"):
        MegatronBertTokenizer.from_preset(dirs["pegasus"])
    with pytest.raises(ValueError, match="word_shape.json"):
        RoCBertTokenizer.from_preset(dirs["bert_uncased"])


FAST_FAMILIES = [
    ("roberta", RobertaTokenizer),
    ("opt", OPTTokenizer),
    ("pegasus", PegasusTokenizer),
    ("bert_uncased", MegatronBertTokenizer),
    ("roformer", RoFormerTokenizer),
]
WORD_LISTS = [["Hello", "world!"], ["Café", "naïve", "résumé", "emoji", "🤗"], ["今天", "好"]]


@pytest.mark.parametrize("name,cls", FAST_FAMILIES)
def test_windows_and_word_ids_match_transformers(dirs, name, cls):
    from transformers import AutoTokenizer

    ours, theirs = cls.from_preset(dirs[name]), _hf(dirs[name])
    questions = ["What is it?", "Who?", ""]
    contexts = [" ".join(CORPUS) * 2, "Hello world", "tabs\tand\nnewlines " * 6]
    kwargs = dict(
        truncation="only_second",
        max_length=24,
        stride=5,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    got = ours(questions, contexts, return_sequence_ids=True, **kwargs)
    want = theirs(questions, contexts, **kwargs)
    assert len(want["input_ids"]) > len(questions)
    for key in want:
        np.testing.assert_array_equal(got[key], np.asarray(want[key]), err_msg=f"{name} {key}")
    rows = range(len(want["input_ids"]))
    expected = [[-1 if s is None else s for s in want.sequence_ids(i)] for i in rows]
    np.testing.assert_array_equal(got["sequence_ids"], expected)
    # Pre-split words; byte-level BPE needs the prefix space, as in transformers.
    options = {"add_prefix_space": True} if name in ("roberta", "opt") else {}
    ours = cls.from_preset(dirs[name], **options)
    theirs = AutoTokenizer.from_pretrained(dirs[name], **options)
    got = ours(WORD_LISTS, is_split_into_words=True, padding=True, return_word_ids=True)
    want = theirs(WORD_LISTS, is_split_into_words=True, padding=True)
    np.testing.assert_array_equal(got["input_ids"], np.asarray(want["input_ids"]))
    expected = [[-1 if w is None else w for w in want.word_ids(i)] for i in range(3)]
    np.testing.assert_array_equal(got["word_ids"], expected)


def test_rocbert_windows(dirs):
    ours = RoCBertTokenizer.from_preset(dirs["rocbert"])
    context = " ".join(CORPUS)
    windows = ours(
        "What?",
        context,
        truncation="only_second",
        max_length=16,
        stride=4,
        return_overflowing_tokens=True,
        padding="max_length",
    )
    assert len(windows["input_ids"]) > 2
    first = ours("What?", context, truncation="only_second", max_length=16)
    for key in first:
        np.testing.assert_array_equal(windows[key][0], first[key][0], err_msg=key)
    with pytest.raises(ValueError, match="stride"):
        ours("a", "b", stride=-1)


# --- return_tensors ---------------------------------------------------------------------------
# The tensor type each backend's run checks (the three runs together cover every type).
BACKEND_TENSORS = {"jax": "jax", "tensorflow": "tf", "torch": "pt"}
LIST_CALLS = [
    ("one text", ("Hello world!",), {}),
    ("one pair", ("What is it?", "The quick brown fox."), {}),
    ("ragged batch", (CORPUS[:4],), {}),
    ("ragged pairs", (CORPUS[:3], CORPUS[3:6]), {"return_token_type_ids": True}),
    ("offsets", (CORPUS[:3],), {"return_offsets_mapping": True}),
    ("padded", (CORPUS[:3],), {"padding": True}),
    ("words", (["Hello", "world"],), {"is_split_into_words": True}),
    (
        "windows of one text",
        ("Who?", " ".join(CORPUS)),
        dict(truncation="only_second", max_length=20, stride=4, return_overflowing_tokens=True),
    ),
]


def _tensor_type(kind):
    if kind == "tf":
        import tensorflow as tf

        return tf.Tensor
    if kind == "pt":
        import torch

        return torch.Tensor
    import jax

    return jax.Array


@pytest.mark.parametrize("name,cls", [("bert_uncased", MegatronBertTokenizer), *FAST_FAMILIES[:2]])
def test_return_tensors_none_gives_transformers_lists(dirs, name, cls):
    ours, theirs = cls.from_preset(dirs[name]), _hf(dirs[name])
    for context, args, kwargs in LIST_CALLS:
        if kwargs.get("is_split_into_words") and name in ("roberta", "opt"):
            continue  # byte-level BPE needs add_prefix_space for words (tested above)
        got = ours(*args, return_tensors=None, **kwargs)
        want = theirs(*args, **kwargs)
        assert dict(got) == dict(want), (name, context)
        assert got.input_ids == want.input_ids


def test_rocbert_return_tensors_none_gives_transformers_lists(dirs):
    ours, theirs = RoCBertTokenizer.from_preset(dirs["rocbert"]), _hf(dirs["rocbert"])
    for args in (("今天好",), (CORPUS[:4],), (CORPUS[:3], CORPUS[3:6])):
        assert dict(ours(*args, return_tensors=None)) == dict(theirs(*args)), args
    # The Rust path (windows) of a ragged batch: the shape and pronunciation ids per row.
    got = ours(CORPUS[:3], return_word_ids=True, return_tensors=None)
    assert got["input_shape_ids"] == theirs(CORPUS[:3])["input_shape_ids"]


@pytest.mark.parametrize(
    "name,cls", [("bert_uncased", MegatronBertTokenizer), ("rocbert", RoCBertTokenizer)]
)
def test_return_tensors_types(dirs, name, cls):
    import keras

    tok = cls.from_preset(dirs[name])
    questions, contexts = ["What is it?", "Who?"], CORPUS[:2]
    arrays = tok(questions, contexts, padding=True)
    assert isinstance(arrays, BatchEncoding) and isinstance(arrays["input_ids"], np.ndarray)
    assert arrays.input_ids is arrays["input_ids"] and arrays.input_ids.dtype == np.int32
    kind = BACKEND_TENSORS[keras.backend.backend()]
    tensors = tok(questions, contexts, padding=True, return_tensors=kind)
    assert list(tensors) == list(arrays)
    for key, value in tensors.items():
        assert isinstance(value, _tensor_type(kind)), (kind, key, type(value))
        np.testing.assert_array_equal(np.asarray(value), arrays[key])
    assert tensors.attention_mask is tensors["attention_mask"]
    with pytest.raises(AttributeError, match="input_idz"):
        _ = tensors.input_idz
    # A single text still gives a batch of one as tensors; ragged rows cannot be one tensor.
    length = len(tok("Hi", return_tensors=None)["input_ids"])
    assert tuple(tok("Hi", return_tensors=kind)["input_ids"].shape) == (1, length)
    for value in ("np", kind):
        with pytest.raises(ValueError, match=f"return_tensors='{value}'.*padding=True"):
            tok(["a", "b c d"], return_tensors=value)


def test_return_tensors_bad_values_and_missing_libraries(dirs, monkeypatch):
    tok = MegatronBertTokenizer.from_preset(dirs["bert_uncased"])
    for bad in ("tensorflow", "torch", "mlx", "NP", 1, True):
        with pytest.raises(ValueError, match=r"`return_tensors` must be one of 'np', 'tf', 'pt'"):
            tok("a b", return_tensors=bad)
    # A library that is not installed (`import` fails) is a ValueError naming the argument;
    # the other forms never import it.
    for kind, module, library in (
        ("tf", "tensorflow", "TensorFlow"),
        ("pt", "torch", "PyTorch"),
        ("jax", "jax.numpy", "JAX"),
    ):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, module, None)
            with pytest.raises(ValueError, match=f"return_tensors='{kind}'.* needs {library}"):
                tok("a b", return_tensors=kind)
            ids = tok("a b", return_tensors="np")["input_ids"]
            assert tok("a b", return_tensors=None)["input_ids"] == ids[0].tolist()


@pytest.mark.parametrize("prefix", ["MegatronBert", "RoCBert"])
def test_model_takes_the_encoding(prefix):
    """`model(**tokenizer(..., return_tensors=...))`, as in transformers' examples."""
    import warnings

    import keras

    preset = {"MegatronBert": "megatron_bert_tiny", "RoCBert": "roc_bert_tiny"}[prefix]
    tok = getattr(keras_models, f"{prefix}Tokenizer").from_preset(preset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the preset has no QA head: it starts fresh
        model = getattr(keras_models, f"{prefix}ForQuestionAnswering").from_preset(preset)
    to_numpy = keras.ops.convert_to_numpy
    kind = BACKEND_TENSORS[keras.backend.backend()]
    questions, contexts = ["What is it?", "Who?"], ["A tiny test.", "Nobody at all, really."]
    enc = tok(questions, contexts, padding=True, return_tensors=kind)
    assert len(enc) >= 3  # ids, mask and the family extras (token types, shape ids ...)
    labels = {"start_positions": np.array([1, 2]), "end_positions": np.array([3, 5])}
    out = model(**enc, **labels)
    others = {k: v for k, v in enc.items() if k != "input_ids"}
    arrays = {k: np.asarray(v) for k, v in enc.items()}
    for reference in (
        model(enc["input_ids"], **others, **labels),
        model(arrays, **labels),
        model(enc, **labels),
    ):
        # transformers' order on every backend (`return_dict=False` tuples follow it).
        assert list(reference) == list(out) == ["loss", "start_logits", "end_logits"]
        for key in out:
            np.testing.assert_array_equal(to_numpy(out[key]), to_numpy(reference[key]))
    assert np.isfinite(to_numpy(out.loss)) and out.start_logits.shape == enc.input_ids.shape
    # Keras walks the encoding as a dict (a registered tree node).
    predicted = model.predict(enc, verbose=0)
    np.testing.assert_allclose(predicted["start_logits"], to_numpy(out.start_logits), atol=1e-6)

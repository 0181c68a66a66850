"""Batch tokenization speed: keras_models tokenizers vs transformers' tokenizers.

Trains a vocabulary of realistic size per family on a generated corpus, writes it in the
Hugging Face file layout, and times one call on 10,000 sentences (padding, truncation to 128)
with each library, best of `--repeats`. transformers' RoCBert tokenizer is pure Python; the
others are its Rust-backed ("fast") tokenizers.

    python -m benchmarks.tokenizer_speed [--sentences 10000] [--repeats 5] [--families ...]
"""

import argparse
import io
import json
import os
import random
import tempfile
import time

from tokenizers import Tokenizer as RustTokenizer
from tokenizers import models, normalizers, pre_tokenizers, trainers

ENGLISH = (
    "the of and to in is was for on that with as by at from his her they have had this which "
    "model tokenizer sentence fast batch keras transformer language learning attention layer "
    "running jumped quickly beautiful understanding international organization résumé café "
    "naïve Zürich München déjà don't isn't we'll 2024 3.14 42 % $ ! ? , . ; : ( )"
).split()
CHINESE = (
    "今天 天气 非常 好 我们 一起 去 北京 中国 的 首都 公园 散步 明天 下雨 学习 语言 模型".split()
)
FAMILIES = ("roberta", "opt", "pegasus", "megatron_bert", "rocbert", "roformer")


def make_sentences(count, seed=0):
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        words = [rng.choice(ENGLISH) for _ in range(rng.randint(8, 40))]
        if rng.random() < 0.3:
            words[rng.randrange(len(words)) :] = rng.sample(CHINESE, 4)
        if rng.random() < 0.1:
            words.append("🤗")
        sentences.append(" ".join(words))
    return sentences


def _write(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)


def build_files(root, corpus):
    """A Hugging Face tokenizer directory per family."""
    dirs = {name: os.path.join(root, name) for name in FAMILIES}
    for d in dirs.values():
        os.makedirs(d)
    bpe = RustTokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=8000,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    for name in ("roberta", "opt"):
        bpe.model.save(dirs[name])
    _write(
        os.path.join(dirs["roberta"], "tokenizer_config.json"),
        {"tokenizer_class": "RobertaTokenizer"},
    )
    _write(
        os.path.join(dirs["opt"], "tokenizer_config.json"),
        {
            "tokenizer_class": "GPT2Tokenizer",
            "add_bos_token": True,
            "bos_token": "</s>",
            "eos_token": "</s>",
            "unk_token": "</s>",
            "pad_token": "<pad>",
        },
    )
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        vocab_size=4000,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    with open(os.path.join(dirs["pegasus"], "spiece.model"), "wb") as f:
        f.write(model.getvalue())
    _write(
        os.path.join(dirs["pegasus"], "tokenizer_config.json"),
        {"tokenizer_class": "PegasusTokenizer"},
    )
    wordpiece = RustTokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(
        corpus,
        trainers.WordPieceTrainer(
            vocab_size=8000,
            special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
            show_progress=False,
        ),
    )
    vocab = [t for t, _ in sorted(wordpiece.get_vocab().items(), key=lambda kv: kv[1])]
    vocab += [w for w in CHINESE if w not in wordpiece.get_vocab()]
    rng = random.Random(0)
    for name, tokenizer_class in (
        ("megatron_bert", "BertTokenizer"),
        ("rocbert", "RoCBertTokenizer"),
        ("roformer", "RoFormerTokenizer"),
    ):
        with open(os.path.join(dirs[name], "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(vocab) + "\n")
        _write(
            os.path.join(dirs[name], "tokenizer_config.json"), {"tokenizer_class": tokenizer_class}
        )
    for file in ("word_shape.json", "word_pronunciation.json"):
        table = {t: rng.randrange(1, 500) for t in vocab}
        _write(os.path.join(dirs["rocbert"], file), table)
    # transformers' RoFormer tokenizer needs tokenizer.json to use its vocabulary in jieba.
    roformer = RustTokenizer(
        models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]")
    )
    roformer.normalizer = normalizers.BertNormalizer(handle_chinese_chars=False)
    roformer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    roformer.save(os.path.join(dirs["roformer"], "tokenizer.json"))
    return dirs


def best_times(fns, repeats):
    """Best wall time of each function; runs are interleaved so that load from other
    processes on a shared machine hits both libraries alike."""
    for fn in fns:  # warm-up
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [min(t) for t in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    args = parser.parse_args(argv)

    import numpy as np
    from transformers import AutoTokenizer

    import keras_models

    classes = {
        "roberta": keras_models.RobertaTokenizer,
        "opt": keras_models.OPTTokenizer,
        "pegasus": keras_models.PegasusTokenizer,
        "megatron_bert": keras_models.MegatronBertTokenizer,
        "rocbert": keras_models.RoCBertTokenizer,
        "roformer": keras_models.RoFormerTokenizer,
    }
    sentences = make_sentences(args.sentences)
    pairs = list(zip(sentences, sentences[::-1]))
    kwargs = dict(padding=True, truncation=True, max_length=128)
    print(
        f"{args.sentences} sentences, padding=True, truncation=True, max_length=128, best of {args.repeats}"
    )
    print(f"{'family':<14}{'input':<8}{'ours s':>9}{'transformers s':>16}{'speed-up':>10}")
    with tempfile.TemporaryDirectory() as root:
        dirs = build_files(root, make_sentences(20_000, seed=1))
        for family in args.families:
            ours = classes[family].from_preset(dirs[family])
            theirs = AutoTokenizer.from_pretrained(dirs[family])
            for label, batch in (("single", sentences), ("pairs", pairs)):
                expected = theirs(batch, return_tensors="np", **kwargs)["input_ids"]
                np.testing.assert_array_equal(ours(batch, **kwargs)["input_ids"], expected)
                t_ours, t_theirs = best_times(
                    [
                        lambda b=batch, t=ours: t(b, **kwargs),
                        lambda b=batch, t=theirs: t(b, return_tensors="np", **kwargs),
                    ],
                    args.repeats,
                )
                print(
                    f"{family:<14}{label:<8}{t_ours:>9.3f}{t_theirs:>16.3f}"
                    f"{t_theirs / t_ours:>9.2f}x"
                )


if __name__ == "__main__":
    main()

"""Builds the embedded presets: `python -m keras_models.presets.embedded.build [--quiet] [names]`.

Each preset is a directory in the Hugging Face layout (config.json, model.safetensors and the
family's tokenizer files) next to this file. They are SMALL and RANDOMLY INITIALISED: hidden size
64, 2 layers, vocabularies of 1-2k entries, weights drawn by transformers' own initialisation
under `torch.manual_seed(0)`. They exist so that every class loads by name offline (tests,
guides, the demo); they know nothing of language until fine-tuned.

The tokenizers are real, trained here with fixed settings on text that ships with Python (the
docstrings of a fixed list of standard-library modules) and with this package (the templates of
`keras_models.datasets.templated_qa`, and the short Chinese sentences below for the two Chinese
families). Docstrings change between Python releases, so the vocabularies are reproducible for a
given Python (the shipped files were built with Python 3.11, transformers 5, sentencepiece and
tokenizers at the versions pinned by the dev environment).

A progress bar counts the presets built on a terminal (none in a log; `--quiet` turns it off),
then a table gives each preset's parameters and size.

Needs the `dev` extra (transformers, torch, sentencepiece, rjieba); nothing here runs when the
package is used.
"""

import argparse
import importlib
import inspect
import io
import json
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
# Standard-library modules whose docstrings are the English training text.
STDLIB_MODULES = (
    "argparse bisect calendar collections csv dataclasses datetime decimal difflib enum "
    "fractions functools heapq html inspect itertools json logging math os pathlib random re "
    "shutil statistics string textwrap unittest urllib.parse zipfile"
).split()
# Chinese text for RoCBert and RoFormer (written for this package).
CHINESE = [
    "今天天气非常好，我们一起去公园散步吧。",
    "北京是中国的首都，也是一座历史悠久的城市。",
    "我喜欢在周末读书、听音乐和做饭。",
    "这个模型很小，它的权重是随机初始化的。",
    "请问火车站怎么走？一直往前走，然后向左转。",
    "学生们在图书馆里安静地学习。",
    "明天会下雨，记得带伞。",
    "他是一名医生，每天工作很长时间。",
    "我们的团队正在开发新的软件。",
    "春天来了，花园里的花都开了。",
    "上海和广州都是非常繁华的城市。",
    "妈妈做的饺子特别好吃。",
    "你好，很高兴认识你。",
    "问题和答案都来自同一段文字。",
    "机器学习需要大量的数据和计算。",
    "小猫在窗台上睡觉，阳光很温暖。",
]
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BPE_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
MAX_LENGTH = 512
SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


def english_corpus():
    """Docstrings of `STDLIB_MODULES` (module and public members) plus the QA templates."""
    from keras_models.datasets import templated_qa

    lines = []
    for name in STDLIB_MODULES:
        module = importlib.import_module(name)
        docs = [inspect.getdoc(module)]
        for attr in sorted(dir(module)):
            if attr.startswith("_"):
                continue
            member = getattr(module, attr)
            if inspect.isclass(member) or inspect.isfunction(member) or inspect.isbuiltin(member):
                docs.append(inspect.getdoc(member))
        for doc in docs:
            if doc:
                lines += [line.strip() for line in doc.splitlines() if line.strip()]
    return lines + templated_qa.corpus()


def _write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


def _fresh(name):
    path = os.path.join(HERE, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def _save_model(path, model_cls_name, config_cls_name, **config):
    import torch
    import transformers

    torch.manual_seed(SEED)
    config = getattr(transformers, config_cls_name)(**config)
    model = getattr(transformers, model_cls_name)(config).eval()
    model.save_pretrained(path)
    if os.path.exists(os.path.join(path, "generation_config.json")):
        os.remove(os.path.join(path, "generation_config.json"))
    return sum(p.numel() for p in model.parameters())


# --- tokenizers ------------------------------------------------------------------------------
def _byte_level_bpe(path, lines, vocab_size):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=BPE_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(lines, trainer)
    backend.model.save(path)  # vocab.json + merges.txt, as RoBERTa and OPT ship them
    return backend.get_vocab_size()


def _wordpiece(lines, vocab_size, chinese_words=False):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    # RoFormer keeps whole jieba words: the Chinese text arrives pre-split into them.
    backend.normalizer = normalizers.BertNormalizer(
        lowercase=True, handle_chinese_chars=not chinese_words
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=BERT_SPECIALS, show_progress=False
    )
    backend.train_from_iterator(lines, trainer)
    return [t for t, _ in sorted(backend.get_vocab().items(), key=lambda kv: kv[1])]


def _write_vocab_txt(path, tokens):
    with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")


def _bert_tokenizer_config(path, tokenizer_class):
    _write_json(
        os.path.join(path, "tokenizer_config.json"),
        {
            "tokenizer_class": tokenizer_class,
            "do_lower_case": True,
            "model_max_length": MAX_LENGTH,
        },
    )


# --- presets ---------------------------------------------------------------------------------
def build_roberta(english):
    path = _fresh("roberta_tiny")
    vocab = _byte_level_bpe(path, english, 2048)
    _write_json(
        os.path.join(path, "tokenizer_config.json"),
        {
            "tokenizer_class": "RobertaTokenizer",
            "model_max_length": MAX_LENGTH,
            "added_tokens_decoder": {
                "4": {
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
    return _save_model(
        path,
        "RobertaForMaskedLM",
        "RobertaConfig",
        vocab_size=vocab,
        max_position_embeddings=MAX_LENGTH + 2,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        **SMALL,
    )


def build_opt(english):
    path = _fresh("opt_tiny")
    vocab = _byte_level_bpe(path, english, 2048)
    _write_json(
        os.path.join(path, "tokenizer_config.json"),
        {
            "tokenizer_class": "GPT2Tokenizer",
            "add_bos_token": True,
            "add_prefix_space": False,
            "bos_token": "</s>",
            "eos_token": "</s>",
            "unk_token": "</s>",
            "pad_token": "<pad>",
            "errors": "replace",
            "model_max_length": MAX_LENGTH,
        },
    )
    return _save_model(
        path,
        "OPTForCausalLM",
        "OPTConfig",
        vocab_size=vocab,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=128,
        max_position_embeddings=MAX_LENGTH,
        word_embed_proj_dim=64,
        bos_token_id=2,
        pad_token_id=1,
        eos_token_id=2,
    )


def build_pegasus(english):
    import sentencepiece as spm

    path = _fresh("pegasus_tiny")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(english),
        model_writer=model,
        vocab_size=1000,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        seed_sentencepiece_size=100_000,
        num_threads=1,
        minloglevel=2,
    )
    with open(os.path.join(path, "spiece.model"), "wb") as f:
        f.write(model.getvalue())
    _write_json(
        os.path.join(path, "tokenizer_config.json"),
        {"tokenizer_class": "PegasusTokenizer", "model_max_length": MAX_LENGTH},
    )
    # Pegasus puts 103 reserved tokens (<mask_1>, <mask_2>, <unk_2> ... <unk_102>) after
    # <pad> and </s>, so its vocabulary is the SentencePiece one plus 103.
    return _save_model(
        path,
        "PegasusForConditionalGeneration",
        "PegasusConfig",
        vocab_size=1000 + 103,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=MAX_LENGTH,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        forced_eos_token_id=1,
    )


def build_megatron_bert(english):
    path = _fresh("megatron_bert_tiny")
    tokens = _wordpiece(english, 1536)
    _write_vocab_txt(path, tokens)
    _bert_tokenizer_config(path, "BertTokenizer")
    return _save_model(
        path,
        "MegatronBertForPreTraining",
        "MegatronBertConfig",
        vocab_size=len(tokens),
        max_position_embeddings=MAX_LENGTH,
        **SMALL,
    )


def build_roc_bert(english):
    path = _fresh("roc_bert_tiny")
    tokens = _wordpiece(english + CHINESE * 3, 1536)
    _write_vocab_txt(path, tokens)
    # Real RoCBert maps each token to the id of its glyph shape and of its pinyin; these
    # maps are random ids (fixed seed) of the same form, one entry per token.
    rng = random.Random(SEED)
    shape = {t: rng.randrange(1, 64) for t in tokens}
    pronunciation = {t: rng.randrange(1, 32) for t in tokens}
    _write_json(os.path.join(path, "word_shape.json"), shape)
    _write_json(os.path.join(path, "word_pronunciation.json"), pronunciation)
    _bert_tokenizer_config(path, "RoCBertTokenizer")
    return _save_model(
        path,
        "RoCBertForPreTraining",
        "RoCBertConfig",
        vocab_size=len(tokens),
        max_position_embeddings=MAX_LENGTH,
        shape_vocab_size=64,
        shape_embed_dim=16,
        pronunciation_vocab_size=32,
        pronunciation_embed_dim=16,
        **SMALL,
    )


def build_roformer(english):
    import rjieba
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    path = _fresh("roformer_tiny")
    chinese = [" ".join(rjieba.cut(line, hmm=False)) for line in CHINESE] * 3
    tokens = _wordpiece(english + chinese, 1536, chinese_words=True)
    _write_vocab_txt(path, tokens)
    # transformers' RoFormer tokenizer keeps whole jieba words only when it reads a
    # tokenizer.json (from vocab.txt alone it splits every CJK character).
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(handle_chinese_chars=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.save(os.path.join(path, "tokenizer.json"))
    _bert_tokenizer_config(path, "RoFormerTokenizer")
    return _save_model(
        path,
        "RoFormerForMaskedLM",
        "RoFormerConfig",
        vocab_size=len(tokens),
        embedding_size=64,
        max_position_embeddings=MAX_LENGTH,
        **SMALL,
    )


BUILDERS = {
    "roberta_tiny": build_roberta,
    "opt_tiny": build_opt,
    "pegasus_tiny": build_pegasus,
    "megatron_bert_tiny": build_megatron_bert,
    "roc_bert_tiny": build_roc_bert,
    "roformer_tiny": build_roformer,
}


def main(argv=None):
    from keras_models.progress import progress_bar

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=sorted(BUILDERS), help="presets to build")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    english = english_corpus()
    bar = progress_bar(
        len(args.names),
        0 if args.quiet else None,
        f"Building {len(args.names)} embedded presets in {HERE}",
        unit_name="preset",
    )
    rows = []
    for name in args.names:
        params = BUILDERS[name](english)
        size = sum(
            os.path.getsize(os.path.join(HERE, name, f))
            for f in os.listdir(os.path.join(HERE, name))
        )
        rows.append(f"{name:<20} {params:>9,} parameters  {size / 1e6:.2f} MB")
        bar.add(1)
    # After the bar, which redraws its own line.
    print("\n".join(rows))


if __name__ == "__main__":
    main()

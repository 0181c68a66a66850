"""Byte-level BPE tokenizers: RoBERTa and OPT (GPT-2 BPE)."""

import os

from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, pre_tokenizers, processors
from tokenizers.models import BPE

from keras_models.tokenizers.base import Tokenizer, read_tokenizer_json


def read_bpe(directory):
    """`(vocab, merges)` from `tokenizer.json`, else from `vocab.json` + `merges.txt`."""
    data = read_tokenizer_json(directory)
    if data is not None and data.get("model", {}).get("type") in ("BPE", None):
        model = data["model"]
        if "vocab" in model and "merges" in model:
            merges = [
                tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]
            ]
            return dict(model["vocab"]), merges
    vocab_file = os.path.join(directory, "vocab.json")
    merges_file = os.path.join(directory, "merges.txt")
    if not (os.path.exists(vocab_file) and os.path.exists(merges_file)):
        raise ValueError(
            f"{directory} has no BPE tokenizer files: expected tokenizer.json or vocab.json + "
            "merges.txt."
        )
    return BPE.read_file(vocab_file, merges_file)


def byte_level_backend(vocab, merges, add_prefix_space):
    backend = RustTokenizer(
        BPE(
            vocab=vocab,
            merges=merges,
            dropout=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
        )
    )
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    backend.decoder = decoders.ByteLevel()
    return backend


class RobertaTokenizer(Tokenizer):
    """RoBERTa's byte-level BPE tokenizer (`<s> A </s>` / `<s> A </s></s> B </s>`).

    Load it with `from_preset` from a directory holding `vocab.json` + `merges.txt` or
    `tokenizer.json` (plus the optional `tokenizer_config.json`).

    Args:
        vocab: dict of token to id.
        merges: list of `(a, b)` merge pairs.
        add_prefix_space: add a space before the text so the first word is encoded like the
            others.
        trim_offsets: leave the leading space out of the offsets.
        **kwargs: special tokens and the options of `Tokenizer`.

    Examples:

    >>> import json, os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "h": 4, "i": 5, "hi": 6}
    >>> with open(os.path.join(d, "vocab.json"), "w") as f:
    ...     json.dump(vocab, f)
    >>> with open(os.path.join(d, "merges.txt"), "w") as f:
    ...     _ = f.write("#version: 0.2\\nh i\\n")
    >>> tokenizer = RobertaTokenizer.from_preset(d)
    >>> tokenizer(["hi", "hih"], padding=True)["input_ids"]
    array([[0, 6, 2, 1],
           [0, 6, 4, 2]], dtype=int32)
    """

    cleanup_applies = False
    default_special_tokens = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }

    def __init__(self, vocab, merges, add_prefix_space=False, trim_offsets=True, **kwargs):
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)
        super().__init__(byte_level_backend(vocab, merges, self.add_prefix_space), **kwargs)

    @classmethod
    def from_files(cls, directory, config):
        vocab, merges = read_bpe(directory)
        kwargs = cls.base_kwargs(config)
        for name in ("add_prefix_space", "trim_offsets"):
            if name in config:
                kwargs[name] = config[name]
        return cls(vocab, merges, **kwargs)

    def build_post_processor(self):
        self.backend.post_processor = processors.RobertaProcessing(
            (self.sep_token, self.sep_token_id),
            (self.cls_token, self.cls_token_id),
            trim_offsets=self.trim_offsets,
            add_prefix_space=self.add_prefix_space,
        )


class OPTTokenizer(Tokenizer):
    """OPT's GPT-2 byte-level BPE tokenizer: `</s> A` / `</s> A </s> B` (`</s>` is the BOS).

    transformers loads OPT checkpoints with `GPT2Tokenizer` and `add_bos_token=True`; this class
    reads the same files (`vocab.json` + `merges.txt` or `tokenizer.json`) and options.

    Args:
        vocab: dict of token to id.
        merges: list of `(a, b)` merge pairs.
        add_bos_token: put the BOS token (`</s>` for OPT) before each segment.
        add_eos_token: put the EOS token after each segment.
        add_prefix_space: add a space before the text.
        post_processor: a `tokenizers` post-processor to use instead of the BOS/EOS template
            (from a `tokenizer.json` when the config sets neither flag).
        **kwargs: special tokens and the options of `Tokenizer`.

    Examples:

    >>> import json, os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "h": 4, "i": 5, "hi": 6}
    >>> with open(os.path.join(d, "vocab.json"), "w") as f:
    ...     json.dump(vocab, f)
    >>> with open(os.path.join(d, "merges.txt"), "w") as f:
    ...     _ = f.write("#version: 0.2\\nh i\\n")
    >>> tokenizer = OPTTokenizer.from_preset(d)
    >>> tokenizer("hih")["input_ids"]
    array([[2, 6, 4]], dtype=int32)
    """

    cleanup_applies = False
    default_special_tokens = {
        "bos_token": "</s>",
        "eos_token": "</s>",
        "unk_token": "</s>",
        "pad_token": "<pad>",
    }

    def __init__(
        self,
        vocab,
        merges,
        add_bos_token=True,
        add_eos_token=False,
        add_prefix_space=False,
        post_processor=None,
        **kwargs,
    ):
        self.add_bos_token = bool(add_bos_token)
        self.add_eos_token = bool(add_eos_token)
        self.add_prefix_space = bool(add_prefix_space)
        self._given_post_processor = post_processor
        super().__init__(byte_level_backend(vocab, merges, self.add_prefix_space), **kwargs)

    @classmethod
    def from_files(cls, directory, config):
        vocab, merges = read_bpe(directory)
        kwargs = cls.base_kwargs(config)
        # A tokenizer_config.json without special tokens means GPT-2's defaults, which is
        # what transformers' GPT2Tokenizer then uses; without any config file, OPT's own.
        if os.path.exists(os.path.join(directory, "tokenizer_config.json")):
            for name, value in (
                ("bos_token", "<|endoftext|>"),
                ("eos_token", "<|endoftext|>"),
                ("unk_token", "<|endoftext|>"),
                ("pad_token", None),
            ):
                kwargs.setdefault(name, value)
            kwargs["add_bos_token"] = config.get("add_bos_token", False)
            kwargs["add_eos_token"] = config.get("add_eos_token", False)
        else:
            for name in ("add_bos_token", "add_eos_token"):
                if name in config:
                    kwargs[name] = config[name]
        for name in ("add_prefix_space",):
            if name in config:
                kwargs[name] = config[name]
        flags_given = "add_bos_token" in config or "add_eos_token" in config
        tokenizer_json = os.path.join(directory, "tokenizer.json")
        if not flags_given and os.path.exists(tokenizer_json):
            kwargs["post_processor"] = RustTokenizer.from_file(tokenizer_json).post_processor
        return cls(vocab, merges, **kwargs)

    def build_post_processor(self):
        if self._given_post_processor is not None:
            self.backend.post_processor = self._given_post_processor
            return
        bos = self.bos_token if self.add_bos_token and self.bos_token is not None else None
        eos = self.eos_token if self.add_eos_token and self.eos_token is not None else None
        first = ([f"{bos}:0"] if bos else []) + ["$A:0"] + ([f"{eos}:0"] if eos else [])
        second = ([f"{bos}:1"] if bos else []) + ["$B:1"] + ([f"{eos}:1"] if eos else [])
        specials = {t: self.token_to_id(t) for t in (bos, eos) if t}
        self.backend.post_processor = processors.TemplateProcessing(
            single=" ".join(first),
            pair=" ".join(first + second),
            special_tokens=list(specials.items()),
        )

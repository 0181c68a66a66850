"""The shared tokenizer base: Hugging Face tokenizer files in, numpy model inputs out.

Every family tokenizer builds one `tokenizers.Tokenizer` (the Rust library, which tokenizes
batches in parallel) with the same normalizer, pre-tokenizer, model and template that
transformers builds for that family, so ids, masks, token types and offsets agree with
transformers' `AutoTokenizer` exactly. This module holds what the families share: reading the
tokenizer files and `tokenizer_config.json`, argument checking, padding and truncation, the
conversion to numpy arrays, and decoding.
"""

import json
import os

import numpy as np
from tokenizers import AddedToken
from tokenizers import Tokenizer as RustTokenizer

from keras_models.arguments import StrictArguments, accepted_arguments, refuse_unknown
from keras_models.presets.resolve import resolve_preset
from keras_models.tokenizers.encoding import batch_encoding, check_return_tensors, stack_rows

SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
PADDING_CHOICES = "True, False, 'longest', 'max_length' or 'do_not_pad'"
TRUNCATION_CHOICES = (
    "True, False, None, 'longest_first', 'only_first', 'only_second' or 'do_not_truncate'"
)
# transformers' placeholder for "no maximum length" in tokenizer_config.json.
_HUGE = int(1e20)
# transformers' clean-up of spaces left before punctuation by WordPiece decoding.
_CLEANUP = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


#: Files that make up a tokenizer in the Hugging Face layouts of the six families.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "word_shape.json",
    "word_pronunciation.json",
)
# A directory holding only tokenizer_config.json has no vocabulary.
_VOCAB_FILES = ("tokenizer.json", "vocab.json", "spiece.model", "vocab.txt")
# Constructor options the family tokenizers keep as attributes of the same name.
_OPTION_NAMES = (
    "add_prefix_space",
    "trim_offsets",
    "add_bos_token",
    "add_eos_token",
    "do_lower_case",
    "offset",
)


def tokenizer_files(directory):
    """`{name: path}` of the tokenizer files in `directory` ({} when it has no vocabulary)."""
    found = {
        name: os.path.join(directory, name)
        for name in TOKENIZER_FILES
        if os.path.isfile(os.path.join(directory, name))
    }
    return found if any(name in found for name in _VOCAB_FILES) else {}


def _token(value):
    """A special token from a config value: a string, or an `AddedToken` serialised as a dict."""
    if value is None or isinstance(value, (str, AddedToken)):
        return value
    if isinstance(value, dict) and "content" in value:
        return AddedToken(
            value["content"],
            single_word=value.get("single_word", False),
            lstrip=value.get("lstrip", False),
            rstrip=value.get("rstrip", False),
            normalized=value.get("normalized", False),
            special=value.get("special", True),
        )
    raise ValueError(f"Cannot read a special token from {value!r}.")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Could not read {path}: {error}") from error


def read_tokenizer_config(directory):
    """The options of `tokenizer_config.json`, completed as transformers completes them.

    Without an `added_tokens_decoder` in `tokenizer_config.json`, transformers takes the
    special tokens of `special_tokens_map.json` (over the config's) and the added tokens of
    `added_tokens.json` and `tokenizer.json`; a named special token whose text is an added
    token takes that token's flags (e.g. RoBERTa's `<mask>` strips the space on its left).
    """
    path = os.path.join(directory, "tokenizer_config.json")
    config = read_json(path) if os.path.exists(path) else {}
    if "added_tokens_decoder" not in config:
        added = {}
        path = os.path.join(directory, "special_tokens_map.json")
        if os.path.exists(path):
            for key, value in read_json(path).items():
                if isinstance(value, dict):
                    value = {**value, "special": True}
                config[key] = value
        path = os.path.join(directory, "added_tokens.json")
        if os.path.exists(path):
            specials = {str(_content(config.get(k))) for k in SPECIAL_TOKEN_NAMES if config.get(k)}
            for text, index in read_json(path).items():
                special = text in specials
                added[str(index)] = {"content": text, "normalized": not special, "special": special}
        data = read_tokenizer_json(directory)
        for token in (data or {}).get("added_tokens", []):
            token = dict(token)
            added[str(token.pop("id"))] = token
        config["added_tokens_decoder"] = added
    by_text = {value["content"]: value for value in config["added_tokens_decoder"].values()}
    for key in SPECIAL_TOKEN_NAMES:
        if config.get(key) is not None and str(_content(config[key])) in by_text:
            config[key] = {"special": False, **by_text[str(_content(config[key]))]}
    return config


def _content(value):
    return value["content"] if isinstance(value, dict) else value


def read_tokenizer_json(directory):
    """The parsed `tokenizer.json` of `directory`, or None when it has none."""
    path = os.path.join(directory, "tokenizer.json")
    return read_json(path) if os.path.exists(path) else None


def _is_text(value):
    return isinstance(value, str)


def _as_list(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value)


class Tokenizer(StrictArguments):
    """Base class of the family tokenizers (see the subclasses for examples).

    Subclasses build the Rust pipeline in `build_backend` and set the class attributes below.

    Args:
        backend: a `tokenizers.Tokenizer` holding the family pipeline (without special tokens).
        additional_special_tokens: further special tokens (kept whole, skipped when decoding).
        added_tokens: `AddedToken`s from `tokenizer_config.json`'s `added_tokens_decoder`.
        model_max_length: default `max_length` for truncation and `"max_length"` padding.
        padding_side: `"right"` or `"left"`.
        truncation_side: `"right"` or `"left"`.
        clean_up_tokenization_spaces: whether `decode` removes spaces before punctuation.
        **special_tokens: `bos_token`, `eos_token`, `unk_token`, `sep_token`, `pad_token`,
            `cls_token`, `mask_token` (strings or `tokenizers.AddedToken`s).
    """

    model_input_names = ("input_ids", "attention_mask")
    #: Accepted besides the constructors' own arguments (`**special_tokens`).
    extra_arguments = SPECIAL_TOKEN_NAMES
    # Names under which the model receives the token types when they are returned.
    default_special_tokens = {}
    # Whether transformers' decode clean-up applies (it is skipped for BPE models).
    cleanup_applies = True

    def __init__(
        self,
        backend,
        additional_special_tokens=(),
        added_tokens=(),
        model_max_length=None,
        padding_side="right",
        truncation_side="right",
        clean_up_tokenization_spaces=False,
        **special_tokens,
    ):
        unknown = sorted(set(special_tokens) - set(SPECIAL_TOKEN_NAMES))
        if unknown:
            raise ValueError(
                f"Unknown tokenizer arguments {unknown}; special tokens are {SPECIAL_TOKEN_NAMES}."
            )
        if not isinstance(backend, RustTokenizer):
            raise ValueError(f"`backend` must be a `tokenizers.Tokenizer`; got {type(backend)}.")
        for name, value in (("padding_side", padding_side), ("truncation_side", truncation_side)):
            if value not in ("right", "left"):
                raise ValueError(f"`{name}` must be 'right' or 'left'; got {value!r}.")
        self.backend = backend
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        if model_max_length is not None and int(model_max_length) >= _HUGE:
            model_max_length = None
        self.model_max_length = None if model_max_length is None else int(model_max_length)
        tokens = dict(self.default_special_tokens)
        tokens.update(special_tokens)
        self._special = {name: _token(tokens.get(name)) for name in SPECIAL_TOKEN_NAMES}
        self.additional_special_tokens = [_token(t) for t in additional_special_tokens]
        # Same order as transformers: tokens listed in the config by id, then the named special
        # tokens, then the additional ones; tokens already in the vocabulary keep their id.
        ordered = sorted(added_tokens, key=lambda pair: pair[0])
        known = {str(token) for _, token in ordered}
        for _, token in ordered:
            if token.special:
                self.backend.add_special_tokens([token])
            else:
                self.backend.add_tokens([token])
        extra = [t for t in self._special.values() if t is not None]
        extra += self.additional_special_tokens
        for token in extra:
            if str(token) in known:
                continue
            known.add(str(token))
            if isinstance(token, str):
                token = AddedToken(token, special=True, normalized=False)
            self.backend.add_special_tokens([token])
        self._cache_settings = None
        self.build_post_processor()

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_preset(cls, preset, *, verbose=None, **kwargs):
        """Loads the tokenizer from a Hugging Face tokenizer directory.

        Args:
            preset: a registered preset name, `hf://owner/name`, a Hugging Face model or
                tokenizer directory, or a Keras preset directory holding the tokenizer files.
            verbose: the progress bars of a hub download (see `keras_models.progress`).
            **kwargs: overrides of `tokenizer_config.json` options (e.g. `do_lower_case`,
                `model_max_length`, special tokens).
        """
        refuse_unknown(f"{cls.__name__}.from_preset", kwargs, accepted_arguments(cls))
        directory, _ = resolve_preset(preset, verbose=verbose)
        config = read_tokenizer_config(directory)
        config.update(kwargs)
        tokenizer = cls.from_files(directory, config)
        if not kwargs:
            # `save_files` copies these, so a saved model keeps its exact tokenizer files.
            tokenizer.source_files = tokenizer_files(directory)
        return tokenizer

    @classmethod
    def from_pretrained(cls, preset, **kwargs):
        """`from_preset`, under transformers' name."""
        return cls.from_preset(preset, **kwargs)

    def save_files(self):
        """`{file name: path or bytes}`: the files `from_preset` reads this tokenizer back from.

        A tokenizer loaded with `from_preset` gives the files it was read from; one built in
        memory gives `tokenizer.json` and `tokenizer_config.json` written from its pipeline.
        """
        files = getattr(self, "source_files", None)
        if files:
            return dict(files)
        config = {name: _str(token) for name, token in self._special.items() if token is not None}
        config.update(
            {
                "tokenizer_class": type(self).__name__,
                "padding_side": self.padding_side,
                "truncation_side": self.truncation_side,
                "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            }
        )
        if self.model_max_length is not None:
            config["model_max_length"] = self.model_max_length
        if self.additional_special_tokens:
            config["additional_special_tokens"] = [_str(t) for t in self.additional_special_tokens]
        config.update({k: getattr(self, k) for k in _OPTION_NAMES if hasattr(self, k)})
        files = {
            "tokenizer.json": self.backend.to_str().encode("utf-8"),
            "tokenizer_config.json": json.dumps(config, indent=2).encode("utf-8"),
        }
        for name in ("word_shape", "word_pronunciation"):
            if hasattr(self, name):
                files[f"{name}.json"] = json.dumps(getattr(self, name)).encode("utf-8")
        return files

    @classmethod
    def from_files(cls, directory, config):
        raise NotImplementedError

    @staticmethod
    def config_added_tokens(config):
        """`(id, AddedToken)` pairs from `added_tokens_decoder` in `tokenizer_config.json`."""
        decoder = config.get("added_tokens_decoder") or {}
        return [
            (int(index), _token({"special": False, **value})) for index, value in decoder.items()
        ]

    @classmethod
    def base_kwargs(cls, config):
        """Constructor arguments every family reads from `tokenizer_config.json`."""
        kwargs = {name: config[name] for name in SPECIAL_TOKEN_NAMES if name in config}
        kwargs["added_tokens"] = cls.config_added_tokens(config)
        for name in (
            "model_max_length",
            "padding_side",
            "truncation_side",
            "clean_up_tokenization_spaces",
        ):
            if name in config:
                kwargs[name] = config[name]
        return kwargs

    @staticmethod
    def find_file(directory, name):
        path = os.path.join(directory, name)
        return path if os.path.exists(path) else None

    def build_post_processor(self):
        """Sets the template that adds the family's special tokens (subclasses override)."""

    # --- special tokens -------------------------------------------------------------------
    def token_to_id(self, token):
        """The id of `token`, or None when it is not in the vocabulary."""
        return None if token is None else self.backend.token_to_id(str(token))

    def id_to_token(self, index):
        return self.backend.id_to_token(int(index))

    def _special_id(self, name):
        return self.token_to_id(self._special[name])

    @property
    def vocab_size(self):
        """The size of the base vocabulary, without added tokens (as in transformers)."""
        return self.backend.get_vocab_size(with_added_tokens=False)

    def __len__(self):
        return self.backend.get_vocab_size(with_added_tokens=True)

    def get_vocab(self):
        return self.backend.get_vocab(with_added_tokens=True)

    bos_token = property(lambda self: _str(self._special["bos_token"]))
    eos_token = property(lambda self: _str(self._special["eos_token"]))
    unk_token = property(lambda self: _str(self._special["unk_token"]))
    sep_token = property(lambda self: _str(self._special["sep_token"]))
    pad_token = property(lambda self: _str(self._special["pad_token"]))
    cls_token = property(lambda self: _str(self._special["cls_token"]))
    mask_token = property(lambda self: _str(self._special["mask_token"]))
    bos_token_id = property(lambda self: self._special_id("bos_token"))
    eos_token_id = property(lambda self: self._special_id("eos_token"))
    unk_token_id = property(lambda self: self._special_id("unk_token"))
    sep_token_id = property(lambda self: self._special_id("sep_token"))
    pad_token_id = property(lambda self: self._special_id("pad_token"))
    cls_token_id = property(lambda self: self._special_id("cls_token"))
    mask_token_id = property(lambda self: self._special_id("mask_token"))

    @property
    def all_special_tokens(self):
        tokens = [_str(t) for t in self._special.values() if t is not None]
        tokens += [_str(t) for t in self.additional_special_tokens]
        return list(dict.fromkeys(tokens))

    @property
    def all_special_ids(self):
        return [self.token_to_id(t) for t in self.all_special_tokens]

    # --- encoding ---------------------------------------------------------------------------
    def tokenize(self, text, text_pair=None, add_special_tokens=False):
        """The token strings of one text (or pair)."""
        if not _is_text(text) or (text_pair is not None and not _is_text(text_pair)):
            raise ValueError("`tokenize` takes one string (and optionally a `text_pair` string).")
        pair = (text, text_pair) if text_pair is not None else text
        self._configure(None, None, None, None)
        return self.backend.encode(*_pair_args(pair), add_special_tokens=add_special_tokens).tokens

    def __call__(
        self,
        text,
        text_pair=None,
        padding=False,
        truncation=None,
        max_length=None,
        return_offsets_mapping=False,
        return_token_type_ids=None,
        return_attention_mask=None,
        add_special_tokens=True,
        padding_side=None,
        pad_to_multiple_of=None,
        stride=0,
        return_overflowing_tokens=False,
        is_split_into_words=False,
        return_sequence_ids=False,
        return_word_ids=False,
        return_tensors="np",
    ):
        """Tokenizes a string, a list of strings, or text pairs, as transformers does.

        Args:
            text: a string, a list of strings, or a list of `(text, text_pair)` pairs.
            text_pair: the second segments: a string for a single `text`, or a list as long as
                `text`.
            padding: `True` or `"longest"` (to the longest sequence in the batch),
                `"max_length"` (to `max_length`), or `False` / `"do_not_pad"`.
            truncation: `True` or `"longest_first"`, `"only_first"`, `"only_second"`, or
                `False` / `None` / `"do_not_truncate"`. A `max_length` given with neither padding
                nor truncation truncates longest-first, as in transformers.
            max_length: the length limit for truncation and `"max_length"` padding; defaults to
                `model_max_length` from the tokenizer config.
            return_offsets_mapping: also return `offset_mapping`, `[batch, seq, 2]` character
                spans into the input text (`(0, 0)` for special and padding tokens).
            return_token_type_ids: whether to return `token_type_ids`; the default is the
                family's (returned for the models that take them).
            return_attention_mask: whether to return `attention_mask` (default True).
            add_special_tokens: whether to add the family's special tokens.
            padding_side: `"right"` or `"left"`; defaults to the tokenizer's `padding_side`.
            pad_to_multiple_of: pad the length up to a multiple of this number.
            stride: with `return_overflowing_tokens`, how many tokens consecutive windows of a
                truncated text share (transformers' `stride`).
            return_overflowing_tokens: return every window of a truncated input instead of the
                first only (each window is one row) and `overflow_to_sample_mapping`, the input
                index of each row, as transformers' fast tokenizers do.
            is_split_into_words: `text` (and `text_pair`) hold words: a list of strings is one
                example, a list of such lists a batch.
            return_sequence_ids: also return `sequence_ids`: 0 for tokens of `text`, 1 for
                tokens of `text_pair`, -1 for special and padding tokens (transformers'
                `BatchEncoding.sequence_ids` with -1 for None).
            return_word_ids: also return `word_ids`: the word index of each token, -1 for
                special and padding tokens (transformers' `BatchEncoding.word_ids`).
            return_tensors: `"np"` (numpy, the default: Keras models take it on every backend),
                `"tf"`, `"pt"` or `"jax"` (that library's tensors; it must be installed), or
                None (Python lists, as transformers' default: a single text gives flat lists
                and a batch may be ragged). Tensors need rows of one length: a ragged batch
                needs `padding`.

        Returns:
            A `BatchEncoding`: a dict, whose keys are also attributes, of int32 arrays or
            tensors of shape `[batch, seq]` (a single string gives a batch of one):
            `input_ids`, `attention_mask`, and where asked or usual for the family
            `token_type_ids` and family extras; `offset_mapping` is `[batch, seq, 2]`. Pass it
            to a model as `model(**inputs)` or `model(inputs)`.

        Raises:
            ValueError: for a bad argument, a ragged batch asked for as tensors, or a tensor
                library that is not installed.
        """
        return_tensors = check_return_tensors(return_tensors)
        if is_split_into_words:
            batch, single = self._word_batch(text, text_pair)
        else:
            batch, single = self._batch(text, text_pair), _is_text(text)
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
            raise ValueError(f"`stride` must be a non-negative int; got {stride!r}.")
        pad, trunc, max_length = self._strategies(padding, truncation, max_length)
        if pad_to_multiple_of is not None and (
            not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1
        ):
            raise ValueError(
                f"`pad_to_multiple_of` must be a positive int or None; got {pad_to_multiple_of!r}."
            )
        if pad and trunc and pad_to_multiple_of and max_length and max_length % pad_to_multiple_of:
            raise ValueError(
                f"With both truncation and padding, `max_length` ({max_length}) must be a "
                f"multiple of `pad_to_multiple_of` ({pad_to_multiple_of})."
            )
        padding_side = self.padding_side if padding_side is None else padding_side
        if padding_side not in ("right", "left"):
            raise ValueError(f"`padding_side` must be 'right' or 'left'; got {padding_side!r}.")
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = True
        outputs = self._encode(
            batch,
            pad=pad,
            trunc=trunc,
            max_length=max_length,
            offsets=bool(return_offsets_mapping),
            token_types=bool(return_token_type_ids),
            attention_mask=bool(return_attention_mask),
            add_special_tokens=bool(add_special_tokens),
            padding_side=padding_side,
            pad_to_multiple_of=pad_to_multiple_of,
            stride=int(stride),
            overflow=bool(return_overflowing_tokens),
            pretokenized=bool(is_split_into_words),
            sequence_ids=bool(return_sequence_ids),
            word_ids=bool(return_word_ids),
        )
        # transformers keeps the batch axis of windows (several rows from one text).
        unbatch = single and not return_overflowing_tokens
        return batch_encoding(outputs, return_tensors, unbatch=unbatch)

    def _word_batch(self, text, text_pair):
        """A list of word lists or `(words_a, words_b)` tuples (`is_split_into_words=True`),
        and whether `text` was one example rather than a batch."""

        def is_words(value):
            return isinstance(value, (list, tuple)) and all(_is_text(w) for w in value)

        if isinstance(text, np.ndarray):
            text = text.tolist()
        if isinstance(text_pair, np.ndarray):
            text_pair = text_pair.tolist()
        single = is_words(text) and (len(text) == 0 or _is_text(text[0]))
        texts = [text] if single else text
        pairs = None
        if text_pair is not None:
            pairs = [text_pair] if single else text_pair
        if not isinstance(texts, (list, tuple)) or not all(is_words(t) for t in texts):
            raise ValueError(
                "With `is_split_into_words=True`, `text` must be a list of words (strings) or a "
                "list of such lists."
            )
        if pairs is None:
            return [list(t) for t in texts], single
        if not isinstance(pairs, (list, tuple)) or not all(is_words(t) for t in pairs):
            raise ValueError(
                "With `is_split_into_words=True`, `text_pair` must be like `text`: a list of "
                "words or a list of such lists."
            )
        if len(pairs) != len(texts):
            raise ValueError(f"`text` has {len(texts)} entries but `text_pair` has {len(pairs)}.")
        return [(list(a), list(b)) for a, b in zip(texts, pairs)], single

    def _batch(self, text, text_pair):
        """A list of strings or `(a, b)` tuples."""
        if isinstance(text, np.ndarray):
            text = text.tolist()
        if isinstance(text_pair, np.ndarray):
            text_pair = text_pair.tolist()
        if _is_text(text):
            if text_pair is None:
                return [text]
            if not _is_text(text_pair):
                raise ValueError(
                    "With a single string `text`, `text_pair` must be a string or None; got "
                    f"{type(text_pair).__name__}."
                )
            return [(text, text_pair)]
        if not isinstance(text, (list, tuple)):
            raise ValueError(
                "`text` must be a string, a list of strings, or a list of (text, text_pair) "
                f"pairs; got {type(text).__name__}."
            )
        text = list(text)
        if text_pair is not None:
            if _is_text(text_pair) or not isinstance(text_pair, (list, tuple)):
                raise ValueError(
                    "With a list `text`, `text_pair` must be a list of strings of the same length."
                )
            text_pair = list(text_pair)
            if len(text_pair) != len(text):
                raise ValueError(
                    f"`text` has {len(text)} entries but `text_pair` has {len(text_pair)}."
                )
            bad = [
                i
                for i, (a, b) in enumerate(zip(text, text_pair))
                if not (_is_text(a) and _is_text(b))
            ]
            if bad:
                raise ValueError(
                    f"`text` and `text_pair` must hold strings; entry {bad[0]} does not."
                )
            return list(zip(text, text_pair))
        for i, item in enumerate(text):
            if _is_text(item):
                continue
            if (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and _is_text(item[0])
                and _is_text(item[1])
            ):
                text[i] = (item[0], item[1])
                continue
            raise ValueError(
                f"`text[{i}]` must be a string or a (text, text_pair) pair of strings; got {item!r}."
            )
        return text

    def _strategies(self, padding, truncation, max_length):
        if max_length is not None and (
            isinstance(max_length, bool)
            or not isinstance(max_length, (int, np.integer))
            or max_length < 1
        ):
            raise ValueError(f"`max_length` must be a positive int or None; got {max_length!r}.")
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"
        if padding is True or padding == "longest":
            pad = "longest"
        elif padding is False or padding is None or padding == "do_not_pad":
            pad = None
        elif padding == "max_length":
            pad = "max_length"
        else:
            raise ValueError(f"`padding` must be one of {PADDING_CHOICES}; got {padding!r}.")
        if truncation is True:
            trunc = "longest_first"
        elif truncation is False or truncation is None or truncation == "do_not_truncate":
            trunc = None
        elif truncation in ("longest_first", "only_first", "only_second"):
            trunc = truncation
        else:
            raise ValueError(
                f"`truncation` must be one of {TRUNCATION_CHOICES}; got {truncation!r}."
            )
        if max_length is None and (pad == "max_length" or trunc is not None):
            if self.model_max_length is None:
                if pad == "max_length":
                    raise ValueError(
                        "`padding='max_length'` needs `max_length` (this tokenizer has no "
                        "`model_max_length`)."
                    )
                trunc = None
            else:
                max_length = self.model_max_length
        if pad is not None and self.pad_token_id is None:
            raise ValueError("Padding needs a `pad_token`, and this tokenizer has none.")
        return pad, trunc, None if max_length is None else int(max_length)

    def _configure(self, pad, trunc, max_length, padding_side, pad_to_multiple_of=None, stride=0):
        """Sets padding and truncation on the Rust tokenizer (only when they change)."""
        settings = (pad, trunc, max_length, padding_side, pad_to_multiple_of, stride)
        if settings == self._cache_settings:
            return
        self._cache_settings = None
        if trunc is None:
            self.backend.no_truncation()
        else:
            try:
                self.backend.enable_truncation(
                    max_length, stride=stride, strategy=trunc, direction=self.truncation_side
                )
            except Exception as error:  # the Rust library raises plain Exceptions
                raise ValueError(
                    f"Invalid truncation settings (max_length={max_length}, stride={stride}): "
                    f"{error}"
                ) from error
        if pad is None:
            self.backend.no_padding()
        else:
            self.backend.enable_padding(
                direction=padding_side,
                pad_id=self.pad_token_id,
                pad_type_id=0,
                pad_token=self.pad_token,
                length=max_length if pad == "max_length" else None,
                pad_to_multiple_of=pad_to_multiple_of,
            )
        self._cache_settings = settings

    def _run_backend(self, batch, pad, trunc, max_length, add_special_tokens, offsets, **kwargs):
        self._configure(
            pad,
            trunc,
            max_length,
            kwargs["padding_side"],
            kwargs["pad_to_multiple_of"],
            kwargs.get("stride", 0),
        )
        pretokenized = kwargs.get("pretokenized", False)
        try:
            # `encode_batch_fast` (tokenizers 0.23) gives the overflowing windows of a pair the
            # first text's token types throughout.
            if offsets or pretokenized or kwargs.get("overflow"):
                return self.backend.encode_batch(
                    batch, add_special_tokens=add_special_tokens, is_pretokenized=pretokenized
                )
            # The fast path skips computing character offsets.
            return self.backend.encode_batch_fast(batch, add_special_tokens=add_special_tokens)
        except Exception as error:  # the Rust library raises plain Exceptions
            raise ValueError(f"Tokenization failed: {error}") from error

    def _encode(
        self, batch, pad, trunc, max_length, offsets, token_types, attention_mask, **kwargs
    ):
        encodings = self._run_backend(batch, pad, trunc, max_length, offsets=offsets, **kwargs)
        outputs = {}
        if kwargs.get("overflow"):
            # transformers' order: each input's first window, then its overflowing windows.
            windows, mapping = [], []
            for index, encoding in enumerate(encodings):
                for window in [encoding, *encoding.overflowing]:
                    windows.append(window)
                    mapping.append(index)
            encodings = windows
            outputs["overflow_to_sample_mapping"] = np.asarray(mapping, dtype=np.int32)
        outputs["input_ids"] = stack_rows([e.ids for e in encodings])
        if token_types:
            outputs["token_type_ids"] = stack_rows([e.type_ids for e in encodings])
        if attention_mask:
            outputs["attention_mask"] = stack_rows([e.attention_mask for e in encodings])
        if offsets:
            outputs["offset_mapping"] = stack_rows([e.offsets for e in encodings], extra=(2,))
        if kwargs.get("sequence_ids"):
            outputs["sequence_ids"] = stack_rows(
                [_none_to_minus_one(e.sequence_ids) for e in encodings]
            )
        if kwargs.get("word_ids"):
            outputs["word_ids"] = stack_rows([_none_to_minus_one(e.word_ids) for e in encodings])
        return outputs

    # --- decoding ---------------------------------------------------------------------------
    def _ids_list(self, ids, name):
        if hasattr(ids, "numpy") or type(ids).__module__.split(".")[0] in (
            "jax",
            "jaxlib",
            "torch",
        ):
            ids = np.asarray(ids)
        if isinstance(ids, (int, np.integer)):
            return [int(ids)]
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(
                    f"`{name}` must be a 1-D sequence of int ids; got {ids.dtype} {ids.shape}."
                )
            return ids.tolist()
        if isinstance(ids, (list, tuple)) and all(isinstance(i, (int, np.integer)) for i in ids):
            return [int(i) for i in ids]
        raise ValueError(f"`{name}` must be a 1-D sequence of int ids; got {type(ids).__name__}.")

    def _finish(self, text, clean_up_tokenization_spaces):
        cleanup = (
            self.clean_up_tokenization_spaces
            if clean_up_tokenization_spaces is None
            else clean_up_tokenization_spaces
        )
        if cleanup and self.cleanup_applies:
            for before, after in _CLEANUP:
                text = text.replace(before, after)
        return text

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """Turns ids back into text.

        Args:
            token_ids: a 1-D list, numpy array or tensor of ids.
            skip_special_tokens: drop special tokens (padding included).
            clean_up_tokenization_spaces: remove spaces before punctuation; defaults to the
                tokenizer config.
        """
        ids = self._ids_list(token_ids, "token_ids")
        text = self.backend.decode(ids, skip_special_tokens=skip_special_tokens)
        return self._finish(text, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """`decode` for each row of a 2-D array or list of id lists."""
        if hasattr(sequences, "numpy") or type(sequences).__module__.split(".")[0] in (
            "jax",
            "jaxlib",
            "torch",
        ):
            sequences = np.asarray(sequences)
        if isinstance(sequences, np.ndarray):
            if sequences.ndim != 2:
                raise ValueError(f"`sequences` must be 2-D; got shape {sequences.shape}.")
            sequences = list(sequences)
        if not isinstance(sequences, (list, tuple)):
            raise ValueError(
                f"`sequences` must be a list of id sequences; got {type(sequences).__name__}."
            )
        rows = [self._ids_list(row, "sequences") for row in sequences]
        texts = self.backend.decode_batch(rows, skip_special_tokens=skip_special_tokens)
        return [self._finish(t, clean_up_tokenization_spaces) for t in texts]

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


def _str(token):
    return None if token is None else str(token)


def _none_to_minus_one(values):
    return [-1 if v is None else v for v in values]


def _pair_args(item):
    return item if isinstance(item, tuple) else (item,)

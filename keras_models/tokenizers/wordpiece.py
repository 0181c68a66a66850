"""WordPiece tokenizers: MegatronBERT (BERT), RoCBert (BERT + shape and pronunciation ids) and
RoFormer (jieba pre-tokenization)."""

import os

import numpy as np
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from keras_models.tokenizers.base import Tokenizer, read_json, read_tokenizer_json

BERT_SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


def read_wordpiece_vocab(directory):
    """The token -> id dict from `tokenizer.json`, else from `vocab.txt`."""
    data = read_tokenizer_json(directory)
    if data is not None and data.get("model", {}).get("type") == "WordPiece":
        return dict(data["model"]["vocab"])
    path = os.path.join(directory, "vocab.txt")
    if not os.path.exists(path):
        raise ValueError(
            f"{directory} has no WordPiece tokenizer files: expected tokenizer.json or vocab.txt."
        )
    return WordPiece.read_file(path)


class _BertStyle(Tokenizer):
    """`[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` packing with 0/1 token types."""

    default_special_tokens = BERT_SPECIAL_TOKENS
    option_names = ("do_lower_case", "strip_accents", "tokenize_chinese_chars")

    @classmethod
    def from_files(cls, directory, config):
        kwargs = cls.base_kwargs(config)
        kwargs.update({k: config[k] for k in cls.option_names if k in config})
        return cls(read_wordpiece_vocab(directory), **cls.extra_kwargs(directory, config), **kwargs)

    @classmethod
    def extra_kwargs(cls, directory, config):
        return {}

    def build_post_processor(self):
        cls_, sep = self.cls_token, self.sep_token
        self.backend.post_processor = processors.TemplateProcessing(
            single=f"{cls_}:0 $A:0 {sep}:0",
            pair=f"{cls_}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls_, self.cls_token_id), (sep, self.sep_token_id)],
        )


def _bert_backend(vocab, unk_token, normalizer):
    backend = RustTokenizer(WordPiece(vocab, unk_token=str(unk_token)))
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    return backend


class MegatronBertTokenizer(_BertStyle):
    """MegatronBERT's WordPiece tokenizer (BERT's: `vocab.txt`, cased or uncased).

    Args:
        vocab: dict of token to id.
        do_lower_case: lowercase the text (and strip accents unless `strip_accents=False`).
        strip_accents: strip accents; None follows `do_lower_case`.
        tokenize_chinese_chars: split CJK characters into single tokens.
        **kwargs: special tokens and the options of `Tokenizer`.

    Examples:

    >>> vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "hi": 5, "##s": 6}
    >>> tokenizer = MegatronBertTokenizer(vocab)
    >>> out = tokenizer("His", "hi")
    >>> out["input_ids"], out["token_type_ids"]
    (array([[2, 5, 6, 3, 5, 3]], dtype=int32), array([[0, 0, 0, 0, 1, 1]], dtype=int32))
    """

    model_input_names = ("input_ids", "token_type_ids", "attention_mask")

    def __init__(
        self, vocab, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True, **kwargs
    ):
        self.do_lower_case = bool(do_lower_case)
        unk = kwargs.get("unk_token", "[UNK]")
        normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=tokenize_chinese_chars,
            strip_accents=strip_accents,
            lowercase=do_lower_case,
        )
        super().__init__(_bert_backend(vocab, _content(unk), normalizer), **kwargs)


class RoCBertTokenizer(_BertStyle):
    """RoCBert's tokenizer: BERT WordPiece plus per-token shape and pronunciation ids.

    Besides `input_ids` and `attention_mask` it returns `input_shape_ids` and
    `input_pronunciation_ids`: each token looked up in `word_shape.json` and
    `word_pronunciation.json` (a token missing from a map, and the `[CLS]`/`[SEP]` tokens, get
    the map's `[UNK]` entry; padding gets `pad_token_id`). Truncation follows transformers'
    (Python) RoCBert tokenizer, whose longest-first split of a pair differs from the Rust one.

    Args:
        vocab: dict of token to id.
        word_shape: dict of token to shape id (must hold `"[UNK]"`).
        word_pronunciation: dict of token to pronunciation id (must hold `"[UNK]"`).
        do_lower_case: lowercase the text (and strip accents unless `strip_accents=False`).
        strip_accents: strip accents; None follows `do_lower_case`.
        tokenize_chinese_chars: split CJK characters into single tokens.
        **kwargs: special tokens and the options of `Tokenizer`.

    Examples:

    >>> vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "你": 5, "好": 6}
    >>> tokenizer = RoCBertTokenizer(vocab, {"[UNK]": 9, "你": 7}, {"[UNK]": 8, "好": 3})
    >>> out = tokenizer(["你好", "好"], padding=True)
    >>> out["input_shape_ids"], out["input_pronunciation_ids"]
    (array([[9, 7, 9, 9],
           [9, 9, 9, 0]], dtype=int32), array([[8, 8, 3, 8],
           [8, 3, 8, 0]], dtype=int32))
    """

    def __init__(
        self,
        vocab,
        word_shape,
        word_pronunciation,
        do_lower_case=True,
        strip_accents=None,
        tokenize_chinese_chars=True,
        **kwargs,
    ):
        self.do_lower_case = bool(do_lower_case)
        for name, table in (("word_shape", word_shape), ("word_pronunciation", word_pronunciation)):
            if not isinstance(table, dict) or "[UNK]" not in table:
                raise ValueError(f"`{name}` must be a dict of token to id holding '[UNK]'.")
        unk = kwargs.get("unk_token", "[UNK]")
        # transformers' Python BERT tokenizer composes characters (NFC) after the cleaning and
        # CJK splitting and before lowercasing / accent stripping.
        normalizer = normalizers.Sequence(
            [
                normalizers.BertNormalizer(
                    clean_text=True,
                    handle_chinese_chars=tokenize_chinese_chars,
                    strip_accents=False,
                    lowercase=False,
                ),
                normalizers.NFC(),
                normalizers.BertNormalizer(
                    clean_text=False,
                    handle_chinese_chars=False,
                    strip_accents=strip_accents,
                    lowercase=do_lower_case,
                ),
            ]
        )
        backend = _bert_backend(vocab, _content(unk), normalizer)
        # transformers' Python tokenizer joins tokens with spaces and leaves " ." alone.
        backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
        super().__init__(backend, **kwargs)
        self.word_shape = dict(word_shape)
        self.word_pronunciation = dict(word_pronunciation)
        self._shape_by_id = self._lookup_table(self.word_shape)
        self._pronunciation_by_id = self._lookup_table(self.word_pronunciation)

    def _lookup_table(self, table):
        vocab = self.get_vocab()
        unk_token = self.unk_token
        # A token absent from the map gets the entry of the tokenizer's unknown token.
        fallback = table.get(unk_token, table["[UNK]"])
        out = np.full(max(vocab.values()) + 1, fallback, dtype=np.int32)
        for token, index in vocab.items():
            out[index] = table.get(token, fallback)
        return out

    @classmethod
    def extra_kwargs(cls, directory, config):
        maps = {}
        for key, name in (
            ("word_shape", "word_shape.json"),
            ("word_pronunciation", "word_pronunciation.json"),
        ):
            path = os.path.join(directory, name)
            if not os.path.exists(path):
                raise ValueError(f"{directory} has no {name}, which RoCBertTokenizer needs.")
            maps[key] = read_json(path)
        return maps

    def _encode(
        self, batch, pad, trunc, max_length, offsets, token_types, attention_mask, **kwargs
    ):
        if any(kwargs.get(k) for k in ("overflow", "pretokenized", "sequence_ids", "word_ids")):
            return self._encode_with_backend(
                batch, pad, trunc, max_length, offsets, token_types, attention_mask, **kwargs
            )
        rows = self._packed_rows(batch, trunc, max_length, offsets, kwargs["add_special_tokens"])
        return self._padded(rows, pad, max_length, token_types, attention_mask, offsets, **kwargs)

    def _packed_rows(self, batch, trunc, max_length, offsets, add_special):
        """`(ids, token types, special mask, offsets)` of each example, truncated, unpadded."""
        firsts = [item[0] if isinstance(item, tuple) else item for item in batch]
        seconds = [item[1] for item in batch if isinstance(item, tuple)]
        encoded = self._run_backend(
            firsts + seconds,
            None,
            None,
            None,
            add_special_tokens=False,
            offsets=offsets,
            padding_side="right",
            pad_to_multiple_of=None,
        )
        first_enc, second_enc = encoded[: len(firsts)], iter(encoded[len(firsts) :])
        cls_id, sep_id = self.cls_token_id, self.sep_token_id
        rows = []
        for item, enc_a in zip(batch, first_enc):
            enc_b = next(second_enc) if isinstance(item, tuple) else None
            a = np.asarray(enc_a.ids, dtype=np.int32)
            b = None if enc_b is None else np.asarray(enc_b.ids, dtype=np.int32)
            off_a = np.asarray(enc_a.offsets, dtype=np.int32).reshape(-1, 2) if offsets else None
            off_b = (
                np.asarray(enc_b.offsets, dtype=np.int32).reshape(-1, 2)
                if offsets and enc_b is not None
                else None
            )
            specials = (3 if b is not None else 2) if add_special else 0
            total = len(a) + (0 if b is None else len(b)) + specials
            if trunc is not None and max_length is not None and total > max_length:
                keep_a, keep_b = self._truncated_lengths(len(a), b, total - max_length, trunc)
                a, off_a = self._cut(a, keep_a), self._cut(off_a, keep_a)
                if b is not None:
                    b, off_b = self._cut(b, keep_b), self._cut(off_b, keep_b)
            rows.append(self._pack(a, b, off_a, off_b, add_special, cls_id, sep_id))
        return rows

    def _padded(self, rows, pad, max_length, token_types, attention_mask, offsets, **kwargs):
        """The outputs of the packed rows: padded arrays, or lists of ragged rows."""
        features = [self._row_features(*row) for row in rows]
        names = ["input_ids", "input_shape_ids", "input_pronunciation_ids"]
        names += ["token_type_ids"] * token_types + ["attention_mask"] * attention_mask
        names += ["offset_mapping"] * offsets
        lengths = [len(f["input_ids"]) for f in features]
        if pad is None and len(set(lengths)) > 1:  # ragged rows: lists, or an error for tensors
            return {name: [f[name] for f in features] for name in names}
        if pad is None:
            width = lengths[0] if lengths else 0
        else:
            width = max(lengths, default=0) if pad == "longest" else max_length
            multiple = kwargs["pad_to_multiple_of"]
            if multiple and width % multiple:
                width = (width // multiple + 1) * multiple
            width = max(width, max(lengths, default=0))
        pad_id = self.pad_token_id if pad is not None else 0
        return {
            name: _pad_rows(
                [f[name] for f in features],
                width,
                pad_id if name in names[:3] else 0,
                kwargs["padding_side"],
                extra=(2,) if name == "offset_mapping" else (),
            )
            for name in names
        }

    def _row_features(self, ids, types, special, offsets):
        """Every output of one unpadded example (special tokens take the maps' `[UNK]`)."""
        return {
            "input_ids": ids,
            "input_shape_ids": np.where(special, self.word_shape["[UNK]"], self._shape_by_id[ids]),
            "input_pronunciation_ids": np.where(
                special, self.word_pronunciation["[UNK]"], self._pronunciation_by_id[ids]
            ),
            "token_type_ids": types,
            "attention_mask": np.ones(len(ids), dtype=np.int32),
            "offset_mapping": offsets,
        }

    def _encode_with_backend(self, batch, pad, trunc, max_length, *args, **kwargs):
        """The Rust pipeline (windows, pre-split words) plus the shape and pronunciation ids.

        transformers' RoCBert tokenizer is Python-only and has no fast equivalent of these
        options; the windows here follow transformers' fast tokenizers.
        """
        outputs = super()._encode(batch, pad, trunc, max_length, *args, **kwargs)
        for name, table, fallback in (
            ("input_shape_ids", self._shape_by_id, self.word_shape["[UNK]"]),
            (
                "input_pronunciation_ids",
                self._pronunciation_by_id,
                self.word_pronunciation["[UNK]"],
            ),
        ):

            def lookup(ids, table=table, fallback=fallback):
                special = np.isin(ids, [self.cls_token_id, self.sep_token_id])
                values = np.where(special, fallback, table[ids])
                return np.where(ids == self.pad_token_id, self.pad_token_id, values).astype(
                    np.int32
                )

            ids = outputs["input_ids"]
            # A ragged batch (no padding) comes as a list of rows.
            outputs[name] = (
                lookup(ids)
                if isinstance(ids, np.ndarray)
                else [lookup(np.asarray(row, dtype=np.int32)) for row in ids]
            )
        return outputs

    def _truncated_lengths(self, len_a, b, remove, trunc):
        """Kept lengths of the two segments, by the rules of transformers' Python tokenizers."""
        len_b = None if b is None else len(b)
        if trunc == "only_first" or (trunc == "longest_first" and b is None):
            return max(len_a - remove, 0), len_b
        if trunc == "only_second":
            if not len_b:
                return len_a, len_b
            return len_a, max(len_b - remove, 0)
        first_remove = min(abs(len_b - len_a), remove)
        second_remove = remove - first_remove
        if len_a > len_b:
            cut_a = first_remove + second_remove // 2
            cut_b = second_remove - second_remove // 2
        else:
            cut_a = second_remove // 2
            cut_b = first_remove + second_remove - second_remove // 2
        return max(len_a - cut_a, 0), max(len_b - cut_b, 0)

    def _cut(self, values, keep):
        if values is None:
            return None
        if self.truncation_side == "left":
            return values[len(values) - keep :]
        return values[:keep]

    @staticmethod
    def _pack(a, b, off_a, off_b, add_special, cls_id, sep_id):
        """`(ids, token types, special mask, offsets)` of one example."""
        zero = np.zeros((1, 2), dtype=np.int32)
        if not add_special:
            parts = [a] if b is None else [a, b]
            ids = np.concatenate(parts)
            types = np.zeros(len(ids), dtype=np.int32)
            special = np.zeros(len(ids), dtype=bool)
            offs = (
                None if off_a is None else np.concatenate([off_a] + ([] if b is None else [off_b]))
            )
            return ids, types, special, offs
        one = np.ones(1, dtype=bool)
        ids = [np.int32([cls_id]), a, np.int32([sep_id])]
        types = [np.zeros(len(a) + 2, dtype=np.int32)]
        special = [one, np.zeros(len(a), dtype=bool), one]
        offs = None if off_a is None else [zero, off_a, zero]
        if b is not None:
            ids += [b, np.int32([sep_id])]
            types.append(np.ones(len(b) + 1, dtype=np.int32))
            special += [np.zeros(len(b), dtype=bool), one]
            if offs is not None:
                offs += [off_b, zero]
        return (
            np.concatenate(ids),
            np.concatenate(types),
            np.concatenate(special),
            None if offs is None else np.concatenate(offs),
        )


def _pad_rows(rows, width, fill, side, extra=()):
    """Rows of different lengths as one int32 array `[rows, width, *extra]`, padded on `side`."""
    out = np.full((len(rows), width, *extra), fill, dtype=np.int32)
    for i, row in enumerate(rows):
        out[i, slice(width - len(row), width) if side == "left" else slice(0, len(row))] = row
    return out


class _JiebaSplit:
    """RoFormer's pre-tokenizer: jieba words; a word outside the vocabulary is split further
    (CJK characters apart, then on whitespace), as transformers' RoFormer tokenizer does."""

    def __init__(self, vocab):
        try:
            import rjieba
        except ImportError as error:
            raise ImportError(
                "RoFormerTokenizer needs `rjieba` (pip install rjieba, or the `roformer` extra)."
            ) from error
        self._jieba = rjieba
        self._vocab = frozenset(vocab)
        self._cjk = normalizers.BertNormalizer(
            clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False
        )

    def _split(self, _, normalized):
        pieces = []
        for word, start, end in self._jieba.tokenize(str(normalized), hmm=False):
            if word in self._vocab:
                pieces.append(normalized[start:end])
                continue
            # Character positions advance by each part's length only, like transformers.
            for part in self._cjk.normalize_str(word).split():
                pieces.append(normalized[start : start + len(part)])
                start += len(part)
        return pieces

    def pre_tokenize(self, pretok):
        pretok.split(self._split)


class RoFormerTokenizer(_BertStyle):
    """RoFormer's Chinese WordPiece tokenizer with jieba (`rjieba`) pre-tokenization.

    A jieba word that is in the vocabulary stays one token; other words are split into single
    CJK characters and whitespace-separated parts before WordPiece. Needs `rjieba`.

    Args:
        vocab: dict of token to id.
        do_lower_case: lowercase the text (and strip accents unless `strip_accents=False`).
        strip_accents: strip accents; None follows `do_lower_case`.
        **kwargs: special tokens and the options of `Tokenizer`.

    Examples:

    >>> vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4,
    ...          "今": 5, "天": 6, "气": 7, "非常": 8, "好": 9, "。": 10}
    >>> tokenizer = RoFormerTokenizer(vocab)
    >>> tokenizer.tokenize("今天天气非常好。")
    ['今', '天', '天', '气', '非常', '好', '。']
    """

    option_names = ("do_lower_case", "strip_accents")

    def __init__(self, vocab, do_lower_case=True, strip_accents=None, **kwargs):
        self.do_lower_case = bool(do_lower_case)
        unk = kwargs.get("unk_token", "[UNK]")
        normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=False,
            strip_accents=strip_accents,
            lowercase=do_lower_case,
        )
        backend = _bert_backend(vocab, _content(unk), normalizer)
        backend.pre_tokenizer = pre_tokenizers.PreTokenizer.custom(_JiebaSplit(vocab))
        super().__init__(backend, **kwargs)


def _content(value):
    return value["content"] if isinstance(value, dict) else str(value)

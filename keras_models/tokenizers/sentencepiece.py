"""SentencePiece unigram tokenizer: Pegasus."""

import base64
import os
import struct

from tokenizers import Regex, decoders, normalizers, pre_tokenizers, processors
from tokenizers import Tokenizer as RustTokenizer
from tokenizers.models import Unigram

from keras_models.tokenizers.base import Tokenizer, read_tokenizer_json


# --- a minimal reader of SentencePiece's `ModelProto` (protobuf wire format), so that loading
# `spiece.model` needs neither `sentencepiece` nor `protobuf`.
def _varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data):
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            if value >= 1 << 63:  # negative int32 values are sign-extended to 64 bits
                value -= 1 << 64
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"Unsupported protobuf wire type {wire}.")
        yield number, value


def read_sentencepiece_model(path):
    """The pieces `(piece, score, type)`, trainer ids and precompiled charsmap of a `.model`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        pieces = []
        trainer = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1, "model_type": 1}
        charsmap = None
        trainer_fields = {3: "model_type", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
        for number, value in _fields(data):
            if number == 1:  # SentencePiece {piece = 1; score = 2; type = 3 (1 = normal)}
                piece, score, kind = "", 0.0, 1
                for n, v in _fields(value):
                    if n == 1:
                        piece = v.decode("utf-8")
                    elif n == 2:
                        score = struct.unpack("<f", v)[0]
                    elif n == 3:
                        kind = v
                pieces.append((piece, score, kind))
            elif number == 2:  # TrainerSpec
                for n, v in _fields(value):
                    if n in trainer_fields:
                        trainer[trainer_fields[n]] = v
            elif number == 3:  # NormalizerSpec {precompiled_charsmap = 2}
                for n, v in _fields(value):
                    if n == 2:
                        charsmap = bytes(v) or None
    except (OSError, IndexError, UnicodeDecodeError, struct.error, ValueError) as error:
        raise ValueError(f"Could not read the SentencePiece model {path}: {error}") from error
    return pieces, trainer, charsmap


def _json_charsmap(data):
    normalizer = data.get("normalizer") or {}
    parts = (
        normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else [normalizer]
    )
    for part in parts:
        if part and part.get("type") == "Precompiled" and part.get("precompiled_charsmap"):
            return base64.b64decode(part["precompiled_charsmap"])
    return None


class PegasusTokenizer(Tokenizer):
    """Pegasus' SentencePiece unigram tokenizer (`A </s>` / `A B </s>`).

    Reads `tokenizer.json` when present, else `spiece.model`; as in transformers, the ids
    below `offset` hold `<pad>`, `</s>`, the mask tokens and `<unk_2>` ... `<unk_{offset-1}>`,
    and the SentencePiece pieces follow.

    Args:
        vocab: list of `(piece, score)` in id order.
        unk_id: id of the unknown piece.
        precompiled_charsmap: SentencePiece's normalization table (bytes), or None.
        mask_token_sent: the sentence mask token (`<mask_1>`).
        offset: the number of reserved ids.
        **kwargs: special tokens and the options of `Tokenizer`.

    Examples:

    >>> vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<mask_1>", 0.0), ("<mask_2>", 0.0),
    ...          ("<unk>", 0.0), ("▁hi", -1.0), ("▁", -2.0), ("h", -3.0), ("i", -3.0)]
    >>> tokenizer = PegasusTokenizer(vocab, unk_id=4, offset=4)
    >>> tokenizer(["hi", "hi hi"], padding=True)["input_ids"]
    array([[5, 1, 0],
           [5, 5, 1]], dtype=int32)
    """

    default_special_tokens = {
        "pad_token": "<pad>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "mask_token": "<mask_2>",
    }

    def __init__(
        self,
        vocab,
        unk_id,
        precompiled_charsmap=None,
        mask_token_sent="<mask_1>",
        offset=103,
        additional_special_tokens=None,
        **kwargs,
    ):
        self.offset = int(offset)
        self.mask_token_sent = mask_token_sent
        if additional_special_tokens is None or mask_token_sent not in [
            str(t) for t in additional_special_tokens
        ]:
            additional = [mask_token_sent] if mask_token_sent is not None else []
        else:
            additional = []
        additional += [f"<unk_{i}>" for i in range(2, self.offset)]
        backend = RustTokenizer(Unigram(vocab=[tuple(v) for v in vocab], unk_id=int(unk_id)))
        collapse = normalizers.Replace(Regex(r" {2,}"), " ")
        if precompiled_charsmap is not None:
            backend.normalizer = normalizers.Sequence(
                [normalizers.Precompiled(precompiled_charsmap), collapse]
            )
        else:
            backend.normalizer = normalizers.Sequence(
                [normalizers.Replace(Regex(r"\n"), " "), collapse]
            )
        backend.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="▁", prepend_scheme="always", split=True
        )
        backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        super().__init__(backend, additional_special_tokens=additional, **kwargs)

    @classmethod
    def from_files(cls, directory, config):
        kwargs = cls.base_kwargs(config)
        special = {**cls.default_special_tokens, **kwargs}
        offset = int(config.get("offset", 103))
        mask_token_sent = config.get("mask_token_sent", "<mask_1>")
        additional = config.get("additional_special_tokens")
        data = read_tokenizer_json(directory)
        if data is not None and data.get("model", {}).get("type") == "Unigram":
            vocab = [tuple(item) for item in data["model"]["vocab"]]
            charsmap = _json_charsmap(data)
        else:
            path = os.path.join(directory, "spiece.model")
            if not os.path.exists(path):
                raise ValueError(
                    f"{directory} has no Pegasus tokenizer files: expected tokenizer.json or "
                    "spiece.model."
                )
            pieces, _, charsmap = read_sentencepiece_model(path)
            # transformers rebuilds the head of the vocabulary from the config's tokens (note
            # its own defaults here: mask_token <mask_1>, mask_token_sent <mask_2>) and the
            # SentencePiece control pieces replace any configured additional tokens.
            mask = str(_content(config.get("mask_token", "<mask_1>")))
            mask_sent = str(_content(config.get("mask_token_sent", "<mask_2>")))
            vocab = [
                (str(_content(special["pad_token"])), 0.0),
                (str(_content(special["eos_token"])), 0.0),
            ]
            if mask != "None":
                vocab.append((mask, 0.0))
            if mask_sent != "None" and mask_sent != mask:
                vocab.append((mask_sent, 0.0))
            vocab += [(f"<unk_{i}>", -100.0) for i in range(2, offset)]
            vocab += [(piece, score) for piece, score, _ in pieces[2:]]
            additional = [piece for piece, _, kind in pieces if kind in (3, 4)]
        unk = (str(_content(special["unk_token"])), 0.0)
        try:
            unk_id = vocab.index(unk, 1)
        except ValueError as error:
            raise ValueError(f"The vocabulary in {directory} has no {unk[0]!r} piece.") from error
        return cls(
            vocab,
            unk_id,
            precompiled_charsmap=charsmap,
            mask_token_sent=_content(mask_token_sent),
            offset=offset,
            additional_special_tokens=additional,
            **kwargs,
        )

    def build_post_processor(self):
        eos = self.eos_token
        self.backend.post_processor = processors.TemplateProcessing(
            single=f"$A {eos}", pair=f"$A $B {eos}", special_tokens=[(eos, self.eos_token_id)]
        )


def _content(value):
    return value["content"] if isinstance(value, dict) else value

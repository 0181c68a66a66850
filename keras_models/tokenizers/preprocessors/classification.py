"""Sequence and token classification on raw text."""

import numpy as np

from keras_models.tokenizers.preprocessors.base import (
    IGNORE_INDEX,
    Preprocessor,
    label_array,
    text_list,
    text_lists,
)


def _id2label(id2label):
    if id2label is None:
        return None
    if isinstance(id2label, (list, tuple)):
        return {i: str(v) for i, v in enumerate(id2label)}
    if not isinstance(id2label, dict):
        raise ValueError(f"`id2label` must be a dict or a list of names; got {id2label!r}.")
    return {int(k): str(v) for k, v in id2label.items()}


class _Labelled(Preprocessor):
    """A preprocessor with optional label names (`id2label`, read from the checkpoint's
    `config.json` when `from_preset` attaches it)."""

    def __init__(self, tokenizer, max_length=512, id2label=None):
        super().__init__(tokenizer, max_length)
        self.id2label = _id2label(id2label)

    @property
    def label2id(self):
        return {v: k for k, v in (self.id2label or {}).items()}

    def label_name(self, index):
        index = int(index)
        return self.id2label.get(index, index) if self.id2label else index

    def label_id(self, label, name="y"):
        """An int label from an int or a label name."""
        if isinstance(label, str):
            if label not in self.label2id:
                raise ValueError(
                    f"`{name}` holds the label {label!r}, which is not in `id2label` "
                    f"({sorted(self.label2id)})."
                )
            return self.label2id[label]
        return int(label)

    def get_config(self):
        config = super().get_config()
        if self.id2label:
            config["id2label"] = {str(k): v for k, v in self.id2label.items()}
        return config

    @classmethod
    def for_model(cls, tokenizer, model, hf_config=None, id2label=None, **config):
        hf_config = hf_config or {}
        # The model's names (an `id2label` override included) before the checkpoint's.
        source = getattr(model, "id2label", None) or hf_config.get("id2label")
        if id2label is None and source:
            names = _id2label(source)
            # transformers writes LABEL_0, LABEL_1, ... when the checkpoint names none.
            if any(v != f"LABEL_{k}" for k, v in names.items()):
                id2label = names
        return super().for_model(tokenizer, model, hf_config, id2label=id2label, **config)


class SequenceClassificationPreprocessor(_Labelled):
    """Texts (or text pairs) to padded model inputs, for classification and for backbones.

    `fit` / `evaluate` / `predict` take a string, a list of strings, or a dict
    `{"text": [...], "text_pair": [...]}`; labels go to `y` or into the dict as `"label"`
    (ints, or names from `id2label`; floats for regression). Texts are truncated longest-first to `max_length` tokens and the
    batch is padded to its longest sequence.

    Args:
        tokenizer: the model family's tokenizer.
        max_length: the most tokens per example.
        id2label: optional label names (a dict of id to name, or a list).

    Examples:
    >>> from keras_models import MegatronBertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "ada", "wrote",
    ...          "it", ".", "my", "name", "is", "lo", "##ve", "##lace"]
    >>> tokenizer = MegatronBertTokenizer({t: i for i, t in enumerate(vocab)})
    >>> pre = SequenceClassificationPreprocessor(tokenizer, max_length=16)
    >>> features, labels = pre.prepare(["Ada wrote it.", "Who?"], [1, 0])
    >>> features["input_ids"], labels
    (array([[ 2,  7,  8,  9, 10,  3],
           [ 2,  5,  6,  3,  0,  0]], dtype=int32), array([1, 0]))
    """

    raw_keys = ("text", "text_pair")
    label_keys = ("label", "labels")

    def encode(self, text, text_pair=None):
        if text_pair is None:
            (texts, single), pairs = text_list(text, "text"), None
        else:
            texts, pairs, single = text_lists(text, text_pair, "text", "text_pair")
        if not texts:
            raise ValueError("`text` is an empty list.")
        return self.tokenizer(
            texts, pairs, padding=True, truncation=True, max_length=self.max_length
        ), single

    def prepare(self, x, y=None, input_names=None, training=False):
        x = self.raw_dict(x)
        self.require(x, "text")
        encoded, _ = self.encode(x["text"], x.get("text_pair"))
        y = self.labels_from(x, y)
        count = len(encoded["input_ids"])
        if y is not None and not isinstance(y, dict):
            values = y.tolist() if isinstance(y, np.ndarray) else y
            if isinstance(values, (list, tuple)) and values and isinstance(values[0], str):
                y = np.asarray([self.label_id(v) for v in values], np.int32)
            y = label_array(y, count)
        return self.model_inputs(encoded, input_names), y


class TokenClassificationPreprocessor(_Labelled):
    """Pre-split words to sub-token inputs, with word labels aligned to the sub-tokens.

    `fit` takes `x = {"words": [["My", "name", ...], ...]}` (or the list of word lists alone)
    and `y` (or `"labels"` in the dict) = one label list per example, one label per word
    (ints, or names from `id2label`). As in transformers' `run_ner.py`, the first sub-token of each word gets the
    word's label and the other sub-tokens -100 (ignored by the loss), or the word's label too
    with `label_all_tokens=True`; special and padding tokens get -100. Byte-level BPE
    tokenizers encode each word with a leading space (transformers' `add_prefix_space=True`).

    Args:
        tokenizer: the model family's tokenizer.
        max_length: the most tokens per example (words past it are cut).
        label_all_tokens: label every sub-token of a word, not only the first.
        id2label: optional label names (a dict of id to name, or a list).

    Examples:
    >>> from keras_models import MegatronBertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "ada", "wrote",
    ...          "it", ".", "my", "name", "is", "lo", "##ve", "##lace"]
    >>> tokenizer = MegatronBertTokenizer({t: i for i, t in enumerate(vocab)})
    >>> pre = TokenClassificationPreprocessor(tokenizer, max_length=16)
    >>> features, labels = pre.prepare({"words": [["My", "name", "is", "Lovelace"]]},
    ...                                [[0, 0, 0, 1]])
    >>> features["input_ids"], labels
    (array([[ 2, 11, 12, 13, 14, 15, 16,  3]], dtype=int32), array([[-100,    0,    0,    0,    1, -100, -100, -100]], dtype=int32))
    """

    raw_keys = ("words",)
    label_keys = ("labels",)

    def __init__(self, tokenizer, max_length=512, label_all_tokens=False, id2label=None):
        super().__init__(tokenizer, max_length, id2label)
        self.label_all_tokens = bool(label_all_tokens)

    def get_config(self):
        return {**super().get_config(), "label_all_tokens": self.label_all_tokens}

    def _word_lists(self, words):
        if isinstance(words, np.ndarray):
            words = words.tolist()
        single = isinstance(words, (list, tuple)) and (not words or isinstance(words[0], str))
        batch = [words] if single else words
        if not isinstance(batch, (list, tuple)) or not all(
            isinstance(w, (list, tuple)) and all(isinstance(t, str) for t in w) for w in batch
        ):
            raise ValueError(
                "`words` must be a list of words (strings) or a list of such lists "
                '(e.g. {"words": [["My", "name", "is", "Ada"]]}).'
            )
        return [list(w) for w in batch], single

    def encode(self, words):
        """Model inputs plus `word_ids` (`[batch, seq]`, -1 for special and padding tokens)."""
        batch, single = self._word_lists(words)
        if not batch:
            raise ValueError("`words` is an empty list.")
        if getattr(self.tokenizer, "add_prefix_space", None) is False:
            # Byte-level BPE: " word" is how the word is encoded inside a sentence.
            batch = [[" " + w if not w.startswith(" ") else w for w in ws] for ws in batch]
        encoded = self.tokenizer(
            batch,
            is_split_into_words=True,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_word_ids=True,
        )
        return encoded, single

    def align_labels(self, word_ids, labels):
        """`[batch, seq]` token labels from word labels (see the class docstring)."""
        if isinstance(labels, np.ndarray):
            labels = labels.tolist()
        if not isinstance(labels, (list, tuple)) or len(labels) != len(word_ids):
            raise ValueError(
                f"`y` must hold one label list per example ({len(word_ids)} examples)."
            )
        out = np.full(word_ids.shape, IGNORE_INDEX, np.int32)
        for row, (ids, word_labels) in enumerate(zip(word_ids, labels)):
            if isinstance(word_labels, np.ndarray):
                word_labels = word_labels.tolist()
            if not isinstance(word_labels, (list, tuple)):
                raise ValueError(f"`y[{row}]` must be a list with one label per word.")
            count = int(ids.max()) + 1 if (ids >= 0).any() else 0
            if len(word_labels) < count:
                raise ValueError(
                    f"`y[{row}]` has {len(word_labels)} labels for at least {count} words."
                )
            previous = -1
            for col, word in enumerate(ids):
                if word >= 0 and (word != previous or self.label_all_tokens):
                    out[row, col] = self.label_id(word_labels[word], f"y[{row}]")
                previous = word
        return out

    def prepare(self, x, y=None, input_names=None, training=False):
        x = self.raw_dict(x)
        self.require(x, "words")
        encoded, _ = self.encode(x["words"])
        y = self.labels_from(x, y)
        if y is not None and not isinstance(y, dict):
            batch, _ = self._word_lists(x["words"])
            if isinstance(y, np.ndarray):
                y = y.tolist()
            if isinstance(y, (list, tuple)) and y and not isinstance(y[0], (list, tuple)):
                y = [y]  # one example's labels
            for i, (words, labels) in enumerate(zip(batch, y)):
                if len(labels) != len(words):
                    raise ValueError(
                        f"Example {i} has {len(words)} words but {len(labels)} labels."
                    )
            y = self.align_labels(encoded["word_ids"], y)
        return self.model_inputs(encoded, input_names), y

    def word_predictions(self, word_ids, logits):
        """One label per word (the prediction of its first sub-token), per example."""
        best = np.argmax(np.asarray(logits), axis=-1)
        out = []
        for ids, row in zip(word_ids, best):
            words = {}
            for word, label in zip(ids, row):
                if word >= 0 and word not in words:
                    words[int(word)] = self.label_name(label)
            out.append([words[i] for i in sorted(words)])
        return out

"""Language modelling on raw text: training features, and prompts for `generate`."""

import numpy as np

from keras_models.tokenizers.preprocessors.base import (
    IGNORE_INDEX,
    Preprocessor,
    same_length,
    text_list,
)


class CausalLMPreprocessor(Preprocessor):
    """Texts to causal-LM features; prompts to left-padded `generate` inputs.

    `fit` takes `{"text": [...]}` (or the list alone): each text is tokenized with the
    family's special tokens, truncated to `max_length`, right-padded, and its `labels` are the
    ids with padding set to -100 (the model's loss shifts them by one). `generate("a prompt")`
    on a model with this preprocessor tokenizes the prompts padded on the left and returns the
    generated text only: the prompt and special tokens are left out, as transformers'
    text-generation pipeline with `return_full_text=False`.

    Args:
        tokenizer: the model family's tokenizer.
        max_length: the most tokens per training text (prompts are not truncated).

    Examples:
    >>> CausalLMPreprocessor.raw_keys
    ('text',)
    """

    raw_keys = ("text",)

    def prepare(self, x, y=None, input_names=None, training=False):
        x = self.raw_dict(x)
        self.require(x, "text")
        texts, _ = text_list(x["text"], "text")
        if y is not None:
            raise ValueError("Raw causal-LM data takes no `y`: the labels are the text itself.")
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, padding_side="right"
        )
        features = self.model_inputs(encoded, input_names)
        features["labels"] = np.where(
            encoded["attention_mask"] == 1, encoded["input_ids"], IGNORE_INDEX
        ).astype(np.int32)
        return features, None

    def prompts(self, prompt, input_names=None):
        """`(inputs, single)`: left-padded prompt ids and mask."""
        texts, single = text_list(prompt, "prompt")
        if not texts:
            raise ValueError("`generate` got an empty list of prompts.")
        encoded = self.tokenizer(texts, padding=True, padding_side="left")
        return self.model_inputs(encoded, input_names), single

    def decode(self, ids):
        return self.tokenizer.batch_decode(np.asarray(ids), skip_special_tokens=True)


class Seq2SeqLMPreprocessor(CausalLMPreprocessor):
    """Source texts and targets to seq2seq features; sources to `generate` inputs.

    `fit` takes `{"text": [...], "target": [...]}`: the sources are tokenized (truncated to
    `max_length`) as the encoder inputs and the targets (truncated to `max_target_length`) as
    `labels`, padding set to -100; the model shifts the labels right into decoder inputs.
    `generate("a text")` returns the generated target text without special tokens.

    Args:
        tokenizer: the model family's tokenizer.
        max_length: the most source tokens.
        max_target_length: the most target tokens.

    Examples:
    >>> Seq2SeqLMPreprocessor.raw_keys
    ('text', 'target')
    """

    raw_keys = ("text", "target")

    def __init__(self, tokenizer, max_length=512, max_target_length=128):
        super().__init__(tokenizer, max_length)
        if isinstance(max_target_length, bool) or not isinstance(max_target_length, int):
            raise ValueError(
                f"`max_target_length` must be a positive int; got {max_target_length!r}."
            )
        self.max_target_length = max_target_length

    def get_config(self):
        return {**super().get_config(), "max_target_length": self.max_target_length}

    def prepare(self, x, y=None, input_names=None, training=False):
        x = self.raw_dict(x)
        self.require(x, "text")
        texts, _ = text_list(x["text"], "text")
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, padding_side="right"
        )
        features = self.model_inputs(encoded, input_names)
        targets = x.get("target")
        if targets is None and y is not None:
            targets, y = y, None
        if targets is None:
            if training:
                raise ValueError("Training on raw seq2seq data needs `target` texts in `x`.")
            return features, y
        targets, _ = text_list(targets, "target")
        same_length(text=texts, target=targets)
        labels = self.tokenizer(
            targets,
            padding=True,
            truncation=True,
            max_length=self.max_target_length,
            padding_side="right",
        )
        features["labels"] = np.where(
            labels["attention_mask"] == 1, labels["input_ids"], IGNORE_INDEX
        ).astype(np.int32)
        return features, y

    def prompts(self, prompt, input_names=None):
        texts, single = text_list(prompt, "text")
        if not texts:
            raise ValueError("`generate` got an empty list of texts.")
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, padding_side="right"
        )
        return self.model_inputs(encoded, input_names), single

"""The raw-text conveniences: text in, text (or labels) out, through the preprocessor that
`from_preset` attaches from a preset's tokenizer files.

`RawTextMixin` gives every backbone and task `preprocessor` / `tokenizer` and the text paths
of `fit`, `evaluate` and `predict`; the task mixins add `answer` (question answering),
`classify` (sequence classification), `tag` (token classification) and text `generate`.
Everything here runs on the host; the models themselves only see arrays.
"""

import numpy as np

from keras_models.tokenizers.preprocessors.base import (
    Preprocessor,
    is_raw_text,
    pad_rows,
    preset_files,
    text_list,
)


def as_text(x):
    """`x` with its strings as `str`: tf.data yields byte strings, and Keras' converters turn
    a string into a 0-d array. Arrays of strings become lists; other values stay as they are
    (a list or tuple of them becomes a new list)."""
    if isinstance(x, dict):
        return {key: as_text(value) for key, value in x.items()}
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if isinstance(x, np.ndarray) and (
        x.dtype.kind in "SU" or (x.dtype == object and x.size and isinstance(x.flat[0], bytes))
    ):
        return as_text(x.tolist())
    if isinstance(x, (list, tuple)):  # a torch DataLoader collates strings into a tuple
        return [as_text(value) for value in x]
    return x


class RawTextMixin:
    """`preprocessor` and `tokenizer` (plain attributes, set by `from_preset` or by the
    user; a model without them takes arrays only) and raw text in `fit` / `evaluate` /
    `predict`."""

    # `preprocessor` (raw text -> arrays) and `tokenizer` are plain attributes, set by
    # `from_preset` or by the user; a model without them takes arrays only.
    @property
    def preprocessor(self):
        return self.__dict__.get("_km_preprocessor")

    @preprocessor.setter
    def preprocessor(self, value):
        if value is not None and not isinstance(value, Preprocessor):
            raise ValueError(
                f"`preprocessor` must be a keras_models preprocessor or None; got "
                f"{type(value).__name__}."
            )
        self.__dict__["_km_preprocessor"] = value

    @property
    def tokenizer(self):
        tokenizer = self.__dict__.get("_km_tokenizer")
        if tokenizer is None and self.preprocessor is not None:
            return self.preprocessor.tokenizer
        return tokenizer

    @tokenizer.setter
    def tokenizer(self, value):
        self.__dict__["_km_tokenizer"] = value

    def require_preprocessor(self, what):
        if self.preprocessor is None:
            raise ValueError(
                f"{type(self).__name__} has no preprocessor, so {what} needs token ids. Load "
                "the model with `from_preset` from a directory holding tokenizer files, or "
                "attach one: `model.preprocessor = keras_models.<Task>Preprocessor(tokenizer)`."
            )
        return self.preprocessor

    def preprocess_raw(self, x, y=None, training=False):
        """`(x, y)` with raw text turned into arrays by the preprocessor; other data as is."""
        if not is_raw_text(x):
            return x, y
        preprocessor = self.require_preprocessor("raw-text data")
        return preprocessor.prepare(x, y, input_names=self.input_names, training=training)

    def preprocess_batch(self, x, y=None, training=False):
        """A batch of raw text drawn from a data pipeline, through the preprocessor (each
        batch padded to its longest sequence); other batches as they are."""
        text = as_text(x)
        if is_raw_text(text):
            return self.preprocess_raw(text, y, training=training)
        return super().preprocess_batch(x, y, training=training)

    def _raw_validation(self, kwargs):
        data = kwargs.get("validation_data")
        if isinstance(data, (list, tuple)) and data and is_raw_text(data[0]):
            kwargs["validation_data"] = self.preprocess_raw(
                data[0], data[1] if len(data) > 1 else None, training=True
            )

    def preset_extra_files(self):
        """`{name: path}` of the tokenizer and preprocessor files `save_to_preset` writes."""
        return preset_files(self)

    def fit(self, x=None, y=None, *args, **kwargs):
        x, y = self.preprocess_raw(x, y, training=True)
        self._raw_validation(kwargs)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = self.preprocess_raw(x, y, training=True)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x, _ = self.preprocess_raw(x)
        return super().predict(x, *args, **kwargs)


class AnswerMixin:
    """`answer(question, context)` for extractive question answering."""

    def answer(self, question, context, n_best=1, max_answer_length=30, batch_size=32):
        """Answers questions from raw text with the attached `QuestionAnsweringPreprocessor`.

        Args:
            question: a string, or a list of strings.
            context: a string, or a list of strings as long as `question`.
            n_best: how many candidate answers to return per question.
            max_answer_length: the longest answer, in tokens.
            batch_size: windows per forward pass.

        Returns:
            For one question, `{"answer": str, "score": float, "start": int, "end": int}`
            (`context[start:end] == answer`); with `n_best > 1`, a list of such dicts, best
            first; for a list of questions, a list of those. See
            `QuestionAnsweringPreprocessor` for how spans are chosen and scored.
        """
        for name, value in (("n_best", n_best), ("max_answer_length", max_answer_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
        preprocessor = self.require_preprocessor("`answer`")
        encoded = preprocessor.features(question, context)
        inputs = preprocessor.model_inputs(encoded, self.input_names)
        outputs = self.predict(pad_rows(inputs, batch_size), batch_size=batch_size, verbose=0)
        contexts, single = text_list(context, "context")
        results = preprocessor.postprocess(
            encoded,
            contexts,
            outputs["start_logits"],
            outputs["end_logits"],
            n_best=n_best,
            max_answer_length=max_answer_length,
        )
        results = [r[0] if n_best == 1 else r for r in results]
        return results[0] if single else results


class ClassifyMixin:
    """`classify(text)` for sequence classification."""

    def classify(self, text, text_pair=None, batch_size=32):
        """Classifies raw text with the attached `SequenceClassificationPreprocessor`.

        Args:
            text: a string or a list of strings.
            text_pair: optional second segments, like `text`.
            batch_size: examples per forward pass.

        Returns:
            For one string, `{"label": ..., "label_id": int, "score": float,
            "probabilities": [...]}`: the most likely class (its name when the checkpoint
            has `id2label`), its softmax probability and every class's (sigmoid
            probabilities for `problem_type="multi_label_classification"`). With one label
            (regression) `{"score": value}`. For a list, a list of those.
        """
        preprocessor = self.require_preprocessor("`classify`")
        encoded, single = preprocessor.encode(text, text_pair)
        inputs = preprocessor.model_inputs(encoded, self.input_names)
        logits = np.asarray(self.predict(inputs, batch_size=batch_size, verbose=0)["logits"])
        logits = logits.astype("float64")
        results = []
        for row in logits:
            if self.num_labels == 1:
                results.append({"score": float(row[0])})
                continue
            if self.problem_type == "multi_label_classification":
                probs = 1.0 / (1.0 + np.exp(-row))
            else:
                probs = np.exp(row - row.max())
                probs /= probs.sum()
            best = int(np.argmax(probs))
            results.append(
                {
                    "label": preprocessor.label_name(best),
                    "label_id": best,
                    "score": float(probs[best]),
                    "probabilities": probs.tolist(),
                }
            )
        return results[0] if single else results


class TagMixin:
    """`tag(words)` for token classification."""

    def tag(self, words, batch_size=32):
        """One predicted label per word, with the attached `TokenClassificationPreprocessor`.

        Args:
            words: a list of words (one example) or a list of such lists.
            batch_size: examples per forward pass.

        Returns:
            A list with one label per word (the prediction of the word's first sub-token; a
            name when the checkpoint has `id2label`, else an int), or a list of those for a
            batch. Words cut by `max_length` get no label.
        """
        preprocessor = self.require_preprocessor("`tag`")
        encoded, single = preprocessor.encode(words)
        inputs = preprocessor.model_inputs(encoded, self.input_names)
        logits = self.predict(inputs, batch_size=batch_size, verbose=0)["logits"]
        results = preprocessor.word_predictions(encoded["word_ids"], logits)
        return results[0] if single else results


class TextGenerationMixin:
    """`generate` on raw text: `generate` sends strings here."""

    def generate_text(self, prompts, options):
        """The generated text of each prompt (a string or a list of strings): tokenized,
        generated from ids with `generate(**options)`, decoded without the prompt. A list
        holds `num_return_sequences` texts per prompt, prompt after prompt."""
        preprocessor = self.require_preprocessor("`generate` on text")
        inputs, single = preprocessor.prompts(prompts, self.input_names)
        ids = self.generate(inputs, **options)
        if not getattr(self, "is_encoder_decoder_generation", False):
            ids = ids[:, inputs["input_ids"].shape[1] :]
        texts = preprocessor.decode(ids)
        # With `num_return_sequences` > 1 each prompt's texts follow each other.
        return texts[0] if single and len(texts) == 1 else texts

"""Extractive question answering on raw text: windows over long contexts, span labels from
the answer text, and post-processing of start/end logits back to answer strings."""

import numpy as np

from keras_models.tokenizers.preprocessors.base import (
    Preprocessor,
    same_length,
    text_list,
    text_lists,
)


class QuestionAnsweringPreprocessor(Preprocessor):
    """Packs questions and contexts as transformers' `run_qa.py` example does.

    Each question (left-stripped) is the first segment and its context the second; a context
    too long for `max_length` is cut into overlapping windows (`truncation="only_second"`,
    `return_overflowing_tokens=True`, `stride=doc_stride`), each window one model row padded to
    `max_length`. Training labels come from the answer text and its character start: the first
    and last tokens of the answer in each window, or position 0 (the CLS token when the family
    has one) in windows that do not hold the whole answer.

    Post-processing follows `run_qa.py` (`postprocess_qa_predictions`): over every window of a
    question, the top 20 start and end positions (at least `n_best`) are paired; pairs outside
    the context, with end before start or longer than `max_answer_length` tokens are dropped;
    candidates are ranked by `start_logit + end_logit` and their `score` is the softmax of
    that sum over the kept candidates. `start` / `end` are character offsets into the context
    (`context[start:end] == answer`).

    Args:
        tokenizer: the model family's tokenizer.
        max_length: tokens per window (question and special tokens included).
        doc_stride: tokens shared by consecutive windows of one context.

    A model loaded with `from_preset` from a preset with tokenizer files has one attached:
    `model.answer("Who wrote it?", "Ada wrote it.")` gives
    `{"answer": "Ada", "score": ..., "start": 0, "end": 3}`, and `model.fit({"question": ...,
    "context": ..., "answer_text": ..., "answer_start": ...})` trains on raw records
    (`predict` on raw questions returns the logits of every window).

    Examples:
    >>> from keras_models import MegatronBertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "ada", "wrote",
    ...          "it", ".", "my", "name", "is", "lo", "##ve", "##lace"]
    >>> tokenizer = MegatronBertTokenizer({t: i for i, t in enumerate(vocab)})
    >>> pre = QuestionAnsweringPreprocessor(tokenizer, max_length=8, doc_stride=2)
    >>> features, _ = pre.prepare({"question": ["Who?"], "context": ["Ada wrote it."],
    ...                            "answer_text": ["Ada"], "answer_start": [0]})
    >>> features["input_ids"]  # two windows over the context
    array([[ 2,  5,  6,  3,  7,  8,  9,  3],
           [ 2,  5,  6,  3,  8,  9, 10,  3]], dtype=int32)
    >>> features["start_positions"], features["end_positions"]
    (array([4, 0], dtype=int32), array([4, 0], dtype=int32))
    """

    raw_keys = ("question", "context")
    label_keys = ("answer_text", "answer_start")
    #: Start and end candidates kept per window (`run_qa.py`'s `n_best_size`).
    n_best_size = 20

    def __init__(self, tokenizer, max_length=384, doc_stride=128):
        super().__init__(tokenizer, max_length)
        if isinstance(doc_stride, bool) or not isinstance(doc_stride, (int, np.integer)):
            raise ValueError(f"`doc_stride` must be a non-negative int; got {doc_stride!r}.")
        if not 0 <= doc_stride < max_length:
            raise ValueError(
                f"`doc_stride` must be at least 0 and below `max_length` ({max_length}); got "
                f"{doc_stride}."
            )
        self.doc_stride = int(doc_stride)

    def get_config(self):
        return {"max_length": self.max_length, "doc_stride": self.doc_stride}

    @classmethod
    def for_model(cls, tokenizer, model, hf_config=None, **config):
        if "doc_stride" not in config:
            max_length = config.setdefault("max_length", cls.default_max_length(tokenizer, model))
            # A short `max_length` gets a stride that still leaves room for new context.
            config["doc_stride"] = 128 if 128 < max_length // 2 else max_length // 4
        return super().for_model(tokenizer, model, hf_config, **config)

    # --- features -----------------------------------------------------------------------
    def features(self, question, context):
        """Tokenized windows: model inputs plus `offset_mapping`, `sequence_ids` and
        `overflow_to_sample_mapping` (the example index of each window)."""
        questions, contexts, _ = text_lists(question, context, "question", "context")
        if not questions:
            raise ValueError("`question` and `context` are empty lists.")
        return self.tokenizer(
            [q.lstrip() for q in questions],
            contexts,
            truncation="only_second",
            max_length=self.max_length,
            stride=self.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_sequence_ids=True,
            padding="max_length",
        )

    def _label_index(self, ids):
        cls_id = self.tokenizer.cls_token_id
        if cls_id is not None:
            hits = np.flatnonzero(ids == cls_id)
            if hits.size:
                return int(hits[0])
        return 0

    def labels(self, encoded, contexts, answer_texts, answer_starts):
        """`start_positions`, `end_positions` (`[windows]`) of the answers in each window."""
        answers = check_answers(contexts, answer_texts, answer_starts)
        count = len(encoded["input_ids"])
        starts = np.zeros(count, np.int32)
        ends = np.zeros(count, np.int32)
        for row in range(count):
            ids = encoded["input_ids"][row]
            offsets = encoded["offset_mapping"][row]
            context_tokens = np.flatnonzero(encoded["sequence_ids"][row] == 1)
            fallback = self._label_index(ids)
            starts[row] = ends[row] = fallback
            answer = answers[encoded["overflow_to_sample_mapping"][row]]
            if answer is None or not context_tokens.size:
                continue
            start_char, end_char = answer
            first, last = context_tokens[0], context_tokens[-1]
            if offsets[first][0] > start_char or offsets[last][1] < end_char:
                continue  # the answer is not wholly inside this window
            # The token holding the answer's first character, and the one holding its last.
            start = first
            while start <= last and offsets[start][0] <= start_char:
                start += 1
            end = last
            while end >= first and offsets[end][1] >= end_char:
                end -= 1
            starts[row], ends[row] = start - 1, end + 1
        return {"start_positions": starts, "end_positions": ends}

    def prepare(self, x, y=None, input_names=None, training=False):
        x = self.raw_dict(x)
        self.require(x, "question", "context")
        encoded = self.features(x["question"], x["context"])
        features = self.model_inputs(encoded, input_names)
        has_answers = x.get("answer_text") is not None or x.get("answer_start") is not None
        if y is not None:
            raise ValueError(
                "Raw question-answering data takes its labels inside `x` (`answer_text` and "
                "`answer_start`), not as `y`."
            )
        if has_answers:
            self.require(x, "answer_text", "answer_start")
            contexts, _ = text_list(x["context"], "context")
            features.update(self.labels(encoded, contexts, x["answer_text"], x["answer_start"]))
        elif training:
            raise ValueError(
                "Training on raw question-answering data needs `answer_text` and "
                "`answer_start` (the character index of the answer in the context) in `x`."
            )
        return features, None

    # --- post-processing ------------------------------------------------------------------
    def postprocess(
        self, encoded, contexts, start_logits, end_logits, n_best=1, max_answer_length=30
    ):
        """Answers for each example from the logits of its windows.

        Returns:
            One list per example of up to `n_best` dicts `{"answer", "score", "start",
            "end"}`, best first; an example without any valid span gets one empty answer
            (`""`, score 0.0, start = end = 0).
        """
        start_logits = np.asarray(start_logits, dtype=np.float64)
        end_logits = np.asarray(end_logits, dtype=np.float64)
        mapping = encoded["overflow_to_sample_mapping"]
        top = max(self.n_best_size, n_best)
        candidates = [[] for _ in contexts]
        for row in range(len(mapping)):
            candidates[mapping[row]] += self._spans(
                encoded, row, start_logits[row], end_logits[row], top, max_answer_length
            )
        for row in range(len(mapping)):
            if candidates[mapping[row]]:
                continue
            # run_qa finds no span among the top positions of any window (an untrained head
            # scoring the question or padding highest): search the context tokens only.
            in_context = encoded["sequence_ids"][row] == 1
            masked = [np.where(in_context, x[row], -np.inf) for x in (start_logits, end_logits)]
            candidates[mapping[row]] += [
                c
                for c in self._spans(encoded, row, *masked, top, max_answer_length)
                if np.isfinite(c[0])
            ]
        results = []
        for context, found in zip(contexts, candidates):
            # Stable sort: equal scores keep the window / start / end order of run_qa.
            found = sorted(found, key=lambda c: -c[0])[:top]
            if not found:
                results.append([{"answer": "", "score": 0.0, "start": 0, "end": 0}])
                continue
            scores = np.array([c[0] for c in found])
            probs = np.exp(scores - scores.max())
            probs /= probs.sum()
            results.append(
                [
                    {
                        "answer": context[int(a) : int(b)],
                        "score": float(p),
                        "start": int(a),
                        "end": int(b),
                    }
                    for (_, a, b), p in zip(found[:n_best], probs)
                ]
            )
        return results

    @staticmethod
    def _spans(encoded, row, start_logits, end_logits, top, max_answer_length):
        """`(score, start_char, end_char)` of the valid pairs among the top positions."""
        in_context = encoded["sequence_ids"][row] == 1
        offsets = encoded["offset_mapping"][row]
        # Highest first; among equal logits the later position first, as run_qa's argsort.
        starts = np.argsort(start_logits)[::-1][:top]
        ends = np.argsort(end_logits)[::-1][:top]
        found = []
        for s in starts:
            if not in_context[s]:
                continue
            for e in ends:
                if not in_context[e] or e < s or e - s + 1 > max_answer_length:
                    continue
                found.append((start_logits[s] + end_logits[e], offsets[s][0], offsets[e][1]))
        return found


def check_answers(contexts, answer_texts, answer_starts):
    """`(start_char, end_char)` per example (None: no answer); checks the character starts."""
    texts, _ = text_list(answer_texts, "answer_text")
    if isinstance(answer_starts, (int, np.integer)):
        answer_starts = [answer_starts]
    starts = np.asarray(answer_starts).reshape(-1).tolist() if len(texts) else []
    same_length(context=contexts, answer_text=texts, answer_start=starts)
    answers = []
    for i, (context, text, start) in enumerate(zip(contexts, texts, starts)):
        if not text or start is None or (not isinstance(start, str) and int(start) < 0):
            answers.append(None)  # unanswerable (SQuAD 2.0 style): labelled at position 0
            continue
        if isinstance(start, str) or int(start) != start:
            raise ValueError(f"`answer_start[{i}]` must be an int; got {start!r}.")
        start = int(start)
        if context[start : start + len(text)] != text:
            raise ValueError(
                f"`answer_start[{i}]` ({start}) does not point at `answer_text[{i}]` "
                f"({text!r}) in the context: it holds {context[start : start + len(text)]!r}."
            )
        answers.append((start, start + len(text)))
    return answers

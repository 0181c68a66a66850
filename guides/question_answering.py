"""# Fine-tuning extractive question answering on raw text

Load a preset by name as `RobertaForQuestionAnswering`, train it with `model.fit` on raw
questions, contexts and answers (the attached `QuestionAnsweringPreprocessor` tokenizes them,
cuts long contexts into windows and finds the answer tokens), then answer questions with
`model.answer` and score exact match / F1 as SQuAD does.

`roberta_tiny` is a tiny preset shipped in the package with RANDOM weights, so it starts knowing
nothing; the templated dataset is easy enough for it to learn in a few minutes (see
`keras-models demo` for the full run). With a real checkpoint (`"roberta_base"`, downloaded
from the Hugging Face Hub) the code is the same.

Run: `python guides/question_answering.py` (any `KERAS_BACKEND`). `SMALL=1` shrinks it.
"""

import os
import warnings

import keras

import keras_models
from keras_models.datasets import templated_qa

small = os.environ.get("SMALL") == "1"

# ## 1. A model with its tokenizer and preprocessor
# `from_preset` attaches `model.tokenizer` and `model.preprocessor` from the preset's tokenizer
# files. The preset has no QA head, so the head starts fresh (transformers warns the same way).
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = keras_models.RobertaForQuestionAnswering.from_preset("roberta_tiny")
print(model.preprocessor)

# The default window is 384 tokens (`run_qa.py`'s); these contexts are short, and shorter
# windows train faster. `doc_stride` is the overlap between windows of a long context.
model.preprocessor = keras_models.QuestionAnsweringPreprocessor(
    model.tokenizer, max_length=80, doc_stride=20
)

# ## 2. SQuAD-style data
# Rows of question, context, answer text and the answer's character offset in the context.
train, test = templated_qa.load(train_size=64 if small else 3000, test_size=16 if small else 200)
print("Q:", train["question"][0])
print("C:", train["context"][0])
print("A:", train["answer_text"][0], "at character", train["answer_start"][0])

# ## 3. Train on raw text
# `compile()` without a loss uses transformers' QA loss (mean of the start and end
# cross-entropies). The raw-text dict goes straight to `fit`.
model.compile(optimizer=keras.optimizers.AdamW(3e-3 if small else 2e-3))
model.fit(
    {k: train[k] for k in ("question", "context", "answer_text", "answer_start")},
    epochs=1 if small else 8,
    batch_size=32,
    verbose=0 if small else 1,
)

# ## 4. Answer and score
# `answer` returns the best span per question with its score and character offsets
# (`context[start:end] == answer`); `n_best` gives more candidates.
result = model.answer(test["question"][0], test["context"][0], n_best=3)
print("top 3 candidates:", [(r["answer"], round(r["score"], 2)) for r in result])
answers = model.answer(test["question"], test["context"])
scores = templated_qa.score([a["answer"] for a in answers], test["answer_text"])
print(f"held-out exact match {scores['exact_match']:.2f}, F1 {scores['f1']:.2f}")
if small:
    # One short epoch does not teach the task; check only that the pipeline holds together.
    assert all(
        test["context"][i][a["start"] : a["end"]] == a["answer"] for i, a in enumerate(answers)
    )

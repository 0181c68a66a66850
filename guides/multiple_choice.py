"""# Multiple choice

`<Family>ForMultipleChoice` scores each (prompt, choice) pair and picks the best choice: its
inputs are `[batch, num_choices, seq]`. With the attached `MultipleChoicePreprocessor`, `fit`
and `predict` take `{"prompt": [...], "choices": [[...], ...]}` and the index of the right
choice as the label, as transformers' SWAG example packs them.

The data: a question about a templated biography is the prompt; the choices are the right
answer and three wrong ones of the same kind, so the model has to read the context to choose.
`roberta_tiny` starts from RANDOM weights; a real checkpoint works the same way.

Run: `python guides/multiple_choice.py` (any `KERAS_BACKEND`). `SMALL=1` shrinks it.
"""

import os
import random
import warnings

import keras
import numpy as np

import keras_models
from keras_models.datasets import templated_qa

small = os.environ.get("SMALL") == "1"
NUM_CHOICES = 4


# ## 1. Prompts, choices and labels
# The wrong choices are answers to other questions of the same split (often of another kind);
# the right one sits at a random position.
def as_choices(rows, seed):
    rng = random.Random(seed)
    prompts, choices, labels = [], [], []
    answers = rows["answer_text"]
    for context, question, answer in zip(rows["context"], rows["question"], answers):
        wrong = rng.sample([a for a in answers if a != answer], NUM_CHOICES - 1)
        label = rng.randrange(NUM_CHOICES)
        prompts.append(f"{context} {question}")
        choices.append(wrong[:label] + [answer] + wrong[label:])
        labels.append(label)
    return {"prompt": prompts, "choices": choices}, np.array(labels, "int32")


train, test = templated_qa.load(train_size=32 if small else 2000, test_size=16 if small else 200)
x_train, y_train = as_choices(train, seed=0)
x_test, y_test = as_choices(test, seed=1)
print("prompt:", x_train["prompt"][0])
print("choices:", x_train["choices"][0], "right:", y_train[0])

# ## 2. The model and its preprocessor
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the preset has no multiple-choice head: it is new
    model = keras_models.RobertaForMultipleChoice.from_preset("roberta_tiny")
model.preprocessor = keras_models.MultipleChoicePreprocessor(model.tokenizer, max_length=96)

# The raw text becomes `[batch, num_choices, seq]` arrays; the model also takes such arrays
# directly (a tensor, a list or a dict, like every model here).
features, _ = model.preprocessor.prepare(
    {"prompt": x_test["prompt"][:2], "choices": x_test["choices"][:2]}
)
print("input_ids:", features["input_ids"].shape)

# ## 3. Train and evaluate
# `compile()` without a loss uses transformers' loss (cross-entropy over the choices).
model.compile(optimizer=keras.optimizers.Adam(2e-3))
model.fit(x_train, y_train, epochs=1 if small else 6, batch_size=16, verbose=0 if small else 1)
logits = model.predict(x_test, verbose=0)["logits"]
accuracy = float(np.mean(np.argmax(logits, axis=-1) == y_test))
print(f"held-out accuracy: {accuracy:.2f} (chance: {1 / NUM_CHOICES:.2f})")
assert logits.shape == (len(y_test), NUM_CHOICES)

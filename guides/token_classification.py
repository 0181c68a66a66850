"""# Token classification (named entities) on pre-split words

`<Family>ForTokenClassification` predicts one label per token. With the attached
`TokenClassificationPreprocessor`, `fit` takes words and one label per word (names or ids); the
labels are aligned to the sub-tokens as transformers' `run_ner.py` does (the first sub-token of
a word carries its label, the others and the special tokens -100, ignored by the loss), and
`model.tag(words)` returns one label per word.

The data: the templated biographies of `keras_models.datasets.templated_qa`, with each word
tagged PER (a person's name), LOC (a city or country), DATE (a year) or O. The held-out
sentences use names and places never seen in training. `roberta_tiny` starts from RANDOM
weights; a real checkpoint works the same way.

Run: `python guides/token_classification.py` (any `KERAS_BACKEND`). `SMALL=1` shrinks it.
"""

import os
import re
import warnings

import keras

import keras_models
from keras_models.datasets import templated_qa

small = os.environ.get("SMALL") == "1"
LABELS = ["O", "PER", "LOC", "DATE"]


# ## 1. Words and word labels
# Each context is split into words and punctuation; a word (or a run of words, for "Buenos
# Aires") found in a pool gets that pool's tag.
def tagged(contexts):
    kinds = {"first": "PER", "last": "PER", "city": "LOC", "country": "LOC", "year": "DATE"}
    lookup = {}
    for pool, tag in kinds.items():
        for value in templated_qa._POOLS[pool]:
            lookup[tuple(value.split())] = tag
    words, tags = [], []
    for context in contexts:
        ws = re.findall(r"\w+|[^\w\s]", context.replace("'s", " 's"))
        ts, i = ["O"] * len(ws), 0
        while i < len(ws):
            for n in (4, 3, 2, 1):  # the longest known value starting here
                if tuple(ws[i : i + n]) in lookup:
                    ts[i : i + n] = [lookup[tuple(ws[i : i + n])]] * n
                    i += n - 1
                    break
            i += 1
        words.append(ws)
        tags.append(ts)
    return words, tags


train, test = templated_qa.load(
    train_size=32 if small else 1500, test_size=8 if small else 100, invented=0.0
)
train_words, train_tags = tagged(train["context"])
test_words, test_tags = tagged(test["context"])
print(list(zip(train_words[0], train_tags[0]))[:12])

# ## 2. The model and its preprocessor
# `num_labels` sizes the new head; `id2label` lets `fit` take label names and `tag` return them.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the preset has no token-classification head: it is new
    model = keras_models.RobertaForTokenClassification.from_preset(
        "roberta_tiny", num_labels=len(LABELS)
    )
model.preprocessor = keras_models.TokenClassificationPreprocessor(
    model.tokenizer, max_length=96, id2label=LABELS
)

# ## 3. Train on words and word labels
model.compile(optimizer=keras.optimizers.Adam(3e-3))
model.fit(
    {"words": train_words},
    train_tags,
    epochs=1 if small else 6,
    batch_size=32,
    verbose=0 if small else 1,
)

# ## 4. Tag unseen sentences
predicted = model.tag(test_words)
print(list(zip(test_words[0], predicted[0])))
entities = [(p, t) for ps, ts in zip(predicted, test_tags) for p, t in zip(ps, ts) if t != "O"]
recall = sum(p == t for p, t in entities) / max(len(entities), 1)
print(f"held-out entity words tagged right: {recall:.2f}")
assert [len(p) for p in predicted] == [len(w) for w in test_words]

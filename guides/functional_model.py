"""# Your own functional model from `keras_models.layers`

The layers are ordinary Keras layers: compose them with the functional API into a model the
library does not ship, here a small encoder with a span head, and train it with `fit`.

Run: `python guides/functional_model.py` (any `KERAS_BACKEND`). `SMALL=1` shrinks it.
"""

import os

import keras
import numpy as np

from keras_models import layers

small = os.environ.get("SMALL") == "1"
vocab, hidden, seq = 64, 32, 12

# ## The graph
ids = keras.Input(shape=(None,), dtype="int32", name="input_ids")
mask = keras.Input(shape=(None,), dtype="int32", name="attention_mask")
embeddings = layers.TransformerEmbeddings(
    vocab, hidden, max_position_embeddings=seq, layer_norm_eps=1e-5
)
x = embeddings(ids, position_ids=layers.absolute_position_ids(ids))
attention_mask = keras.ops.expand_dims(mask, 1)  # [batch, 1, keys]: padding hides keys only
for i in range(2):
    x = layers.TransformerEncoderBlock(
        hidden, num_attention_heads=4, intermediate_size=64, normalize_first=True, name=f"block_{i}"
    )(x, attention_mask=attention_mask)
start_logits, end_logits = layers.SpanHead(name="span")(x)
model = keras.Model([ids, mask], {"start": start_logits, "end": end_logits})
model.summary(line_length=90)

# ## Training: the answer is the span of "answer tokens" (ids >= 48) in each row
rng = np.random.default_rng(0)
rows = 128 if small else 512
data = rng.integers(1, 48, size=(rows, seq)).astype("int32")
starts = rng.integers(0, seq - 2, size=rows)
data[np.arange(rows), starts] = rng.integers(48, vocab, size=rows)
data[np.arange(rows), starts + 1] = rng.integers(48, vocab, size=rows)
labels = {"start": starts, "end": starts + 1}
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss={"start": loss, "end": loss})
history = model.fit([data, np.ones_like(data)], labels, epochs=3 if small else 8, verbose=0)
print("loss per epoch:", [round(v, 3) for v in history.history["loss"]])
assert history.history["loss"][-1] < history.history["loss"][0]

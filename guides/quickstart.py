"""# Quickstart

Build a RoBERTa question-answering model, call it with a tensor, a list or a dict, train it with
`fit` using transformers' own loss, and save it as a preset.

Run: `python guides/quickstart.py` (any `KERAS_BACKEND`). `SMALL=1` shrinks it for the tests.
"""

import os
import tempfile

import keras
import numpy as np

import keras_models

small = os.environ.get("SMALL") == "1"

# ## 1. A model from a configuration
# Constructor arguments use the Hugging Face config names. (`from_preset` loads released
# checkpoints by name or from a Hugging Face directory instead.)
backbone = keras_models.RobertaBackbone(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    add_pooling_layer=False,
)
model = keras_models.RobertaForQuestionAnswering(backbone)

# ## 2. Three input forms, as Hugging Face's TF models accepted
ids = np.array([[0, 11, 12, 13, 2, 1], [0, 21, 22, 2, 1, 1]], dtype="int32")
mask = (ids != 1).astype("int32")
a = model(ids)  # a tensor is `input_ids`
b = model([ids, mask])  # a list follows the documented order
c = model({"input_ids": ids, "attention_mask": mask})  # a dict goes by name
print("start logits:", keras.ops.convert_to_numpy(c["start_logits"]).shape)

# ## 3. Train with transformers' loss
# `compile()` without a loss uses the QA loss of transformers (mean of start and end
# cross-entropy, out-of-range positions ignored). Labels go in `y` or inside the `x` dict.
rng = np.random.default_rng(0)
train_ids = rng.integers(3, 100, size=(64, 6)).astype("int32")
starts, ends = np.full(64, 2, "int32"), np.full(64, 3, "int32")
model.compile(optimizer=keras.optimizers.Adam(1e-3))
history = model.fit(train_ids, (starts, ends), epochs=2 if small else 5, batch_size=16, verbose=0)
print("loss per epoch:", [round(v, 3) for v in history.history["loss"]])

# ## 4. Save and load a preset
with tempfile.TemporaryDirectory() as directory:
    model.save_to_preset(os.path.join(directory, "my_qa"))
    again = keras_models.RobertaForQuestionAnswering.from_preset(os.path.join(directory, "my_qa"))
    same = np.allclose(
        keras.ops.convert_to_numpy(again(ids)["start_logits"]),
        keras.ops.convert_to_numpy(model(ids)["start_logits"]),
        atol=1e-5,
    )
    print("reloaded preset gives the same outputs:", same)
    assert same

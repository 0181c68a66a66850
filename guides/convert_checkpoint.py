"""# Converting a Hugging Face checkpoint

Any checkpoint directory written by transformers' `save_pretrained` (or downloaded from the
Hub) loads with `from_preset`: the weights are read from `model.safetensors` (no torch needed),
mapped onto the Keras layers, and checked (a missing, unexpected or misshapen weight is an
error that names it). `keras-models convert` does the same from the shell, writes a Keras
preset, and with `--check` compares the outputs with transformers'.

This guide builds a tiny transformers model so that it runs offline in seconds. A real one
works the same way: `from_preset("hf://FacebookAI/roberta-base")` or a local directory.

Run: `python guides/convert_checkpoint.py` (needs `transformers` and `torch`, the `dev` extra).
"""

import os
import shutil
import tempfile

import keras
import numpy as np
import torch
import transformers

import keras_models
from keras_models.cli import main as keras_models_cli

small = os.environ.get("SMALL") == "1"
workdir = tempfile.mkdtemp()

# ## 1. A checkpoint from transformers
# A randomly initialised RoBERTa with a sequence-classification head, saved in the Hugging
# Face layout (config.json + model.safetensors). Any family and head works the same way.
torch.manual_seed(0)
config = transformers.RobertaConfig(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    num_labels=3,
)
hf_model = transformers.RobertaForSequenceClassification(config).eval()
checkpoint = os.path.join(workdir, "hf_checkpoint")
hf_model.save_pretrained(checkpoint)
print("files:", sorted(os.listdir(checkpoint)))

# ## 2. Load it with `from_preset`
# The head is converted too. `num_labels` comes from the checkpoint's config.
model = keras_models.RobertaForSequenceClassification.from_preset(checkpoint)
ids = np.array([[0, 11, 12, 13, 2, 1], [0, 21, 22, 2, 1, 1]], dtype="int32")
mask = (ids != 1).astype("int32")
ours = keras.ops.convert_to_numpy(model({"input_ids": ids, "attention_mask": mask})["logits"])
with torch.no_grad():
    theirs = hf_model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
print("logits:", ours.round(4).tolist())
print("max difference with transformers:", float(np.abs(ours - theirs.numpy()).max()))
assert np.allclose(ours, theirs.numpy(), atol=1e-5)

# The Auto classes pick the family from `model_type` in config.json.
auto = keras_models.AutoModelForSequenceClassification.from_preset(checkpoint)
print("AutoModelForSequenceClassification ->", type(auto).__name__)

# ## 3. The command line: convert and check
# From a shell: `keras-models convert <checkpoint> <output> --check`. It picks the class from
# the checkpoint's `architectures`, writes a Keras preset (config + weights, loadable without
# transformers), and with `--check` runs both models on the same ids and compares.
output = os.path.join(workdir, "keras_preset")
status = keras_models_cli(["convert", checkpoint, output, "--check"])
assert status == 0, "the converted model differs from transformers"

# ## 4. Use the Keras preset
# The converted preset loads with the same call; it no longer needs the Hugging Face files.
again = keras_models.RobertaForSequenceClassification.from_preset(output)
same = np.allclose(keras.ops.convert_to_numpy(again([ids, mask])["logits"]), ours, atol=1e-6)
print("the Keras preset gives the same logits:", same)
assert same

shutil.rmtree(workdir)

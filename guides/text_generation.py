"""# Text generation with OPT and summarisation with Pegasus

`OPTForCausalLM` (decoder-only) and `PegasusForConditionalGeneration` (encoder-decoder) share one
`generate` loop with a key/value cache: greedy, sampling (`do_sample`, `temperature`, `top_k`,
`top_p`) and beam search (`num_beams`), compiled once per shape on every backend.

The embedded `opt_tiny` and `pegasus_tiny` presets have RANDOM weights, so what they generate
before training is random text. To show the loop doing something visible, each model is first
fine-tuned for a few seconds with `fit` on text that ships with Python (the Zen of Python) or
with this package (templated biographies); a real checkpoint (`"opt_125m"`,
`"pegasus_xsum"`) is used the same way, without the training step.

Run: `python guides/text_generation.py` (any `KERAS_BACKEND`). `SMALL=1` shrinks it.
"""

import codecs
import contextlib
import io
import os

import keras

import keras_models
from keras_models.datasets import templated_qa

small = os.environ.get("SMALL") == "1"

# ## 1. OPT: a decoder-only language model
# `from_preset` attaches the OPT tokenizer (byte-level BPE; it prepends `</s>` as OPT does).
opt = keras_models.OPTForCausalLM.from_preset("opt_tiny")
tokenizer = opt.tokenizer
with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen of Python
    import this
zen = [line for line in codecs.decode(this.s, "rot13").splitlines()[2:] if line]

# Decoder-only models continue the prompt from its last token, so batched prompts are padded on
# the LEFT (as with transformers).
prompts = ["Beautiful is better", "Now is better"]
batch = tokenizer(prompts, padding=True, padding_side="left")
before = opt.generate(batch, max_new_tokens=8)
print("before training:", tokenizer.batch_decode(before, skip_special_tokens=True))

# Train on the Zen of Python: `labels` are the input ids (the loss shifts them by one and
# ignores -100, here the padding), exactly transformers' causal-LM loss.
data = tokenizer(zen, padding=True)
labels = data["input_ids"].copy()
labels[data["attention_mask"] == 0] = -100
opt.compile(optimizer=keras.optimizers.Adam(1e-2))
opt.fit({**data, "labels": labels}, epochs=3 if small else 60, batch_size=len(zen), verbose=0)
greedy = opt.generate(batch, max_new_tokens=8 if small else 12)
print("greedy:", tokenizer.batch_decode(greedy, skip_special_tokens=True))
if not small:  # each decoding strategy compiles its own loop: skipped in the quick run
    sampled = opt.generate(batch, max_new_tokens=8, do_sample=True, top_k=20, seed=0)
    print("sampled:", tokenizer.batch_decode(sampled, skip_special_tokens=True))
    beams = opt.generate(batch, max_new_tokens=8, num_beams=3)
    print("beam search:", tokenizer.batch_decode(beams, skip_special_tokens=True))

# ## 2. Pegasus: an encoder-decoder for summarisation
# The encoder reads the document once; the decoder starts from `decoder_start_token_id` (the
# pad id for Pegasus) and stops at `</s>`.
pegasus = keras_models.PegasusForConditionalGeneration.from_preset("pegasus_tiny")
tokenizer = pegasus.tokenizer

# A toy summarisation task: the "summary" of a templated biography is its first sentence
# (the classic lead-1 baseline). Labels are the summary ids; the decoder inputs are derived
# from them (shifted right behind the start token), as transformers does.
rows, held_out = templated_qa.load(train_size=16 if small else 400, test_size=3)
documents = rows["context"]
summaries = [doc.split(". ")[0].rstrip(".") + "." for doc in documents]
inputs = tokenizer(documents, padding=True)
targets = tokenizer(summaries, padding=True)
labels = targets["input_ids"].copy()
labels[targets["attention_mask"] == 0] = -100
pegasus.compile(optimizer=keras.optimizers.Adam(3e-3))
pegasus.fit({**inputs, "labels": labels}, epochs=1 if small else 15, batch_size=16, verbose=0)

# Batched encoder inputs may be padded on the right; one compiled loop serves the batch.
ids = pegasus.generate(tokenizer(held_out["context"], padding=True), max_new_tokens=24)
for document, summary in zip(
    held_out["context"], tokenizer.batch_decode(ids, skip_special_tokens=True)
):
    print("document:", document)
    print("summary: ", summary)

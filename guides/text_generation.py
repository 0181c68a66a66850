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
# `from_preset` attaches the OPT tokenizer (byte-level BPE; it prepends `</s>` as OPT does) and
# a `CausalLMPreprocessor`, so `fit` and `generate` take text.
opt = keras_models.OPTForCausalLM.from_preset("opt_tiny")
with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen of Python
    import this
zen = [line for line in codecs.decode(this.s, "rot13").splitlines()[2:] if line]

prompts = ["Beautiful is better", "Now is better"]
if not small:
    print("before training:", opt.generate(prompts, max_new_tokens=8))

# Train on the Zen of Python. On raw text the labels are the text itself (padding ignored);
# the loss shifts them by one, exactly transformers' causal-LM loss.
opt.compile(optimizer=keras.optimizers.Adam(1e-2))
opt.fit({"text": zen}, epochs=3 if small else 60, batch_size=len(zen), verbose=0)
# `generate` on strings returns the new text only (the prompt and special tokens left out).
print("greedy:", opt.generate(prompts, max_new_tokens=8 if small else 12))
if not small:  # each decoding strategy compiles its own loop: skipped in the quick run
    print("sampled:", opt.generate(prompts, max_new_tokens=8, do_sample=True, top_k=20, seed=0))
    print("beam search:", opt.generate(prompts, max_new_tokens=8, num_beams=3))

# The same on token ids: batched prompts are padded on the LEFT, as transformers expects for
# decoder-only models; the result holds the prompt followed by the new ids.
batch = opt.tokenizer(prompts, padding=True, padding_side="left")
ids = opt.generate(batch, max_new_tokens=8)
print("ids:", ids.shape, opt.tokenizer.batch_decode(ids, skip_special_tokens=True))

# ## 2. Pegasus: an encoder-decoder for summarisation
# The encoder reads the document once; the decoder starts from `decoder_start_token_id` (the
# pad id for Pegasus) and stops at `</s>`.
pegasus = keras_models.PegasusForConditionalGeneration.from_preset("pegasus_tiny")

# A toy summarisation task: the "summary" of a templated biography is its first sentence
# (the classic lead-1 baseline). On raw text `fit` takes `text` and `target`; the labels are
# the target ids and the decoder inputs those shifted right, as transformers does.
rows, held_out = templated_qa.load(train_size=16 if small else 400, test_size=3)
summaries = [doc.split(". ")[0].rstrip(".") + "." for doc in rows["context"]]
pegasus.compile(optimizer=keras.optimizers.Adam(3e-3))
pegasus.fit(
    {"text": rows["context"], "target": summaries},
    epochs=1 if small else 15,
    batch_size=16,
    verbose=0,
)
for document, summary in zip(
    held_out["context"], pegasus.generate(held_out["context"], max_new_tokens=8 if small else 24)
):
    print("document:", document)
    print("summary: ", summary)

"""The main job, offline: fine-tune the embedded `roberta_tiny` preset for extractive question
answering on raw text, and show it working.

`keras-models demo` (or `make demo`) runs `run_demo()`:

1. loads `roberta_tiny` by name (a tiny RoBERTa shipped in the package: random weights, a real
   byte-level BPE tokenizer) as `RobertaForQuestionAnswering`, with its tokenizer and a
   `QuestionAnsweringPreprocessor` attached;
2. generates the templated QA dataset (`keras_models.datasets.templated_qa`): train and held-out
   test splits about different people (places, jobs and other values come from shared lists);
3. scores exact match and F1 (SQuAD normalisation) on the held-out split, fine-tunes with
   `model.fit` on the raw question / context / answer text, and scores again;
4. answers a few questions from raw text, calls the model with a tensor, a list and a dict,
   saves it with `save_to_preset`, reloads it and checks the answers are unchanged;
5. writes a PNG of the loss curve when matplotlib is installed.
"""

import math
import os
import random
import tempfile
import time
import warnings

import numpy as np

QUESTIONS = [
    (
        "Where was Margarethe Quist born?",
        "Margarethe Quist was born in Tromso. She works as a cheese maker and plays the lute.",
    ),
    (
        "What does Margarethe Quist do for a living?",
        "Margarethe Quist was born in Tromso. She works as a cheese maker and plays the lute.",
    ),
    (
        "Which instrument does Obi play?",
        "Obi Mwangi has a dog called Sprocket. Obi learned to play the marimba as a child.",
    ),
]


def _rule(width=60):
    print("-" * width)


# The answers are a few words: longer spans are not considered (run_qa's max_answer_length).
MAX_ANSWER_TOKENS = 10


def _scores(model, data, batch_size=64):
    """Exact match and F1 of `model.answer` over a dataset split."""
    from keras_models.datasets import templated_qa

    answers = model.answer(
        data["question"],
        data["context"],
        batch_size=batch_size,
        max_answer_length=MAX_ANSWER_TOKENS,
    )
    return templated_qa.score([a["answer"] for a in answers], data["answer_text"])


def _plot(losses, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(losses) + 1), losses)
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (mean of start and end cross-entropy)")
    ax.set_title("roberta_tiny fine-tuned on templated QA")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_demo(
    train_size=20000,
    test_size=200,
    epochs=6,
    batch_size=16,
    learning_rate=3e-3,
    max_length=80,
    output_dir=None,
    verbose=None,
):
    """Fine-tunes `roberta_tiny` for question answering and prints a report.

    Args:
        train_size: training examples.
        test_size: held-out examples (no entity shared with training).
        epochs: passes over the training examples.
        batch_size: examples per step.
        learning_rate: peak learning rate (linear warm-up, then cosine decay).
        max_length: tokens per sequence (question + context).
        output_dir: where the fine-tuned preset and the loss plot go; a temporary directory
            (removed at the end) when None.
        verbose: `fit`'s verbosity: 1 a progress bar, 2 one line per epoch, 0 none; `None`
            picks 1 on a terminal and 2 otherwise (a bar's thousands of updates would fill a
            log file). The preset's conversion bars follow it too (see
            `keras_models.progress`).

    Returns:
        A dict with `before` and `after` (each `{"exact_match", "f1"}`), `train_seconds`,
        `losses` (per step) and `same_after_reload`.
    """
    import keras

    import keras_models
    from keras_models.datasets import templated_qa
    from keras_models.progress import fit_verbosity

    began = time.time()
    random.seed(0)  # Keras draws its default seeds from Python's generator.
    np.random.seed(0)
    print(f"keras-models demo: keras {keras.__version__}, backend {keras.backend.backend()}")
    _rule()

    # 1. The preset, by name, offline.
    with warnings.catch_warnings():
        # roberta_tiny has no QA head: the warning saying it starts fresh is expected here.
        warnings.simplefilter("ignore")
        # No dropout: a short run on plentiful generated data does not overfit.
        model = keras_models.RobertaForQuestionAnswering.from_preset(
            "roberta_tiny",
            verbose=verbose,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
    # The contexts are short: one window of `max_length` tokens holds question and context.
    model.preprocessor = keras_models.QuestionAnsweringPreprocessor(
        model.tokenizer, max_length=max_length, doc_stride=max_length // 4
    )
    print(
        f"model: RobertaForQuestionAnswering.from_preset('roberta_tiny'), "
        f"{model.count_params():,} parameters (random weights, new QA head)"
    )

    # 2. The data: SQuAD-style rows from templates, entities disjoint between the splits.
    train, test = templated_qa.load(train_size=train_size, test_size=test_size, seed=0)
    print(f"data: {train_size} training and {test_size} held-out examples (templated_qa)")
    print(f"  Q: {test['question'][0]}")
    print(f"  C: {test['context'][0]}")
    print(f"  A: {test['answer_text'][0]}")
    _rule()

    # 3. Score, fine-tune on raw text with `fit`, score again.
    before = _scores(model, test)
    steps = math.ceil(train_size / batch_size) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(steps - steps // 10, 1),
        warmup_target=learning_rate,
        warmup_steps=max(steps // 10, 1),
    )
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01))
    losses = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"]))
    )
    fit_began = time.time()
    model.fit(
        {key: train[key] for key in ("question", "context", "answer_text", "answer_start")},
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=[record],
        verbose=fit_verbosity(verbose),
    )
    train_seconds = time.time() - fit_began
    after = _scores(model, test)
    _rule()
    print(f"held-out set ({test_size} questions, people never seen in training)")
    print(f"{'':<24}{'exact match':>12}{'F1':>8}")
    print(f"{'before fine-tuning':<24}{before['exact_match']:>12.3f}{before['f1']:>8.3f}")
    print(f"{'after fine-tuning':<24}{after['exact_match']:>12.3f}{after['f1']:>8.3f}")
    print(f"fine-tuning: {epochs} epochs, {len(losses)} steps, {train_seconds:.0f} s")
    _rule()

    # 4a. Answers from raw text (people, places and words the model never saw).
    print("questions from raw text:")
    for question, context in QUESTIONS:
        result = model.answer(question, context, max_answer_length=MAX_ANSWER_TOKENS)
        print(f"  {question:<46} -> {result['answer']!r} (score {result['score']:.2f})")
    _rule()

    # 4b. The same model called with a tensor, a list and a dict.
    question, context = QUESTIONS[0]
    encoded = model.tokenizer(question, context)
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    spans = {}
    for form, inputs in (
        ("tensor", ids),
        ("list", [ids, mask]),
        ("dict", {"input_ids": ids, "attention_mask": mask}),
    ):
        out = model(inputs)
        start = int(np.argmax(keras.ops.convert_to_numpy(out["start_logits"])[0]))
        end = int(np.argmax(keras.ops.convert_to_numpy(out["end_logits"])[0]))
        spans[form] = (start, end)
        text = model.tokenizer.decode(ids[0, start : end + 1]).strip()
        print(f"  model({form + ' input':<12}) -> tokens {start}..{end}: {text!r}")
    assert len(set(spans.values())) == 1, spans
    _rule()

    # 4c. Save as a Keras preset, reload by directory, check the answers agree.
    with tempfile.TemporaryDirectory() as scratch:
        root = output_dir or scratch
        os.makedirs(root, exist_ok=True)
        preset_dir = os.path.join(root, "roberta_tiny_templated_qa")
        model.save_to_preset(preset_dir)
        reloaded = keras_models.RobertaForQuestionAnswering.from_preset(preset_dir)
        sample = {k: test[k][:16] for k in ("question", "context")}
        mine = [a["answer"] for a in model.answer(sample["question"], sample["context"])]
        again = [a["answer"] for a in reloaded.answer(sample["question"], sample["context"])]
        same = mine == again
        print(f"saved with save_to_preset -> {preset_dir if output_dir else '(a temp dir)'}")
        print(f"reloaded with from_preset: same answers on {len(mine)} held-out questions: {same}")
        plot = _plot(losses, os.path.join(output_dir, "loss.png")) if output_dir else None
    if plot:
        print(f"loss curve: {plot}")
    elif output_dir:
        print("loss curve: skipped (matplotlib is not installed)")
    _rule()
    print(f"done in {time.time() - began:.0f} s")
    return {
        "before": before,
        "after": after,
        "train_seconds": train_seconds,
        "losses": losses,
        "same_after_reload": same,
    }

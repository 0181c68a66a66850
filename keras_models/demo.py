"""The main job: a small RoBERTa QA model trained with `fit` on tensor, list and dict inputs."""

import random
import time

import numpy as np


def make_span_data(rng, rows, seq, vocab):
    """Synthetic extractive QA: the answer is the one run of tokens from the top quarter of the
    vocabulary, hidden in a context drawn from the rest."""
    answer_low = vocab - vocab // 4
    ids = rng.integers(4, answer_low, size=(rows, seq)).astype("int32")
    ids[:, 0] = 0
    start = rng.integers(1, seq - 2, size=rows)
    length = rng.integers(0, 2, size=rows)
    for i in range(rows):
        ids[i, start[i] : start[i] + length[i] + 1] = rng.integers(answer_low, vocab, length[i] + 1)
    return ids, start.astype("int32"), (start + length).astype("int32")


def run_demo(steps=30):
    import keras

    import keras_models

    random.seed(0)  # Keras draws its default seeds from Python's generator.
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    backbone = keras_models.RobertaBackbone(
        vocab_size=64,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=40,
        add_pooling_layer=False,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = keras_models.RobertaForQuestionAnswering(backbone)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))  # no loss: the transformers QA loss
    rng = np.random.default_rng(0)
    ids, starts, ends = make_span_data(rng, 32 * steps, 24, 64)
    mask = np.ones_like(ids)
    forms = [
        ("tensor", ids, (starts, ends)),
        ("list", [ids, mask], (starts, ends)),
        (
            "dict",
            {
                "input_ids": ids,
                "attention_mask": mask,
                "start_positions": starts,
                "end_positions": ends,
            },
            None,
        ),
    ]
    print(f"{'input form':<10} {'first loss':>10} {'last loss':>10} {'seconds':>8}")
    for name, x, y in forms:
        began = time.time()
        losses = []
        record = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs, out=losses: out.append(float(logs["loss"]))
        )
        model.fit(
            x, y, batch_size=32, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[record]
        )
        print(f"{name:<10} {losses[0]:>10.4f} {losses[-1]:>10.4f} {time.time() - began:>8.1f}")
    test_ids, test_starts, test_ends = make_span_data(rng, 6, 24, 64)
    out = model.predict(test_ids, verbose=0)
    pred_start = out["start_logits"].argmax(-1)
    pred_end = out["end_logits"].argmax(-1)
    print("\nheld-out spans (true -> predicted)")
    for i in range(len(test_ids)):
        print(f"  ({test_starts[i]}, {test_ends[i]}) -> ({pred_start[i]}, {pred_end[i]})")
    exact = np.mean((pred_start == test_starts) & (pred_end == test_ends))
    print(f"exact span match on held-out rows: {exact:.2f}")

"""The Hugging Face losses of each head, in `keras.ops` (float32, ignore index -100)."""

from keras import ops

IGNORE_INDEX = -100


def cross_entropy(logits, labels, ignore_index=IGNORE_INDEX):
    """Mean cross-entropy over targets that are not `ignore_index` (torch `CrossEntropyLoss`).

    `logits` is `[..., classes]` and `labels` `[...]`. Where every target is ignored the result is
    0 rather than torch's NaN, so a batch without targets does not poison training.
    """
    logits = ops.cast(logits, "float32")
    labels = ops.cast(labels, "int32")
    valid = ops.not_equal(labels, ignore_index)
    safe = ops.where(valid, labels, 0)
    log_probs = ops.log_softmax(logits, axis=-1)
    nll = -ops.squeeze(ops.take_along_axis(log_probs, safe[..., None], axis=-1), -1)
    weights = ops.cast(valid, "float32")
    return ops.sum(nll * weights) / ops.maximum(ops.sum(weights), 1.0)


def causal_lm_loss(logits, labels):
    """Next-token loss: position t predicts `labels[t + 1]`; the last position has no target."""
    return cross_entropy(logits[:, :-1, :], labels[:, 1:])


def question_answering_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of start and end CE; positions are clamped to `[0, seq]` and `seq` is ignored."""
    length = ops.shape(start_logits)[1]

    def one(logits, positions):
        positions = ops.cast(positions, "int32")
        if len(positions.shape) > 1:
            positions = ops.reshape(positions, (-1,))
        positions = ops.clip(positions, 0, length)
        return cross_entropy(logits, positions, ignore_index=length)

    return (one(start_logits, start_positions) + one(end_logits, end_positions)) / 2.0


def infer_problem_type(num_labels, labels):
    """HF's rule: one label is regression; integer labels single-label; otherwise multi-label."""
    if num_labels == 1:
        return "regression"
    dtype = str(labels.dtype)
    if "int" in dtype:
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits, labels, num_labels, problem_type=None):
    """Regression (MSE), single-label (CE) or multi-label (BCE with logits) loss."""
    problem_type = problem_type or infer_problem_type(num_labels, labels)
    logits = ops.cast(logits, "float32")
    if problem_type == "regression":
        labels = ops.cast(labels, "float32")
        if num_labels == 1:
            return ops.mean(ops.square(ops.reshape(logits, (-1,)) - ops.reshape(labels, (-1,))))
        return ops.mean(ops.square(logits - ops.reshape(labels, ops.shape(logits))))
    if problem_type == "single_label_classification":
        return cross_entropy(logits, ops.reshape(labels, (-1,)))
    if problem_type == "multi_label_classification":
        labels = ops.cast(labels, "float32")
        # Numerically stable BCE with logits, as torch computes it.
        loss = ops.maximum(logits, 0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
        return ops.mean(loss)
    raise ValueError(
        f"Unknown `problem_type` {problem_type!r}; accepted: 'regression', "
        "'single_label_classification', 'multi_label_classification' or None."
    )

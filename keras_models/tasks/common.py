"""Small helpers shared by the generic tasks."""

from keras_models.layers.heads import MaskedLMHead


def init_range(backbone):
    return getattr(backbone, "initializer_range", 0.02)


def word_table_lm_head(backbone, activation):
    """The masked-LM head on the backbone's word table (`lm_head`), as the BERT-style heads
    (masked LM, causal LM, pretraining) build it."""
    return MaskedLMHead(
        backbone.token_embedding,
        hidden_act=activation,
        layer_norm_eps=backbone.layer_norm_eps,
        initializer_range=init_range(backbone),
        dtype=backbone.dtype_policy,
        name="lm_head",
    )


def hidden_dropout(backbone, classifier_dropout=None):
    """HF's `classifier_dropout if set else hidden_dropout_prob`."""
    if classifier_dropout is not None:
        return classifier_dropout
    return getattr(backbone, "hidden_dropout_prob", 0.0)


def backbone_hidden_size(backbone):
    return backbone.output["last_hidden_state"].shape[-1]


def label_maps(num_labels, id2label=None, label2id=None, problem_type=None):
    """`(num_labels, id2label, label2id)` as transformers settles them; `problem_type` is
    checked against `num_labels`.

    `num_labels` defaults to the size of `id2label` (2 without either); `id2label` defaults to
    `LABEL_0, LABEL_1, ...` and `label2id` to its inverse. JSON keys (strings) become ints.
    """
    if id2label is not None:
        if not isinstance(id2label, dict):
            raise ValueError(f"`id2label` must be a dict of id -> name; got {id2label!r}.")
        id2label = {int(k): str(v) for k, v in id2label.items()}
        if num_labels is not None and num_labels != len(id2label):
            raise ValueError(
                f"`num_labels={num_labels}` disagrees with `id2label`, which names "
                f"{len(id2label)} labels; pass one of them or make them agree."
            )
    if num_labels is None:
        num_labels = len(id2label) if id2label else 2
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ValueError(f"`num_labels` must be a positive int; got {num_labels!r}.")
    if id2label is None:
        id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
    if label2id is None:
        label2id = {name: i for i, name in id2label.items()}
    elif not isinstance(label2id, dict):
        raise ValueError(f"`label2id` must be a dict of name -> id; got {label2id!r}.")
    else:
        label2id = {str(k): int(v) for k, v in label2id.items()}
    check_problem_type(problem_type, num_labels)
    return num_labels, id2label, label2id


PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def check_problem_type(problem_type, num_labels):
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise ValueError(
            f"`problem_type` must be None or one of {PROBLEM_TYPES}; got {problem_type!r}."
        )
    if problem_type == "single_label_classification" and num_labels == 1:
        # transformers refuses this combination in its config too.
        raise ValueError(
            "`problem_type='single_label_classification'` needs `num_labels > 1`; use "
            "`problem_type='regression'` for one output."
        )
    return problem_type

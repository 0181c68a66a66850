"""Small helpers shared by the generic tasks."""


def init_range(backbone):
    return getattr(backbone, "initializer_range", 0.02)


def hidden_dropout(backbone, classifier_dropout=None):
    """HF's `classifier_dropout if set else hidden_dropout_prob`."""
    if classifier_dropout is not None:
        return classifier_dropout
    return getattr(backbone, "hidden_dropout_prob", 0.0)


def backbone_hidden_size(backbone):
    return backbone.output["last_hidden_state"].shape[-1]

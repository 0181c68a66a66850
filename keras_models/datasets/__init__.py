"""Small datasets generated in the package (no download)."""

from keras_models.datasets import templated_qa  # noqa: F401

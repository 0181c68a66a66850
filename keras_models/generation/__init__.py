"""Cached generation: one decode loop (greedy, sampling, beam search) for every model, its
settings (`GenerationConfig`), logits processors and streamers."""

from keras_models.generation.config import GenerationConfig
from keras_models.generation.loop import beam_search, search
from keras_models.generation.mixin import GenerationMixin
from keras_models.generation.samplers import SamplerConfig, greedy, sample
from keras_models.generation.streamers import BaseStreamer, TextStreamer

__all__ = [
    "BaseStreamer",
    "GenerationConfig",
    "GenerationMixin",
    "SamplerConfig",
    "TextStreamer",
    "beam_search",
    "greedy",
    "sample",
    "search",
]

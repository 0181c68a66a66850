"""Cached generation: one decode loop (greedy, sampling, beam search) for every model."""

from keras_models.generation.loop import beam_search, search
from keras_models.generation.mixin import GenerationMixin
from keras_models.generation.samplers import SamplerConfig, greedy, sample

__all__ = ["GenerationMixin", "SamplerConfig", "beam_search", "greedy", "sample", "search"]

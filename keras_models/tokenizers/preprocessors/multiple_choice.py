"""Multiple choice on raw text: a prompt and its choices packed to `[batch, choices, seq]`."""

import numpy as np

from keras_models.tokenizers.preprocessors.base import Preprocessor, label_array, text_list


class MultipleChoicePreprocessor(Preprocessor):
    """Packs each prompt with each of its choices, as transformers' SWAG example does.

    `fit` takes `x = {"prompt": [...], "choices": [["a", "b", ...], ...]}` and `y` = the index
    of the right choice. Every (prompt, choice) pair is one sequence, the prompt the first
    segment and the choice the second, truncated longest-first to `max_length` and padded to
    the longest pair; the inputs are `[batch, num_choices, seq]`. Every prompt needs the same
    number of choices.

    Args:
        tokenizer: the model family's tokenizer.
        max_length: the most tokens per (prompt, choice) pair.

    Examples:
    >>> MultipleChoicePreprocessor.raw_keys
    ('prompt', 'choices')
    """

    raw_keys = ("prompt", "choices")

    def encode(self, prompt, choices):
        prompts, single = text_list(prompt, "prompt")
        if isinstance(choices, np.ndarray):
            choices = choices.tolist()
        if single and isinstance(choices, (list, tuple)) and choices:
            if isinstance(choices[0], str):
                choices = [choices]
        if not isinstance(choices, (list, tuple)) or len(choices) != len(prompts):
            raise ValueError(
                f"`choices` must hold one list of choices per prompt ({len(prompts)} prompts)."
            )
        options = [text_list(c, f"choices[{i}]")[0] for i, c in enumerate(choices)]
        counts = {len(c) for c in options}
        if len(counts) != 1 or 0 in counts:
            raise ValueError(
                f"Every prompt needs the same (non-zero) number of choices; got {sorted(counts)}."
            )
        count = counts.pop()
        firsts = [p for p in prompts for _ in range(count)]
        seconds = [c for cs in options for c in cs]
        encoded = self.tokenizer(
            firsts, seconds, padding=True, truncation=True, max_length=self.max_length
        )
        shape = (len(prompts), count, -1)
        return {k: v.reshape(shape) for k, v in encoded.items()}, single

    def prepare(self, x, y=None, input_names=None, training=False):
        x = self.raw_dict(x)
        self.require(x, "prompt", "choices")
        encoded, _ = self.encode(x["prompt"], x["choices"])
        if y is not None and not isinstance(y, dict):
            y = label_array(y, len(encoded["input_ids"]))
        return self.model_inputs(encoded, input_names), y

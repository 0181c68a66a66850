"""Named presets: each points at a public Hugging Face checkpoint of one family."""

import dataclasses
import os

from keras_models.progress import hub_progress

_HUB_PATTERNS = [
    "config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "*.json",
    "*.txt",
    "*.model",
    "merges.txt",
    "vocab.*",
]
# Fetched only when a repository has no safetensors weights.
_TORCH_PATTERNS = ["pytorch_model*.bin", "pytorch_model.bin.index.json"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A registered preset.

    Attributes:
        name: the preset name (`"roberta_base"`).
        family: the model family (`"roberta"`).
        source: the Hugging Face repository (`"FacebookAI/roberta-base"`).
        task: the task head the checkpoint carries, or `None` for a base model.
        params: approximate parameter count.
        description: one line about the checkpoint.
        embedded: whether the checkpoint ships inside the package (`source` is then its
            directory relative to the package), so it loads offline.
    """

    name: str
    family: str
    source: str
    task: str | None
    params: int
    description: str
    embedded: bool = False

    def resolve(self, verbose=None):
        """The preset's local directory: in the package, or downloaded (`verbose`: the
        download's progress bars, see `keras_models.progress`)."""
        if self.embedded:
            return os.path.join(
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))), self.source
            )
        return download(self.source, verbose)


PRESETS = {}


def register_presets(*presets):
    for preset in presets:
        PRESETS[preset.name] = preset


def list_presets(family=None, task=None, embedded=None):
    """Registered presets, optionally filtered by family, task head and where they live.

    Args:
        family: e.g. `"roberta"`; `None` for all.
        task: e.g. `"question_answering"`; `None` for all.
        embedded: `True` for the small presets shipped inside the package (random weights,
            offline), `False` for the Hugging Face Hub checkpoints, `None` for both.

    Returns:
        A list of `Preset` records sorted by name.

    Examples:
    >>> import keras_models
    >>> [p.name for p in keras_models.list_presets(family="roberta")][:2]
    ['roberta_base', 'roberta_base_squad2']
    >>> [p.name for p in keras_models.list_presets(family="roberta", embedded=True)]
    ['roberta_tiny']
    """
    return sorted(
        (
            p
            for p in PRESETS.values()
            if (family is None or p.family == family)
            and (task is None or p.task == task)
            and (embedded is None or p.embedded == embedded)
        ),
        key=lambda p: p.name,
    )


def download(repo_id, verbose=None):
    """Downloads (or finds in the hub cache) a Hugging Face repository; returns its directory.

    huggingface_hub draws its own progress bars; `verbose=0`, or `None` when stderr is not a
    terminal, turns them off for the download (see `keras_models.progress.hub_progress`).
    """
    try:
        from huggingface_hub import snapshot_download
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise ValueError("Loading from the Hugging Face Hub needs `huggingface_hub`.") from error
    try:
        with hub_progress(verbose):
            directory = snapshot_download(repo_id, allow_patterns=_HUB_PATTERNS)
            if not any(name.endswith(".safetensors") for name in os.listdir(directory)):
                # Older repositories (e.g. junnyu/roformer_chinese_base) hold only a PyTorch
                # pickle.
                directory = snapshot_download(repo_id, allow_patterns=_TORCH_PATTERNS)
        return directory
    except Exception as error:  # the hub client raises many types
        raise ValueError(
            f"Could not fetch {repo_id!r} from the Hugging Face Hub: {error}"
        ) from error

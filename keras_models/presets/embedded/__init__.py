"""Small presets shipped inside the package: one per family, loadable by name with no network.

Each is a Hugging Face checkpoint directory (config.json, model.safetensors, the family's
tokenizer files) built by `python -m keras_models.presets.embedded.build`. They are tiny (hidden
size 64, 2 layers, vocabularies of 1-2k entries) and their weights are RANDOM (transformers'
initialisation under a fixed seed): use them to try the API, in tests and for small fine-tuning
runs such as `keras-models demo`, not for their predictions. The tokenizers are real, trained on
Python's own docstrings and the package's text.

Examples:

>>> import keras_models
>>> [p.name for p in keras_models.list_presets(embedded=True)]  # doctest: +NORMALIZE_WHITESPACE
['megatron_bert_tiny', 'opt_tiny', 'pegasus_tiny', 'roberta_tiny', 'roc_bert_tiny',
 'roformer_tiny']
>>> backbone = keras_models.RobertaBackbone.from_preset("roberta_tiny")
>>> backbone.get_config()["hidden_size"]
64
"""

from keras_models.presets.registry import Preset, register_presets

_NOTE = "random weights, for trying the API and small fine-tuning runs"


def _tiny(name, family, params, what):
    return Preset(
        name,
        family,
        f"presets/embedded/{name}",
        None,
        params,
        f"Tiny {what} shipped in the package (hidden 64, 2 layers; {_NOTE}).",
        embedded=True,
    )


register_presets(
    _tiny("roberta_tiny", "roberta", 237_440, "RoBERTa, byte-level BPE of 2,048 tokens"),
    _tiny("opt_tiny", "opt", 231_040, "OPT causal LM, byte-level BPE of 2,048 tokens"),
    _tiny(
        "pegasus_tiny", "pegasus", 303_808, "Pegasus seq2seq (2+2 layers), SentencePiece of 1,103"
    ),
    _tiny("megatron_bert_tiny", "megatron_bert", 208_386, "MegatronBERT, WordPiece of 1,536"),
    _tiny("roc_bert_tiny", "roc_bert", 216_000, "RoCBert, WordPiece with shape/pinyin maps"),
    _tiny("roformer_tiny", "roformer", 179_520, "RoFormer, WordPiece with jieba words"),
)

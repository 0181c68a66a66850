"""Registered MegatronBERT checkpoints.

The two NVIDIA hub repositories hold the model card and tokenizer files only: the weights come
from NGC and are turned into `config.json` + `pytorch_model.bin` by transformers'
`convert_megatron_bert_checkpoint.py` (see the model cards). Load that directory with
`from_preset(path)`, or place it in the hub cache under the repository name.
"""

from keras_models.presets.registry import Preset

PRESETS = (
    Preset(
        "megatron_bert_cased_345m",
        "megatron_bert",
        "nvidia/megatron-bert-cased-345m",
        None,
        345_000_000,
        "MegatronBERT 345M, 24 layers, English, cased (weights: NGC, converted).",
    ),
    Preset(
        "megatron_bert_uncased_345m",
        "megatron_bert",
        "nvidia/megatron-bert-uncased-345m",
        None,
        345_000_000,
        "MegatronBERT 345M, 24 layers, English, uncased (weights: NGC, converted).",
    ),
)

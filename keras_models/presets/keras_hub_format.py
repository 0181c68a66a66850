"""KerasHub presets of RoBERTa and OPT, read as transformers checkpoints.

A KerasHub preset directory (`metadata.json`, `config.json`, `model.weights.h5`, optional
`task.json` / `task.weights.h5`, tokenizer assets) is rewritten once into a transformers
checkpoint directory (config.json, model.safetensors, vocab.json, merges.txt) in the cache, and
that directory loads through the families' weight tables like any other checkpoint.

Positions: KerasHub counts positions from 0 for every token, transformers' RoBERTa from
`pad_token_id + 1` over the real tokens, and OPT from 2 over the real tokens. Row `i` of
KerasHub's table becomes row `i + pad_token_id + 1` (RoBERTa) or `i + 2` (OPT), so the two agree
on every real token of a right-padded batch. Left padding cannot agree: KerasHub gives the first
real token the position of its index. KerasHub's RoBERTa has no token-type table; transformers'
gets a single zero row, which adds nothing.
"""

import hashlib
import json
import os
import re
import shutil

import numpy as np

from keras_models.presets.atomic import atomic_directory
from keras_models.presets.cache import cache_root

KERAS_HUB_CLASSES = {
    "keras_hub>RobertaBackbone": "RobertaModel",
    "keras_hub>RobertaMaskedLM": "RobertaForMaskedLM",
    "keras_hub>RobertaTextClassifier": "RobertaForSequenceClassification",
    "keras_hub>OPTBackbone": "OPTModel",
    "keras_hub>OPTCausalLM": "OPTForCausalLM",
}
ROBERTA_PAD, OPT_OFFSET = 1, 2


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def is_keras_hub_preset(directory):
    """Whether `directory` is a preset saved by KerasHub's `save_to_preset`."""
    config = os.path.join(directory, "config.json")
    if not os.path.exists(os.path.join(directory, "metadata.json")) or not os.path.exists(config):
        return False
    return str(_read_json(config).get("registered_name", "")).startswith("keras_hub>")


def read_weights(path):
    """`{layer path: [arrays in variable order]}` of a Keras `.weights.h5` file."""
    import h5py

    layers = {}

    def visit(name, obj):
        match = re.fullmatch(r"layers/(.+)/vars/(\d+)", name)
        if match and isinstance(obj, h5py.Dataset):
            layers.setdefault(match.group(1), {})[int(match.group(2))] = np.asarray(obj)

    if os.path.exists(path):
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    return {k: [v[i] for i in sorted(v)] for k, v in layers.items()}


def _blocks(weights, kind):
    """The transformer blocks' layer paths in order (`transformer_encoder`, `..._1`, ...)."""
    names = {name.split("/")[0] for name in weights if name.startswith(kind)}
    return sorted(names, key=lambda n: int(n[len(kind) + 1 :] or 0) if n != kind else -1)


def _linear(weights, path):
    """A Dense / EinsumDense layer as transformers' Linear: `weight` `[out, in]`, `bias`."""
    kernel, bias = weights[path]
    if kernel.ndim == 3 and path.endswith("output_dense"):  # [heads, head_dim, out]
        kernel = kernel.reshape(-1, kernel.shape[-1])
    elif kernel.ndim == 3:  # [in, heads, head_dim]
        kernel = kernel.reshape(kernel.shape[0], -1)
    return {"weight": kernel.T, "bias": bias.reshape(-1)}


def _norm(weights, path):
    gamma, beta = weights[path]
    return {"weight": gamma, "bias": beta}


def _add(tensors, prefix, params):
    tensors.update({f"{prefix}.{k}": v for k, v in params.items()})


def _shifted(table, offset):
    """The position table with `offset` zero rows in front (see the module docstring)."""
    return np.concatenate([np.zeros((offset, table.shape[1]), table.dtype), table])


def _roberta(config, weights, task, task_weights, architecture):
    hidden = config["hidden_dim"]
    hf = {
        "model_type": "roberta",
        "vocab_size": config["vocabulary_size"],
        "hidden_size": hidden,
        "num_hidden_layers": config["num_layers"],
        "num_attention_heads": config["num_heads"],
        "intermediate_size": config["intermediate_dim"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": config["dropout"],
        "attention_probs_dropout_prob": config["dropout"],
        "max_position_embeddings": config["max_sequence_length"] + ROBERTA_PAD + 1,
        "type_vocab_size": 1,
        "layer_norm_eps": 1e-5,
        "pad_token_id": ROBERTA_PAD,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "add_pooling_layer": False,
    }
    p = "roberta." if architecture != "RobertaModel" else ""
    embedding = "token_and_position_embedding"
    t = {
        f"{p}embeddings.word_embeddings.weight": weights[f"{embedding}/token_embedding"][0],
        f"{p}embeddings.position_embeddings.weight": _shifted(
            weights[f"{embedding}/position_embedding"][0], ROBERTA_PAD + 1
        ),
        f"{p}embeddings.token_type_embeddings.weight": np.zeros((1, hidden), "float32"),
    }
    _add(t, f"{p}embeddings.LayerNorm", _norm(weights, "layer_normalization"))
    for i, block in enumerate(_blocks(weights, "transformer_encoder")):
        layer = f"{p}encoder.layer.{i}"
        for name in ("query", "key", "value"):
            path = f"{block}/_self_attention_layer/{name}_dense"
            _add(t, f"{layer}.attention.self.{name}", _linear(weights, path))
        attention = f"{block}/_self_attention_layer/output_dense"
        _add(t, f"{layer}.attention.output.dense", _linear(weights, attention))
        norm = f"{block}/_self_attention_layer_norm"
        _add(t, f"{layer}.attention.output.LayerNorm", _norm(weights, norm))
        intermediate = f"{block}/_feedforward_intermediate_dense"
        _add(t, f"{layer}.intermediate.dense", _linear(weights, intermediate))
        _add(t, f"{layer}.output.dense", _linear(weights, f"{block}/_feedforward_output_dense"))
        _add(t, f"{layer}.output.LayerNorm", _norm(weights, f"{block}/_feedforward_layer_norm"))
    if architecture == "RobertaForMaskedLM":
        head = {**weights, **task_weights}
        _add(t, "lm_head.dense", _linear(head, "masked_lm_head/_intermediate_dense"))
        _add(t, "lm_head.layer_norm", _norm(head, "masked_lm_head/_intermediate_layer_norm"))
        t["lm_head.bias"] = head["masked_lm_head"][0]
    elif architecture == "RobertaForSequenceClassification":
        head = {**weights, **task_weights}
        if task["config"].get("activation") not in (None, "linear"):
            raise ValueError(
                f"This KerasHub classifier ends in `activation={task['config']['activation']!r}`; "
                "transformers' classifier gives logits, so only `activation=None` converts."
            )
        _add(t, "classifier.dense", _linear(head, "dense"))
        _add(t, "classifier.out_proj", _linear(head, "dense_1"))
        hf["num_labels"] = task["config"]["num_classes"]
    return hf, t


def _opt(config, weights, task, task_weights, architecture):
    hf = {
        "model_type": "opt",
        "vocab_size": config["vocabulary_size"],
        "hidden_size": config["hidden_dim"],
        "word_embed_proj_dim": config["hidden_dim"],
        "num_hidden_layers": config["num_layers"],
        "num_attention_heads": config["num_heads"],
        "ffn_dim": config["intermediate_dim"],
        "max_position_embeddings": config["max_sequence_length"],
        "do_layer_norm_before": True,
        "activation_function": "relu",
        "dropout": config["dropout"],
        "pad_token_id": 1,
        "bos_token_id": 2,
        "eos_token_id": 2,
    }
    p = "model.decoder." if architecture != "OPTModel" else "decoder."
    embedding = "token_and_position_embedding"
    t = {
        f"{p}embed_tokens.weight": weights[f"{embedding}/token_embedding"][0],
        f"{p}embed_positions.weight": _shifted(
            weights[f"{embedding}/position_embedding"][0], OPT_OFFSET
        ),
    }
    _add(t, f"{p}final_layer_norm", _norm(weights, "layer_normalization"))
    for i, block in enumerate(_blocks(weights, "transformer_decoder")):
        layer = f"{p}layers.{i}"
        for ours, theirs in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj")):
            path = f"{block}/_self_attention_layer/{ours}_dense"
            _add(t, f"{layer}.self_attn.{theirs}", _linear(weights, path))
        attention = f"{block}/_self_attention_layer/output_dense"
        _add(t, f"{layer}.self_attn.out_proj", _linear(weights, attention))
        norm = f"{block}/_self_attention_layer_norm"
        _add(t, f"{layer}.self_attn_layer_norm", _norm(weights, norm))
        _add(t, f"{layer}.fc1", _linear(weights, f"{block}/_feedforward_intermediate_dense"))
        _add(t, f"{layer}.fc2", _linear(weights, f"{block}/_feedforward_output_dense"))
        _add(t, f"{layer}.final_layer_norm", _norm(weights, f"{block}/_feedforward_layer_norm"))
    return hf, t


def _fingerprint(directory):
    parts = [os.path.realpath(directory)]
    for name in ("config.json", "task.json", "model.weights.h5", "task.weights.h5"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            stat = os.stat(path)
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def as_transformers_checkpoint(directory):
    """The transformers checkpoint directory of the KerasHub preset `directory` (written once
    into the cache, again when the preset's files change)."""
    from safetensors.numpy import save_file

    config = _read_json(os.path.join(directory, "config.json"))
    task_path = os.path.join(directory, "task.json")
    task = _read_json(task_path) if os.path.exists(task_path) else None
    name = (task or config)["registered_name"]
    if name not in KERAS_HUB_CLASSES:
        raise ValueError(
            f"{directory} holds KerasHub's {name!r}; the KerasHub presets that open here are "
            f"{sorted(KERAS_HUB_CLASSES)}."
        )
    architecture = KERAS_HUB_CLASSES[name]
    target = os.path.join(cache_root(), "keras_hub", _fingerprint(directory))
    if os.path.exists(os.path.join(target, "model.safetensors")):
        return target
    weights = read_weights(os.path.join(directory, "model.weights.h5"))
    task_weights = read_weights(os.path.join(directory, "task.weights.h5"))
    family = _roberta if architecture.startswith("Roberta") else _opt
    hf_config, tensors = family(config["config"], weights, task, task_weights, architecture)
    hf_config["architectures"] = [architecture]
    with atomic_directory(target, prefix=".keras-hub-") as tmp:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(hf_config, f, indent=2)
        tensors = {k: np.ascontiguousarray(v, dtype="float32") for k, v in tensors.items()}
        save_file(tensors, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        assets = os.path.join(directory, "assets", "tokenizer")
        for source, name in (("vocabulary.json", "vocab.json"), ("merges.txt", "merges.txt")):
            if os.path.exists(os.path.join(assets, source)):
                shutil.copyfile(os.path.join(assets, source), os.path.join(tmp, name))
    return target

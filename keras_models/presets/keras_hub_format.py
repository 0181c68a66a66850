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


# --- export: our RoBERTa and OPT models as KerasHub presets ----------------------------------
#: Our class -> (KerasHub module, class).
_KERAS_HUB_EXPORTS = {
    "RobertaBackbone": ("roberta.roberta_backbone", "RobertaBackbone"),
    "RobertaForMaskedLM": ("roberta.roberta_masked_lm", "RobertaMaskedLM"),
    "RobertaForSequenceClassification": (
        "roberta.roberta_text_classifier",
        "RobertaTextClassifier",
    ),
    "OPTBackbone": ("opt.opt_backbone", "OPTBackbone"),
    "OPTForCausalLM": ("opt.opt_causal_lm", "OPTCausalLM"),
}
#: KerasHub's task kind of each task class (metadata.json's `tasks`).
_TASK_KINDS = {
    "RobertaMaskedLM": "MaskedLM",
    "RobertaTextClassifier": "TextClassifier",
    "OPTCausalLM": "CausalLM",
}
_TOKENIZERS = {
    "roberta": (
        "roberta.roberta_tokenizer",
        "RobertaTokenizer",
        ["</s>", "<mask>", "<pad>", "<s>"],
    ),
    "opt": ("opt.opt_tokenizer", "OPTTokenizer", ["</s>", "<pad>"]),
}


def _serialized(module, class_name, config):
    return {
        "module": f"keras_hub.src.models.{module}",
        "class_name": class_name,
        "config": config,
        "registered_name": f"keras_hub>{class_name}",
    }


def _policy(name):
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": name},
        "registered_name": None,
    }


def _einsum(tensors, key, heads, output=False):
    """transformers' Linear `key` as KerasHub's EinsumDense kernel and bias: `[in, heads,
    head_dim]` and `[heads, head_dim]`, or for the output projection `[heads, head_dim, out]`."""
    weight, bias = tensors[f"{key}.weight"], tensors[f"{key}.bias"]
    if output:
        return [weight.T.reshape(heads, -1, weight.shape[0]), bias]
    return [weight.T.reshape(weight.shape[1], heads, -1), bias.reshape(heads, -1)]


def _dense(tensors, key):
    return [tensors[f"{key}.weight"].T, tensors[f"{key}.bias"]]


def _ln(tensors, key):
    return [tensors[f"{key}.weight"], tensors[f"{key}.bias"]]


def _blocks_weights(tensors, config, names, kind, layers):
    """The KerasHub blocks' weights (`kind`, `kind_1`, ...) from transformers' layers
    `layers.{i}` (`names` maps KerasHub's sub-layers to transformers' module names)."""
    heads, out = config["num_attention_heads"], {}
    for i in range(config["num_hidden_layers"]):
        block, layer = kind + (f"_{i}" if i else ""), f"{layers}.{i}"
        for ours, theirs in names["attention"]:
            out[f"{block}/_self_attention_layer/{ours}_dense"] = _einsum(
                tensors, f"{layer}.{theirs}", heads, output=ours == "output"
            )
        for ours, theirs in names["dense"]:
            out[f"{block}/{ours}"] = _dense(tensors, f"{layer}.{theirs}")
        for ours, theirs in names["norm"]:
            out[f"{block}/{ours}"] = _ln(tensors, f"{layer}.{theirs}")
    return out


def _roberta_export(model, tensors, config):
    b = getattr(model, "backbone", model)
    for field, expected in (
        ("hidden_act", "gelu"),
        ("layer_norm_eps", 1e-5),
        ("is_decoder", False),
    ):
        if config[field] != expected:
            raise ValueError(
                f"`{field}={config[field]!r}`: KerasHub's RobertaBackbone has {expected!r} fixed, "
                "so this model cannot be written as a KerasHub preset."
            )
    p = "roberta." if b is not model else ""
    pad = config["pad_token_id"]
    # KerasHub's row i is transformers' row pad + 1 + i; its missing token-type table is
    # folded in (row 0: RoBERTa's tokenizers give type 0 to every token).
    positions = tensors[f"{p}embeddings.position_embeddings.weight"][pad + 1 :]
    positions = positions + tensors[f"{p}embeddings.token_type_embeddings.weight"][0]
    weights = {
        "token_and_position_embedding/token_embedding": [
            tensors[f"{p}embeddings.word_embeddings.weight"]
        ],
        "token_and_position_embedding/position_embedding": [positions],
        "layer_normalization": _ln(tensors, f"{p}embeddings.LayerNorm"),
    }
    names = {
        "attention": (
            ("query", "attention.self.query"),
            ("key", "attention.self.key"),
            ("value", "attention.self.value"),
            ("output", "attention.output.dense"),
        ),
        "dense": (
            ("_feedforward_intermediate_dense", "intermediate.dense"),
            ("_feedforward_output_dense", "output.dense"),
        ),
        "norm": (
            ("_self_attention_layer_norm", "attention.output.LayerNorm"),
            ("_feedforward_layer_norm", "output.LayerNorm"),
        ),
    }
    weights.update(
        _blocks_weights(tensors, config, names, "transformer_encoder", f"{p}encoder.layer")
    )
    backbone_config = {
        "name": "roberta_backbone",
        "trainable": True,
        "dtype": _policy("float32"),
        "vocabulary_size": config["vocab_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config["intermediate_size"],
        "dropout": config["hidden_dropout_prob"],
        "max_sequence_length": config["max_position_embeddings"] - pad - 1,
    }
    task_weights, task_config = {}, {}
    name = type(model).__name__
    if name == "RobertaForMaskedLM":
        task_weights = {
            "masked_lm_head/_intermediate_dense": _dense(tensors, "lm_head.dense"),
            "masked_lm_head/_intermediate_layer_norm": _ln(tensors, "lm_head.layer_norm"),
            "masked_lm_head": [tensors["lm_head.bias"]],
        }
        task_config = {"name": "roberta_masked_lm"}
    elif name == "RobertaForSequenceClassification":
        task_weights = {
            "dense": _dense(tensors, "classifier.dense"),
            "dense_1": _dense(tensors, "classifier.out_proj"),
        }
        dropout = config.get("classifier_dropout")
        task_config = {
            "name": "roberta_text_classifier",
            "num_classes": config["num_labels"],
            "activation": "linear",
            "hidden_dim": config["hidden_size"],
            "dropout": config["hidden_dropout_prob"] if dropout is None else dropout,
        }
    return weights, backbone_config, task_weights, task_config


def _opt_export(model, tensors, config):
    fixed = (
        ("word_embed_proj_dim", config["hidden_size"]),
        ("do_layer_norm_before", True),
        ("_remove_final_layer_norm", False),
        ("activation_function", "relu"),
        ("enable_bias", True),
        ("layer_norm_elementwise_affine", True),
        ("layer_norm_eps", 1e-5),
    )
    for field, expected in fixed:
        if config.get(field, expected) != expected:
            raise ValueError(
                f"`{field}={config[field]!r}`: KerasHub's OPTBackbone has {expected!r} fixed, "
                "so this model cannot be written as a KerasHub preset."
            )
    b = getattr(model, "backbone", model)
    p = "model.decoder." if b is not model else "decoder."
    weights = {
        "token_and_position_embedding/token_embedding": [tensors[f"{p}embed_tokens.weight"]],
        "token_and_position_embedding/position_embedding": [
            tensors[f"{p}embed_positions.weight"][OPT_OFFSET:]
        ],
        "layer_normalization": _ln(tensors, f"{p}final_layer_norm"),
    }
    names = {
        "attention": (
            ("query", "self_attn.q_proj"),
            ("key", "self_attn.k_proj"),
            ("value", "self_attn.v_proj"),
            ("output", "self_attn.out_proj"),
        ),
        "dense": (("_feedforward_intermediate_dense", "fc1"), ("_feedforward_output_dense", "fc2")),
        "norm": (
            ("_self_attention_layer_norm", "self_attn_layer_norm"),
            ("_feedforward_layer_norm", "final_layer_norm"),
        ),
    }
    weights.update(_blocks_weights(tensors, config, names, "transformer_decoder", f"{p}layers"))
    backbone_config = {
        "name": "opt_backbone",
        "trainable": True,
        "dtype": _policy("float32"),
        "vocabulary_size": config["vocab_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config["ffn_dim"],
        "dropout": config["dropout"],
        "max_sequence_length": config["max_position_embeddings"],
    }
    task_config = {"name": "opt_causal_lm"} if type(model).__name__ == "OPTForCausalLM" else {}
    return weights, backbone_config, {}, task_config


def _write_weights(path, weights):
    import h5py

    with h5py.File(path, "w") as f:
        for layer, values in weights.items():
            for i, value in enumerate(values):
                f.create_dataset(f"layers/{layer}/vars/{i}", data=np.asarray(value, "float32"))


def export_to_keras_hub(model, path, converter):
    """Writes `model` (a RoBERTa backbone, masked LM or sequence classifier; an OPT backbone or
    causal LM) as a KerasHub preset directory that keras-hub's `from_preset` opens.

    KerasHub's RoBERTa and OPT count positions from 0, so the position tables are shifted back
    (see the module docstring); its RoBERTa has no token-type table, so row 0 of ours is added
    to every position. KerasHub has one dropout rate per model (the hidden one is written). The
    tokenizer files are written when the model has its vocabulary and merges.
    """
    import keras

    name = type(model).__name__
    if name not in _KERAS_HUB_EXPORTS:
        raise ValueError(
            f"{name} has no KerasHub counterpart; the classes that export to KerasHub are "
            f"{sorted(_KERAS_HUB_EXPORTS)}."
        )
    backbone = getattr(model, "backbone", model)
    config = dict(model.config)
    tensors = converter.checkpoint_weights(model)
    family = _roberta_export if backbone.model_type == "roberta" else _opt_export
    weights, backbone_config, task_weights, task_config = family(model, tensors, config)
    backbone_json = _serialized(*_KERAS_HUB_EXPORTS[type(backbone).__name__], backbone_config)
    with atomic_directory(path, prefix=".keras-hub-export-") as tmp:
        files = {"config.json": backbone_json}
        _write_weights(os.path.join(tmp, "model.weights.h5"), weights)
        tasks = []
        if backbone is not model:
            module, class_name = _KERAS_HUB_EXPORTS[name]
            task_config = {"backbone": backbone_json, "preprocessor": None, **task_config}
            files["task.json"] = _serialized(module, class_name, task_config)
            if task_weights:
                _write_weights(os.path.join(tmp, "task.weights.h5"), task_weights)
            tasks = [_TASK_KINDS[class_name]]
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is not None and hasattr(tokenizer, "get_vocab"):
            _write_tokenizer(tmp, tokenizer, backbone.model_type)
            files["tokenizer.json"] = _tokenizer_json(backbone.model_type)
        files["metadata.json"] = {
            "keras_version": keras.__version__,
            "keras_hub_version": "0.32.0",
            "parameter_count": int(model.count_params()),
            "date_saved": "",
            "tasks": tasks,
        }
        for file, content in files.items():
            with open(os.path.join(tmp, file), "w") as f:
                json.dump(content, f, indent=4)
    return os.path.abspath(os.fspath(path))


def _tokenizer_json(model_type):
    module, class_name, unsplittable = _TOKENIZERS[model_type]
    config = {
        "name": class_name.lower(),
        "trainable": True,
        "dtype": _policy("int32"),
        "config_file": "tokenizer.json",
        "sequence_length": None,
        "add_prefix_space": False,
        "unsplittable_tokens": unsplittable,
    }
    return _serialized(module, class_name, config)


def _write_tokenizer(directory, tokenizer, model_type):
    """KerasHub's tokenizer assets: `vocabulary.json` and `merges.txt` (from the byte-level BPE
    model of our tokenizer)."""
    model = json.loads(tokenizer.backend.to_str())["model"]
    assets = os.path.join(directory, "assets", "tokenizer")
    os.makedirs(assets)
    with open(os.path.join(assets, "vocabulary.json"), "w") as f:
        json.dump(model["vocab"], f)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    with open(os.path.join(assets, "merges.txt"), "w") as f:
        f.write("\n".join(merges) + "\n")

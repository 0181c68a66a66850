"""DataParallel and ModelParallel on 8 virtual CPU devices (JAX): a training step for every
family; from_preset, predict, evaluate, generate and fit inside `distribution.scope()`."""

import json
import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMALL = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=4, intermediate_size=32)

CASES = {
    "megatron_bert": {
        "task": "MegatronBertForNextSentencePrediction",
        "backbone": "MegatronBertBackbone",
        "backbone_kwargs": dict(
            vocab_size=48,
            max_position_embeddings=24,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            **SMALL,
        ),
        "task_kwargs": {},
        "x": {
            "input_ids": [[2, 5, 6, 7, 3, 0]] * 4 + [[2, 9, 8, 3, 0, 0]] * 4,
            "token_type_ids": [[0, 0, 0, 1, 1, 0]] * 8,
        },
        "y": [0, 1, 1, 0, 1, 0, 0, 1],
        "expect_sharded": [
            "encoder_layer_0/attention/query/kernel",
            "encoder_layer_0/intermediate_dense/kernel",
            "encoder_layer_0/output_dense/kernel",
            "embeddings/word_embeddings/embeddings",
        ],
    },
    "opt": {
        "task": "OPTForSequenceClassification",
        "backbone": "OPTBackbone",
        "backbone_kwargs": dict(
            vocab_size=48,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=4,
            ffn_dim=32,
            max_position_embeddings=24,
            dropout=0.0,
        ),
        "task_kwargs": {"num_labels": 2},
        "x": {"input_ids": [[2, 5, 6, 7, 8, 9]] * 4 + [[1, 1, 2, 9, 8, 7]] * 4},
        "y": [0, 1, 1, 0, 1, 0, 0, 1],
        "expect_sharded": [
            "decoder_layer_0/self_attn/query/kernel",
            "decoder_layer_0/self_attn/output/kernel",
            "decoder_layer_0/fc1/kernel",
            "decoder_layer_0/fc2/kernel",
            "embed_tokens/embeddings",
        ],
    },
    "pegasus": {
        "task": "PegasusForConditionalGeneration",
        "backbone": "PegasusBackbone",
        "backbone_kwargs": dict(
            vocab_size=48,
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            max_position_embeddings=24,
            dropout=0.0,
            scale_embedding=True,
            activation_function="relu",
        ),
        "task_kwargs": {},
        # Labels inside x: the decoder inputs are the labels shifted right, as transformers.
        "x": {
            "input_ids": [[5, 6, 7, 8, 9, 1]] * 4 + [[9, 8, 7, 1, 0, 0]] * 4,
            "labels": [[7, 8, 9, 1]] * 4 + [[5, 6, 1, -100]] * 4,
        },
        "y": None,
        "expect_sharded": [
            "encoder_layer_0/attention/query/kernel",
            "decoder_layer_0/encoder_attn/value/kernel",
            "decoder_layer_0/encoder_attn/output/kernel",
            "decoder_layer_0/fc1/kernel",
            "shared/embeddings",
        ],
    },
    "roc_bert": {
        "task": "RoCBertForSequenceClassification",
        "backbone": "RoCBertBackbone",
        "backbone_kwargs": dict(
            vocab_size=48,
            max_position_embeddings=24,
            shape_vocab_size=20,
            shape_embed_dim=8,
            pronunciation_vocab_size=20,
            pronunciation_embed_dim=8,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            **SMALL,
        ),
        "task_kwargs": {"num_labels": 2},
        "x": {
            "input_ids": [[2, 5, 6, 7, 3, 0]] * 4 + [[2, 9, 8, 3, 0, 0]] * 4,
            "input_shape_ids": [[1, 2, 3, 4, 5, 0]] * 8,
            "input_pronunciation_ids": [[3, 4, 5, 6, 7, 0]] * 8,
        },
        "y": [0, 1, 1, 0, 1, 0, 0, 1],
        "expect_sharded": [
            "encoder_layer_0/attention/key/kernel",
            "encoder_layer_0/intermediate_dense/kernel",
            "embeddings/word_embeddings/embeddings",
        ],
    },
    "roberta": {
        "task": "RobertaForSequenceClassification",
        "backbone": "RobertaBackbone",
        "backbone_kwargs": dict(
            vocab_size=48,
            max_position_embeddings=24,
            add_pooling_layer=False,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            **SMALL,
        ),
        "task_kwargs": {"num_labels": 2},
        "x": {"input_ids": [[0, 5, 6, 7, 2, 1]] * 4 + [[0, 9, 8, 2, 1, 1]] * 4},
        "y": [0, 1, 1, 0, 1, 0, 0, 1],
        "expect_sharded": [
            "encoder_layer_0/attention/query/kernel",
            "encoder_layer_0/intermediate_dense/kernel",
            "encoder_layer_0/output_dense/kernel",
            "embeddings/word_embeddings/embeddings",
        ],
    },
    "roformer": {
        # Rotary positions on column-split queries and keys, a factorised embedding, rotated values.
        "task": "RoFormerForSequenceClassification",
        "backbone": "RoFormerBackbone",
        "backbone_kwargs": dict(
            vocab_size=48,
            embedding_size=8,
            max_position_embeddings=24,
            rotary_value=True,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            **SMALL,
        ),
        "task_kwargs": {"num_labels": 2},
        "x": {"input_ids": [[2, 5, 6, 7, 3, 0]] * 4 + [[2, 9, 8, 3, 0, 0]] * 4},
        "y": [0, 1, 1, 0, 1, 0, 0, 1],
        "expect_sharded": [
            "encoder_layer_0/attention/query/kernel",
            "encoder_layer_0/intermediate_dense/kernel",
            "embeddings/word_embeddings/embeddings",
        ],
    },
}


# DataParallel replicates every variable and splits the batch: no layout of the family's own is
# involved, so the step runs for the encoder-decoder and for the family with the most inputs (and
# OPT's workflow below fits under it); ModelParallel runs for every family.
DATA_PARALLEL_CASES = ("pegasus", "roc_bert")
for _name, _case in CASES.items():
    _case["plans"] = ["model_parallel"] + (
        ["data_parallel"] if _name in DATA_PARALLEL_CASES else []
    )

# Tasks loaded from transformers checkpoints (dropout off, so fit is deterministic).
OPT_HF = dict(
    vocab_size=48,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=4,
    ffn_dim=32,
    max_position_embeddings=24,
    pad_token_id=1,
    bos_token_id=2,
    eos_token_id=2,
    dropout=0.0,
    attention_dropout=0.0,
)
PEGASUS_HF = dict(
    vocab_size=48,
    d_model=16,
    encoder_layers=1,
    decoder_layers=1,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=32,
    decoder_ffn_dim=32,
    max_position_embeddings=24,
    scale_embedding=True,
    activation_function="relu",
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
    forced_eos_token_id=1,
    dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
)
OPT_IDS = [[2, 5, 6, 7, 8, 9], [1, 1, 2, 9, 8, 7]] * 4
WORKFLOWS = {
    "opt": {
        "task": "OPTForCausalLM",
        "hf_cls": "OPTForCausalLM",
        "hf_config": ("OPTConfig", OPT_HF),
        "plans": {
            "data_parallel": ["predict", "evaluate", "fit"],
            "model_parallel": ["predict", "evaluate", "generate", "fit"],
        },
        "x": {"input_ids": OPT_IDS, "attention_mask": [[1] * 6, [0, 0, 1, 1, 1, 1]] * 4},
        "y": {"labels": [[2, 5, 6, 7, 8, 9], [-100, -100, 2, 9, 8, 7]] * 4},
        # Left-padded prompts, as generate expects.
        "generate": {
            "input_ids": OPT_IDS[:2][::-1],
            "attention_mask": [[0, 0, 1, 1, 1, 1], [1] * 6],
        },
    },
    "pegasus": {
        "task": "PegasusForConditionalGeneration",
        "hf_cls": "PegasusForConditionalGeneration",
        "hf_config": ("PegasusConfig", PEGASUS_HF),
        # Training under ModelParallel is covered by the step test (CASES) already.
        "plans": {"model_parallel": ["evaluate", "generate"]},
        "x": {
            "input_ids": [[5, 6, 7, 8, 9, 1], [9, 8, 7, 1, 0, 0]] * 4,
            "attention_mask": [[1] * 6, [1, 1, 1, 1, 0, 0]] * 4,
            "decoder_input_ids": [[0, 7, 8, 9], [0, 5, 6, 1]] * 4,
        },
        "y": {"labels": [[7, 8, 9, 1], [5, 6, 1, -100]] * 4},
        "generate": {
            "input_ids": [[5, 6, 7, 8, 9, 1], [9, 8, 7, 1, 0, 0]],
            "attention_mask": [[1] * 6, [1, 1, 1, 1, 0, 0]],
        },
    },
}


def write_checkpoints(tmp_path):
    import transformers

    from tests.helpers import save_hf

    workflows = {}
    for name, spec in WORKFLOWS.items():
        config_cls, config = spec["hf_config"]
        hf_dir = tmp_path / f"{name}-hf"
        save_hf(
            getattr(transformers, spec["hf_cls"]),
            getattr(transformers, config_cls)(**config),
            hf_dir,
        )
        workflows[name] = {
            **{k: v for k, v in spec.items() if k not in ("hf_cls", "hf_config")},
            "hf_dir": str(hf_dir),
            "keras_dir": str(tmp_path / f"{name}-keras"),
        }
    return workflows


# The check needs its own JAX process (the virtual device count is fixed at start-up); it runs
# once for all families, from the jax test process, rather than three times.
@pytest.fixture(scope="module")
def results(tmp_path_factory):
    workflows = write_checkpoints(tmp_path_factory.mktemp("distribution"))
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": ROOT,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
    }
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tests", "scripts", "distribution_step.py"),
            json.dumps(CASES),
            json.dumps(workflows),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.split("RESULT ", 1)[1])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="runs once, from the jax process")
@pytest.mark.parametrize("family", sorted(CASES))
def test_data_and_model_parallel_step_matches_single_device(results, family):
    result = results["steps"][family]
    for plan in CASES[family]["plans"]:
        assert abs(result[plan]["loss"] - result["single"]) < 1e-5, result
        assert result[plan]["max_weight_diff"] < 1e-5, result
    sharded = result["model_parallel"]["sharded"]
    for path in CASES[family]["expect_sharded"]:
        assert path in sharded, sharded
    if family in DATA_PARALLEL_CASES:
        assert not result["data_parallel"]["sharded"]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="runs once, from the jax process")
@pytest.mark.parametrize("family", sorted(WORKFLOWS))
def test_from_preset_predict_evaluate_fit_generate_in_scope(results, family):
    result = results["workflows"][family]
    for plan, checks in WORKFLOWS[family]["plans"].items():
        got = result[plan]
        # from_preset of a transformers checkpoint inside the scope loads the same values.
        assert got["load_diff"] == 0.0, got
        for check, keys in {
            "predict": ["predict_diff"],
            "evaluate": ["evaluate_diff"],
            "fit": ["fit_loss_diff", "fit_weight_diff"],
        }.items():
            for key in keys if check in checks else ():
                assert got[key] < 1e-5, (key, got)
        if plan == "data_parallel":
            assert not got["sharded"], got["sharded"]
            continue
        for path in CASES[family]["expect_sharded"]:
            assert any(s.endswith(path) for s in got["sharded"]), got["sharded"]
        # ... and so does from_preset of the Keras preset the single-device model saved.
        assert got["keras_load_diff"] == 0.0, got
        assert got["keras_sharded"] == got["sharded"], got
        # Greedy generation: the single-device tokens, with the key/value caches split by
        # batch and by heads (4 heads over the 4-way model axis).
        assert got["tokens_equal"], got["tokens"]
        assert got["cache_specs"] == ["('batch', 'model', None, None)"], got["cache_specs"]
    assert result["single_cache_specs"] == ["()"], result["single_cache_specs"]

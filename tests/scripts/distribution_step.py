"""Distribution checks on 8 virtual CPU devices, printed as JSON after `RESULT `.

argv[1], cases: for each, one training step of a tiny task under no distribution and under
each of its `plans`, DataParallel and ModelParallel (2 x 4): the losses, the max weight
difference to the single-device step and which kernels are sharded.
argv[2], workflows: for each, a task loaded with `from_preset` from a Hugging Face checkpoint
directory, then predict, evaluate, greedy generation and fit, on one device and inside
`distribution.scope()`: the differences to the single-device run, which variables are sharded
and how the generation cache is laid out.

Run with KERAS_BACKEND=jax and XLA_FLAGS=--xla_force_host_platform_device_count=8."""

import json
import random
import sys

import keras
import numpy as np

import keras_models
from keras_models.generation.loop import shard_cache


def build(task_name, backbone_name, backbone_kwargs, task_kwargs):
    backbone = getattr(keras_models, backbone_name)(**backbone_kwargs)
    return getattr(keras_models, task_name)(backbone, **task_kwargs)


def one_step(spec, weights=None):
    random.seed(0)
    model = build(spec["task"], spec["backbone"], spec["backbone_kwargs"], spec["task_kwargs"])
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x = {k: np.asarray(v, "int32") for k, v in spec["x"].items()}
    y = None if spec["y"] is None else np.asarray(spec["y"])
    before = [np.array(w) for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    return model, before, float(loss)


def main():
    cases = json.loads(sys.argv[1])
    workflows = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(
        "RESULT "
        + json.dumps(
            {
                "steps": {name: run_case(spec) for name, spec in cases.items()},
                "workflows": {name: run_workflow(spec) for name, spec in workflows.items()},
            }
        )
    )


def sharded_paths(model, axis="model"):
    return sorted(
        v.path for v in model.weights if axis in str(getattr(v.value.sharding, "spec", ""))
    )


def max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))


def plans(backbone_cls, devices):
    mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"), devices)
    return {
        "data_parallel": keras.distribution.DataParallel(devices=devices),
        "model_parallel": keras.distribution.ModelParallel(
            layout_map=backbone_cls.get_layout_map(mesh), batch_dim_name="batch"
        ),
    }


def run_case(spec):
    devices = keras.distribution.list_devices()
    assert len(devices) == 8, devices
    single, initial, single_loss = one_step(spec)
    single_after = [np.array(w) for w in single.get_weights()]
    results = {"single": single_loss}
    backbone_cls = getattr(keras_models, spec["backbone"])
    for name, distribution in plans(backbone_cls, devices).items():
        if name not in spec["plans"]:
            continue
        with distribution.scope():
            model, _, loss = one_step(spec, initial)
        after = [np.array(w) for w in model.get_weights()]
        results[name] = {
            "loss": loss,
            "max_weight_diff": max_diff(after, single_after),
            "sharded": sharded_paths(model),
        }
    return results


def workflow(cls, preset, spec, checks, keras_preset=None):
    """from_preset, then the `checks` among predict, evaluate, generate and fit; returns what
    the comparisons need."""
    model = cls.from_preset(preset)
    out = {"loaded": [np.array(w) for w in model.get_weights()], "sharded": sharded_paths(model)}
    if keras_preset:
        model.save_to_preset(keras_preset)
    x = {k: np.asarray(v, "int32") for k, v in spec["x"].items()}
    y = {k: np.asarray(v, "int32") for k, v in spec["y"].items()}
    if "predict" in checks:
        out["predict"] = model.predict(x, batch_size=8, verbose=0)["logits"]
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    if "evaluate" in checks:
        out["evaluate"] = float(model.evaluate(x, y, batch_size=8, verbose=0))
    if "generate" in checks:
        prompt = {k: np.asarray(v, "int32") for k, v in spec["generate"].items()}
        out["tokens"] = model.generate(prompt, max_new_tokens=5, eos_token_id=[])
        ids, _, context = model.generation_inputs(prompt)
        cache = shard_cache(model, model.init_cache(ids.shape[0], 8, context))
        # The layout of every [batch, heads, length, head_dim] key or value cache.
        out["cache_specs"] = sorted(
            {
                str(tuple(getattr(t.sharding, "spec", ())))
                for t in keras.tree.flatten(cache)
                if len(t.shape) == 4
            }
        )
    if "fit" in checks:
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        out["fit_loss"] = history.history["loss"]
        out["fitted"] = [np.array(w) for w in model.get_weights()]
    return out


def run_workflow(spec):
    """The workflow on one device, then inside the scope of each plan in `spec["plans"]`
    (plan name -> checks); under ModelParallel also from the Keras preset saved by the
    single-device run."""
    devices = keras.distribution.list_devices()
    cls = getattr(keras_models, spec["task"])
    every = sorted({check for checks in spec["plans"].values() for check in checks})
    single = workflow(cls, spec["hf_dir"], spec, every, keras_preset=spec["keras_dir"])
    results = {"single_cache_specs": single.get("cache_specs")}
    for name, distribution in plans(cls.backbone_cls, devices).items():
        checks = spec["plans"].get(name)
        if checks is None:
            continue
        with distribution.scope():
            ours = workflow(cls, spec["hf_dir"], spec, checks)
            from_keras = cls.from_preset(spec["keras_dir"]) if name == "model_parallel" else None
        result = {
            "load_diff": max_diff(ours["loaded"], single["loaded"]),
            "sharded": ours["sharded"],
        }
        if "predict" in checks:
            result["predict_diff"] = max_diff([ours["predict"]], [single["predict"]])
        if "evaluate" in checks:
            result["evaluate_diff"] = abs(ours["evaluate"] - single["evaluate"])
        if "fit" in checks:
            result["fit_loss_diff"] = max_diff([ours["fit_loss"]], [single["fit_loss"]])
            result["fit_weight_diff"] = max_diff(ours["fitted"], single["fitted"])
        if "generate" in checks:
            result["tokens_equal"] = bool(np.array_equal(ours["tokens"], single["tokens"]))
            result["tokens"] = ours["tokens"].tolist()
            result["cache_specs"] = ours["cache_specs"]
        if from_keras is not None:
            result["keras_load_diff"] = max_diff(from_keras.get_weights(), single["loaded"])
            result["keras_sharded"] = sharded_paths(from_keras)
        results[name] = result
    return results


if __name__ == "__main__":
    main()

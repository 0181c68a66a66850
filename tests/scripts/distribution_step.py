"""For each case: one training step of a tiny task under no distribution, DataParallel and ModelParallel (2 x 4)
on 8 virtual CPU devices; prints the losses, the max weight difference to the single-device step
and which kernels are sharded, as JSON. Run with KERAS_BACKEND=jax and
XLA_FLAGS=--xla_force_host_platform_device_count=8."""

import json
import random
import sys

import keras
import numpy as np

import keras_models


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
    print("RESULT " + json.dumps({name: run_case(spec) for name, spec in cases.items()}))


def run_case(spec):
    devices = keras.distribution.list_devices()
    assert len(devices) == 8, devices
    single, initial, single_loss = one_step(spec)
    single_after = [np.array(w) for w in single.get_weights()]
    results = {"single": single_loss}
    mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"), devices)
    backbone_cls = getattr(keras_models, spec["backbone"])
    plans = {
        "data_parallel": keras.distribution.DataParallel(devices=devices),
        "model_parallel": keras.distribution.ModelParallel(
            layout_map=backbone_cls.get_layout_map(mesh), batch_dim_name="batch"
        ),
    }
    for name, distribution in plans.items():
        with distribution.scope():
            model, _, loss = one_step(spec, initial)
        after = [np.array(w) for w in model.get_weights()]
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(after, single_after))
        sharded = sorted(v.path for v in model.weights if "model" in str(v.value.sharding.spec))
        results[name] = {"loss": loss, "max_weight_diff": diff, "sharded": sharded}
    return results


if __name__ == "__main__":
    main()

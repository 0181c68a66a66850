"""# Distributed training and generation with `keras.distribution`

Train on several accelerators, or several hosts, with Keras 3's own distribution API: the library
supplies the sharding plans (`Backbone.get_layout_map`) and every model, `fit` / `evaluate` /
`predict`, `from_preset` and `generate` work inside `distribution.scope()`.

The library's distribution support is built and tested on the JAX backend. Run:
`KERAS_BACKEND=jax python guides/distributed_training.py`. Without accelerators the script
simulates 8 CPU devices, so every step below runs on a laptop. On the TensorFlow and torch
backends it prints the sharding plan and explains the rest. `SMALL=1` shrinks it for the tests.
"""

import os
import sys

# Simulating 8 devices on the CPU has to happen before JAX starts, so only when this script
# starts the process (not when it runs inside one that already imported Keras); an XLA_FLAGS
# of your own wins. On GPUs or TPUs the flag changes nothing: the accelerators are used.
if "keras" not in sys.modules and "--xla_force_host_platform_device_count" not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()

import tempfile  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_models  # noqa: E402

small = os.environ.get("SMALL") == "1"
on_jax = keras.backend.backend() == "jax"

# ## 1. Several hosts: `keras.distribution.initialize`
# With more than one host, start the same script on every host, each knowing the coordinator's
# address, the number of processes and its own id, and call `initialize()` before anything
# else touches the devices:
#
#     KERAS_DISTRIBUTION_JOB_ADDRESSES=10.0.0.1:1234 KERAS_DISTRIBUTION_NUM_PROCESSES=2 \
#     KERAS_DISTRIBUTION_PROCESS_ID=0 python train.py      # process 1 on the other host
#
# (or `keras.distribution.initialize(job_addresses, num_processes, process_id)`; on Cloud TPU
# and SLURM the arguments can be left out, JAX finds them). Afterwards `list_devices()` lists the
# devices of all hosts, a mesh spans them all, and `fit` treats each process's batches as its
# own share of the global batch: feed every process a different part of the data (a
# `tf.data.Dataset` is split between processes for you, `auto_shard_dataset=True`).
if on_jax and os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
    keras.distribution.initialize()

# ## 2. The model
config = dict(
    vocab_size=64 if small else 512,
    hidden_size=16 if small else 128,
    num_hidden_layers=1 if small else 4,
    num_attention_heads=4 if small else 8,
    ffn_dim=32 if small else 512,
    max_position_embeddings=32,
    dropout=0.0,  # so the distributed steps can be compared with the single-device ones
)


def build():
    return keras_models.OPTForCausalLM(keras_models.OPTBackbone(**config))


rng = np.random.default_rng(0)
ids = rng.integers(3, config["vocab_size"], size=(16, 8)).astype("int32")
ids[:, 0] = 2
x, y = {"input_ids": ids}, {"labels": ids}


# ## 3. Choosing a mesh
# A `DeviceMesh` arranges the devices in a grid with named axes. `"batch"` splits each batch
# (data parallelism: every device along it holds a whole copy of what it is given), `"model"`
# splits the weights (each device along it holds a slice and they exchange activations).
# - The model fits on one device: use `DataParallel` (all devices on `"batch"`); it is the
#   cheapest in communication.
# - It does not (or the optimizer state does not): `ModelParallel` with the smallest `"model"`
#   axis that makes it fit, kept inside one host, where devices are linked fast (NVLink, ICI);
#   the `"batch"` axis spans the hosts. E.g. 4 hosts x 8 GPUs for a 7B model: `(8, 4)`.
# - The `"model"` size must divide `hidden_size`, the feed-forward size and the vocabulary of
#   split tables, and should divide `num_attention_heads` (then each device computes whole
#   heads, and the generation caches are split by heads too). The global batch size must be a
#   multiple of the `"batch"` size.
def choose_mesh(devices, heads, sizes):
    """The widest `"model"` axis (at most 4 here) dividing the device count, the heads and the
    weight sizes; the remaining devices go on `"batch"`."""
    model = max(
        m
        for m in (1, 2, 4)
        if len(devices) % m == 0 and heads % m == 0 and all(s % m == 0 for s in sizes)
    )
    return keras.distribution.DeviceMesh(
        (len(devices) // model, model), ("batch", "model"), devices
    )


if on_jax:
    devices = keras.distribution.list_devices()
else:
    # A mesh is only a description: named stand-ins show the plan on any backend.
    devices = [f"cpu:{i}" for i in range(8)]
sizes = (config["hidden_size"], config["ffn_dim"], config["vocab_size"])
mesh = choose_mesh(devices, config["num_attention_heads"], sizes)
print(f"{len(devices)} device(s); mesh {dict(zip(mesh.axis_names, mesh.shape))}")
if len(devices) == 1:
    print("One device: start this script in a fresh process to simulate 8 CPU devices.")

# ## 4. What the layout map shards
# `get_layout_map` gives regex rules on variable paths (a Megatron-style plan): attention
# query/key/value and the first feed-forward kernel are split by columns, the attention output
# and second feed-forward kernel by rows (one all-reduce per pair), embedding tables along the
# hidden axis. Everything no rule names (LayerNorms, biases of row-split layers, small heads)
# is replicated. Add your own rules to the map for anything else.
layout_map = keras_models.OPTBackbone.get_layout_map(mesh)
for pattern in layout_map:
    print(f"  {pattern:70s} {layout_map[pattern].axes}")
plain = build()
print("variables the plan splits:")
for variable in plain.weights:
    layout = layout_map[variable.path]
    if layout is not None:
        print(f"  {variable.path:45s} {tuple(variable.shape)} -> {layout.axes}")

if not on_jax:
    print(
        f"Distributed runs are supported on the JAX backend; on {keras.backend.backend()} this "
        "guide stops here. Run it with KERAS_BACKEND=jax."
    )
else:
    # The initial weights as a preset, which the distributed runs load, and a one-device
    # reference run from them.
    preset = os.path.join(tempfile.mkdtemp(), "opt_tiny")
    plain.save_to_preset(preset)
    plain.compile(optimizer=keras.optimizers.SGD(0.1))
    reference = plain.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    prompt = np.array([[2, 5, 6, 7], [2, 9, 8, 7]], "int32")
    reference_tokens = plain.generate(prompt, max_new_tokens=4, eos_token_id=[])

    # ## 5. Data parallel
    # Every variable replicated, each batch split over all devices; the gradients are averaged
    # for you. Build (or load) the model, compile and fit inside the scope.
    if len(devices) > 1:  # on a single device it would only repeat the reference run
        data_parallel = keras.distribution.DataParallel(devices=devices)
        with data_parallel.scope():
            model = keras_models.OPTForCausalLM.from_preset(preset)
            model.compile(optimizer=keras.optimizers.SGD(0.1))
            history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        print("DataParallel loss per epoch:", [round(v, 5) for v in history.history["loss"]])
        assert np.allclose(history.history["loss"], reference.history["loss"], atol=1e-5)

    # ## 6. Model parallel
    # `from_preset` inside the scope creates every variable already split (a large checkpoint
    # never has to fit on one device) and writes the checkpoint's values into the slices.
    model_parallel = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    with model_parallel.scope():
        model = keras_models.OPTForCausalLM.from_preset(preset)
        # ## 7. Checking it: each variable's sharding
        # `variable.value.sharding` is the JAX sharding: its `spec` names the mesh axis of
        # every dimension (None: not split). `jax.debug.visualize_array_sharding(v.value)`
        # draws 2-D ones. (On a single device JAX may keep a plain `SingleDeviceSharding`.)
        for variable in model.weights[:8]:
            sharding = variable.value.sharding
            spec = tuple(sharding.spec) if hasattr(sharding, "spec") else "one device"
            print(f"  {variable.path:45s} {spec}")
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        # `evaluate` and `predict` work the same way inside the scope.
        # Greedy generation under the scope: the key/value caches are split by batch and by
        # heads like the projections that fill them, so decoding moves no cache around.
        tokens = model.generate(prompt, max_new_tokens=4, eos_token_id=[])
    print("ModelParallel loss per epoch:", [round(v, 5) for v in history.history["loss"]])
    print("one device loss per epoch:   ", [round(v, 5) for v in reference.history["loss"]])
    print("same tokens as on one device:", np.array_equal(tokens, reference_tokens))
    assert np.allclose(history.history["loss"], reference.history["loss"], atol=1e-5)
    assert np.array_equal(tokens, reference_tokens)

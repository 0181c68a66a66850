"""Encoder speed of a RoBERTa-base-shaped model (random weights), side by side.

Measures, each in its own subprocess (so its peak memory is its own):

* inference: the backbone's outputs for a batch of `--batch x --seq` tokens
  (`predict_on_batch` for Keras models, `RobertaModel` under `torch.inference_mode` for
  transformers);
* train: one AdamW step of a sequence classifier on the same batch (`train_on_batch` for Keras
  models, compiled with `keras.optimizers.AdamW` as a user writes it: on torch our `compile`
  gives it the fused update of `keras_models.optimizers.AdamW`, KerasHub's stays Keras' own;
  forward, backward and `torch.optim.AdamW(fused=True).step` for transformers, the optimizer
  its `Trainer` uses by default with torch >= 2.8), dropout on;
* int8 (not in the default set): inference after `quantize("int8")` (ours), torch's
  `quantize_dynamic` (transformers), ONNX Runtime's dynamic int8 of the model exported with
  `torch.onnx.export`, and CTranslate2's int8 encoder (each when it imports), with the
  difference of each one's `last_hidden_state` from transformers' float32 one;
* train_fused: the same step with `keras_models.optimizers.AdamW` named explicitly, the tuned
  row beside the one a user writes (our rows only; compared with transformers' `train` row);
* inference (`bf16`) and the training step (`train_bf16`) in `mixed_bfloat16` (ours) and under
  `torch.autocast(dtype=torch.bfloat16)` (transformers), with the difference of each one's bf16
  outputs from its own float32 outputs.

for transformers (torch), our models on each Keras backend, and KerasHub's `RobertaBackbone` /
`RobertaTextClassifier` when `keras_hub` imports. Every implementation gets the same weights
(one `save_pretrained` directory; KerasHub gets random weights of the same shapes).

    python -m benchmarks.encoder [--backends jax tensorflow torch] [--workloads infer train bf16]

Prints the best wall time of `--repeats` calls after a warm-up call (compilation; with
`--rounds N`, the best of N such measurements, every row once per round), the ratio to
transformers, the achieved GFLOP/s and its share of an fp32 (or bf16) matmul peak measured at
the start of the same run, and the peak resident memory of the measuring process.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROBERTA_BASE = dict(
    vocab_size=50265,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=514,
    type_vocab_size=1,
    pad_token_id=1,
    num_labels=2,
)


def flops(args, workload):
    """Matmul FLOPs of one forward pass (projections, feed-forward, attention scores and
    values); a training step counts three passes (forward, two backward products)."""
    c, tokens = ROBERTA_BASE, args.batch * args.seq
    h, f = c["hidden_size"], c["intermediate_size"]
    per_layer = 2 * tokens * (4 * h * h + 2 * h * f) + 2 * 2 * tokens * args.seq * h
    total = c["num_hidden_layers"] * per_layer
    return 3 * total if workload.startswith("train") else total


def batch(args, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, ROBERTA_BASE["vocab_size"], size=(args.batch, args.seq)).astype("int32")
    ids[:, 0] = 0
    ids[:, -1] = 2
    mask = np.ones_like(ids)
    # A little padding on half the rows, so the mask is exercised.
    ids[::2, -8:] = ROBERTA_BASE["pad_token_id"]
    mask[::2, -8:] = 0
    labels = rng.integers(0, 2, size=(args.batch,)).astype("int32")
    return ids, mask, labels


def timed(fn, repeats):
    """`(best wall seconds, CPU seconds of that call)` over `repeats` calls after a warm-up.

    CPU seconds (all threads of the process) are steadier than wall time on a loaded machine:
    their ratio between implementations measures work done, not scheduling luck."""
    fn()  # warm-up: compilation and first-call allocations
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def max_rss_mb():
    """This process's peak resident memory since it started its program (`VmHWM`). Not
    `getrusage`'s `ru_maxrss`: Linux carries that across `exec`, so a worker spawned by a
    parent holding models reported the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# --- workers (one measurement per process) -------------------------------------------------
def run_transformers(directory, workload, args):
    import torch
    import transformers

    ids, mask, labels = batch(args)
    ids_t, mask_t = torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long)
    # The bf16 workloads run under torch.autocast, transformers' mixed precision.
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled="bf16" in workload)
    if workload in ("infer", "bf16", "int8"):
        model = transformers.RobertaModel.from_pretrained(directory).eval()
        if workload == "int8":  # torch's dynamic int8 quantization of every Linear
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, torch.qint8)

        def go():
            with torch.inference_mode(), autocast:
                return model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state

        out = go().float().numpy()
        np.save(os.path.join(args.out_dir, f"transformers-{workload}.npy"), out)
    else:
        model = transformers.RobertaForSequenceClassification.from_pretrained(directory).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
        labels_t = torch.tensor(labels, dtype=torch.long)

        def go():
            with autocast:
                loss = model(input_ids=ids_t, attention_mask=mask_t, labels=labels_t).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

    loaded = max_rss_mb()
    seconds, cpu = timed(go, args.repeats)
    return {"seconds": seconds, "cpu": cpu, "loaded_mb": loaded}


def run_keras_models(directory, workload, args):
    import keras

    import keras_models

    ids, mask, labels = batch(args)
    inputs = {"input_ids": ids, "attention_mask": mask}
    result = {}
    if workload in ("infer", "bf16", "int8"):
        dtype = "mixed_bfloat16" if workload == "bf16" else None
        overrides = {"dtype": dtype} if dtype else {}
        model = keras_models.RobertaBackbone.from_preset(directory, **overrides)
        if workload == "int8":
            model.quantize("int8")

        def go():
            return model.predict_on_batch(inputs)

        out = np.asarray(go()["last_hidden_state"], "float32")
        np.save(os.path.join(args.out_dir, f"{keras.backend.backend()}-{workload}.npy"), out)
    else:
        overrides = {"dtype": "mixed_bfloat16"} if workload == "train_bf16" else {}
        model = keras_models.RobertaForSequenceClassification.from_preset(directory, **overrides)
        # `train` compiles Keras' own AdamW, as a user writes it; `train_fused` names this
        # library's fused AdamW, the tuned row (on torch `compile` makes the first the second).
        fused = workload == "train_fused"
        optimizer = (keras_models.optimizers.AdamW if fused else keras.optimizers.AdamW)(1e-5)
        model.compile(optimizer=optimizer)

        def go():
            return model.train_on_batch(inputs, labels)

    result["loaded_mb"] = max_rss_mb()
    result["seconds"], result["cpu"] = timed(go, args.repeats)
    return result


def run_keras_hub(directory, workload, args):
    import keras
    import keras_hub

    ids, mask, labels = batch(args)
    c = ROBERTA_BASE
    backbone = keras_hub.models.RobertaBackbone(
        **keras_hub_sizes(c), max_sequence_length=c["max_position_embeddings"] - 2
    )
    inputs = {"token_ids": ids, "padding_mask": mask.astype(bool)}
    if workload == "infer":

        def go():
            return backbone.predict_on_batch(inputs)

    else:
        model = keras_hub.models.RobertaTextClassifier(backbone, num_classes=2, preprocessor=None)
        model.compile(
            optimizer=keras.optimizers.AdamW(1e-5),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )

        def go():
            return model.train_on_batch(inputs, labels)

    loaded = max_rss_mb()
    seconds, cpu = timed(go, args.repeats)
    return {"seconds": seconds, "cpu": cpu, "loaded_mb": loaded}


def word_level_tokenizer(directory):
    """Saves a tokenizer with one token string per id into `directory` (CTranslate2's
    converter reads the vocabulary from it; the model has random weights and no tokenizer).
    Returns the token strings."""
    import tokenizers
    import transformers

    words = ["<s>", "<pad>", "</s>", "<unk>"]
    words += [f"t{i}" for i in range(len(words), ROBERTA_BASE["vocab_size"])]
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer(
            tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>")
        ),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    ).save_pretrained(directory)
    return words


def unpadded(ids, mask):
    """Each row's ids without its padding (for runtimes that take ragged batches)."""
    return [row[: int(m.sum())] for row, m in zip(ids, mask)]


def run_ctranslate2(directory, workload, args):
    import ctranslate2
    import torch
    from ctranslate2.converters import TransformersConverter

    ids, mask, _ = batch(args)
    converted = os.path.join(args.out_dir, "ctranslate2-int8")
    source = os.path.join(args.out_dir, "ctranslate2-source")
    shutil.copytree(directory, source, dirs_exist_ok=True)
    # CTranslate2 4.8's converter reads a field transformers 5 no longer writes.
    with open(os.path.join(source, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(source, "config.json"), "w") as f:
        json.dump(dict(config, position_embedding_type="absolute"), f)
    words = word_level_tokenizer(source)
    TransformersConverter(source).convert(converted, quantization="int8", force=True)
    encoder = ctranslate2.Encoder(
        converted, device="cpu", compute_type="int8", intra_threads=torch.get_num_threads()
    )
    tokens = [[words[i] for i in row] for row in unpadded(ids, mask)]

    def go():
        return encoder.forward_batch(tokens)

    out = np.asarray(go().last_hidden_state)
    np.save(os.path.join(args.out_dir, "ctranslate2-int8.npy"), out)
    loaded = max_rss_mb()
    seconds, cpu = timed(go, args.repeats)
    return {"seconds": seconds, "cpu": cpu, "loaded_mb": loaded}


def run_onnxruntime(directory, workload, args):
    import onnxruntime
    import torch
    import transformers
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ids, mask, _ = batch(args)

    class Encoder(torch.nn.Module):  # the two inputs by position, one output
        def __init__(self):
            super().__init__()
            self.roberta = transformers.RobertaModel.from_pretrained(directory).eval()

        def forward(self, input_ids, attention_mask):
            return self.roberta(input_ids=input_ids, attention_mask=attention_mask)[0]

    model = Encoder()
    exported = os.path.join(args.out_dir, "roberta.onnx")
    quantized = os.path.join(args.out_dir, "roberta-int8.onnx")
    example = (torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long))
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            exported,
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask")
            },
            dynamo=False,
        )
    del model
    quantize_dynamic(exported, quantized, weight_type=QuantType.QInt8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(quantized, options, providers=["CPUExecutionProvider"])
    feed = {"input_ids": ids.astype("int64"), "attention_mask": mask.astype("int64")}

    def go():
        return session.run(["last_hidden_state"], feed)[0]

    np.save(os.path.join(args.out_dir, "onnxruntime-int8.npy"), go())
    loaded = max_rss_mb()
    seconds, cpu = timed(go, args.repeats)
    return {"seconds": seconds, "cpu": cpu, "loaded_mb": loaded}


def worker(args):
    runner = {
        "transformers": run_transformers,
        "keras_models": run_keras_models,
        "keras_hub": run_keras_hub,
        "ctranslate2": run_ctranslate2,
        "onnxruntime": run_onnxruntime,
    }[args.worker]
    result = runner(args.directory, args.workload, args)
    result["peak_mb"] = max_rss_mb()
    print("\nRESULT " + json.dumps(result), flush=True)


def spawn(kind, backend, workload, directory, args, extra_path=None):
    env = dict(os.environ, KERAS_BACKEND=backend)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "benchmarks.encoder", "--worker", kind]
    command += ["--workload", workload, "--directory", directory, "--out-dir", args.out_dir]
    command += ["--batch", str(args.batch), "--seq", str(args.seq)]
    command += ["--repeats", str(args.repeats)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    print(
        f"[{kind} {workload} on {backend} failed, exit {proc.returncode}]\n"
        f"{proc.stdout[-1000:]}\n{proc.stderr[-3000:]}",
        file=sys.stderr,
    )
    return None


# --- driver --------------------------------------------------------------------------------
def matmul_peak():
    """Best GFLOP/s of a 2048^3 torch matmul in float32 and bfloat16 (all threads); measured
    at the start of every round, the best kept."""
    import torch

    n, peaks = 2048, {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        a = torch.randn(n, n, dtype=dtype)
        b = torch.randn(n, n, dtype=dtype)
        best = timed(lambda a=a, b=b: a @ b, 10)[0]
        peaks[name] = 2 * n**3 / best / 1e9
    a = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
    peaks["numpy float32"] = 2 * n**3 / timed(lambda: a @ a, 10)[0] / 1e9
    return peaks


def keras_hub_sizes(config, intermediate="intermediate_size"):
    """KerasHub backbone size arguments from a transformers config dict."""
    return dict(
        vocabulary_size=config["vocab_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config[intermediate],
    )


def keras_hub_path():
    """The PYTHONPATH entry that makes `keras_hub` importable ("" when it already is; the
    `KERAS_HUB_PATH` environment variable names a `pip install --target` directory), or None."""
    for path in ("", os.environ.get("KERAS_HUB_PATH")):
        if path is None:
            continue
        env = dict(os.environ, KERAS_BACKEND="jax")
        if path:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
        proc = subprocess.run(
            [sys.executable, "-c", "import keras_hub"], env=env, capture_output=True
        )
        if proc.returncode == 0:
            return path
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
    parser.add_argument(
        "--workloads",
        nargs="+",
        default=["infer", "train", "train_fused", "bf16", "train_bf16"],
        choices=["infer", "train", "train_fused", "bf16", "train_bf16", "int8"],
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every row this many times, keep its best"
    )
    parser.add_argument("--no-keras-hub", action="store_true", help="skip KerasHub rows")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    import torch
    import transformers

    peaks = {}
    hub = None if args.no_keras_hub else keras_hub_path()
    with tempfile.TemporaryDirectory() as directory, tempfile.TemporaryDirectory() as out_dir:
        args.out_dir = out_dir
        torch.manual_seed(0)
        config = transformers.RobertaConfig(**ROBERTA_BASE)
        transformers.RobertaForSequenceClassification(config).save_pretrained(directory)
        jobs = []  # (workload, row name, worker kind, backend, extra PYTHONPATH)
        for workload in args.workloads:
            name = "transformers" + (" (autocast)" if "bf16" in workload else "")
            name += " dynamic int8" if workload == "int8" else ""
            if workload != "train_fused":  # compared with the `train` row of transformers
                jobs.append((workload, name, "transformers", "torch", None))
            if workload == "int8":
                for kind in ("onnxruntime", "ctranslate2"):
                    if importlib.util.find_spec(kind) is None:
                        print(f"{kind} is not installed: its int8 row skipped.")
                    else:
                        jobs.append((workload, f"{kind} int8", kind, "torch", None))
            for backend in args.backends:
                jobs.append((workload, f"keras_models {backend}", "keras_models", backend, None))
            if hub is not None and workload in ("infer", "train"):
                for backend in args.backends:
                    jobs.append((workload, f"keras_hub {backend}", "keras_hub", backend, hub))
        best = {}
        for _ in range(args.rounds):
            peaks = {k: max(v, peaks.get(k, 0.0)) for k, v in matmul_peak().items()}
            # Every row once per round, in the same order: a slow spell of the machine then
            # hits one round of a row, not all of its measurements.
            for workload, name, kind, backend, extra in jobs:
                result = spawn(kind, backend, workload, directory, args, extra)
                previous = best.get((workload, name))
                if result and (previous is None or result["seconds"] < previous["seconds"]):
                    best[(workload, name)] = result
        rows = [(w, n, best.get((w, n))) for w, n, *_ in jobs]
        int8_errors = {}
        reference_path = os.path.join(out_dir, "transformers-infer.npy")
        if os.path.exists(reference_path):
            reference = np.load(reference_path)
            real = batch(args)[1].astype(bool)  # positions that are not padding
            for name in ["transformers", *args.backends, "onnxruntime", "ctranslate2"]:
                path = os.path.join(out_dir, f"{name}-int8.npy")
                if os.path.exists(path):
                    out = np.load(path)
                    if out.shape != reference.shape:  # ragged runtimes pad with anything
                        out = np.stack([np.resize(o, reference.shape[1:]) for o in out])
                    diff = np.abs(out - reference)[real]
                    int8_errors[name] = (diff.max(), diff.mean())
        errors = {}
        for backend in ["transformers", *args.backends]:
            paths = [os.path.join(out_dir, f"{backend}-{w}.npy") for w in ("infer", "bf16")]
            if all(os.path.exists(p) for p in paths):
                reference, bf16 = np.load(paths[0]), np.load(paths[1])
                diff = np.abs(reference - bf16)
                errors[backend] = (diff.max(), diff.mean(), diff.max() / np.abs(reference).max())

    print(
        f"\nRoBERTa-base shape, random weights, batch {args.batch} x {args.seq}, best of "
        f"{args.repeats} calls after a warm-up in each of {args.rounds} round(s); "
        f"{os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}"
    )
    print("matmul peak (2048^3, GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
    if hub is None:
        print("keras_hub does not import: KerasHub rows skipped.")
    header = (
        f"{'workload':<11}{'implementation':<26}{'ms':>9}{'vs HF':>8}{'GFLOP/s':>9}"
        f"{'% peak':>8}{'cpu s':>7}{'cpu vs HF':>10}{'peak MB':>9}{'+MB':>7}"
    )
    print(header)
    print("-" * len(header))
    base = {w: r for w, n, r in rows if n == "transformers" and r}  # fp32 rows
    base["bf16"] = base.get("infer")
    base["train_bf16"] = base.get("train")
    base["train_fused"] = base.get("train")
    base["int8"] = base.get("infer")
    for workload, name, result in rows:
        if result is None:
            print(f"{workload:<11}{name:<26}{'failed':>9}")
            continue
        seconds = result["seconds"]
        rate = flops(args, workload) / seconds / 1e9
        peak = peaks["bfloat16" if "bf16" in workload else "float32"]
        ref = base.get(workload)
        vs = f"{ref['seconds'] / seconds:.2f}x" if ref else "-"
        cpu_vs = f"{ref['cpu'] / result['cpu']:.2f}x" if ref else "-"
        print(
            f"{workload:<11}{name:<26}{seconds * 1e3:>9.0f}{vs:>8}{rate:>9.0f}"
            f"{100 * rate / peak:>7.0f}%{result['cpu']:>7.1f}{cpu_vs:>10}{result['peak_mb']:>9.0f}"
            f"{result['peak_mb'] - result['loaded_mb']:>7.0f}"
        )
    for backend, (largest, mean, relative) in errors.items():
        print(
            f"bf16 vs float32 last_hidden_state, {backend}: max |diff| {largest:.4f}, "
            f"mean |diff| {mean:.5f}, max |diff| / max |fp32| {relative:.4f}"
        )
    for name, (largest, mean) in int8_errors.items():
        print(
            f"int8 vs transformers float32 last_hidden_state (real tokens), {name}: "
            f"max |diff| {largest:.4f}, mean |diff| {mean:.5f}"
        )
    print(
        "ms: best wall time of one call; vs HF: transformers time / this time (its fp32 row for "
        "bf16 rows); GFLOP/s over the matmul FLOPs (train = 3x forward); % peak of the fp32 "
        "(bf16 rows: bf16) matmul peak; cpu s: CPU seconds of that call (all threads), steadier "
        "than wall time when the machine is shared; peak MB: max RSS of the measuring process; +MB: growth "
        "after the model was loaded."
    )


if __name__ == "__main__":
    sys.exit(main())

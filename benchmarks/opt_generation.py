"""Generation speed of an OPT-125m-shaped model (random weights), side by side.

Runs transformers' `OPTForCausalLM.generate` (torch, with its dynamic KV cache) and our
`OPTForCausalLM.generate` on each Keras backend (one subprocess per backend, same weights),
plus KerasHub's `OPTCausalLM` when `keras_hub` is installed. Greedy decoding, no stop token, so
every run makes exactly `--new-tokens` tokens per row. Both sides are written as a user writes
them: the checkpoint's generation defaults with `eos_token_id` set to None on
`model.generation_config`, then `generate(ids, attention_mask=..., max_new_tokens=...)`; ours
has no tuned variant (its fast paths are the defaults).

    python -m benchmarks.opt_generation [--backends jax tensorflow torch] [--batch-sizes 1 8]
        [--mixed-bfloat16]

`--int8` adds int8 rows: ours after `model.quantize("int8")` on each backend, transformers after
torch's `quantize_dynamic` (int8 weights and per-call int8 activations in every `Linear`), and
CTranslate2's int8 (when `ctranslate2` imports; converted from the same checkpoint), with the
share of their greedy tokens that equal transformers float32's at the same position.

`--mixed-bfloat16` adds rows in bfloat16: transformers under `torch.autocast` and ours with
`dtype="mixed_bfloat16"` (their tokens may differ from float32's: greedy choices flip where
two logits are within bfloat16's rounding).

Prints tokens/s (new tokens of all rows / wall time of one `generate` call, best of
`--repeats` after one warm-up call that includes compilation; with `--rounds N`, the best of N
such measurements, every row once per round) and the ratios.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.encoder import keras_hub_path, keras_hub_sizes, max_rss_mb

OPT_125M = dict(
    vocab_size=50272,
    hidden_size=768,
    num_hidden_layers=12,
    ffn_dim=3072,
    num_attention_heads=12,
    max_position_embeddings=2048,
    word_embed_proj_dim=768,
    do_layer_norm_before=True,
    pad_token_id=1,
    bos_token_id=2,
    eos_token_id=2,
)


def prompts(batch, length, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, OPT_125M["vocab_size"], size=(batch, length)).astype("int32")
    ids[:, 0] = 2
    return ids, np.ones_like(ids)


def timed(fn, repeats):
    """`(best wall seconds, CPU seconds of that call)` after a warm-up call.

    CPU seconds (all threads of the process) are steadier than wall time on a shared machine."""
    fn()  # warm-up: compilation and first-call allocations
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def rates(tokens, seconds):
    """`[tokens per wall second, tokens per CPU second]`."""
    return [tokens / seconds[0], tokens / max(seconds[1], 1e-9)]


def run_transformers(directory, args, autocast=False, int8=False):
    import torch
    import transformers

    model = transformers.OPTForCausalLM.from_pretrained(directory).eval()
    model.generation_config.eos_token_id = None
    if int8:  # torch's dynamic int8 quantization of every Linear (the tied LM head included)
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, torch.qint8)
    results = {"tokens": {}}
    for batch in args.batch_sizes:
        ids, mask = prompts(batch, args.prompt_length)
        ids_t, mask_t = torch.tensor(ids, dtype=torch.long), torch.tensor(mask)

        def go(ids_t=ids_t, mask_t=mask_t):
            bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)
            with torch.no_grad(), bf16:
                out = model.generate(
                    input_ids=ids_t,
                    attention_mask=mask_t,
                    max_new_tokens=args.new_tokens,
                    do_sample=False,
                    pad_token_id=1,
                )
            assert out.shape[1] == args.prompt_length + args.new_tokens
            return out[:, args.prompt_length :].tolist()

        results[batch] = rates(batch * args.new_tokens, timed(go, args.repeats))
        results["tokens"][batch] = go()
    return results


def opt_vocabulary():
    """Token strings for the random model's ids (CTranslate2 takes strings)."""
    return ["<s>", "<pad>", "</s>", "<unk>"] + [f"t{i}" for i in range(4, OPT_125M["vocab_size"])]


def run_ctranslate2(directory, args):
    import ctranslate2
    import tokenizers
    import transformers
    from ctranslate2.converters import TransformersConverter

    converted = os.path.join(directory, "ctranslate2-int8")
    if not os.path.exists(converted):
        # The converter reads the vocabulary and special tokens from a tokenizer.
        words = {token: i for i, token in enumerate(opt_vocabulary())}
        model = tokenizers.models.WordLevel(words, unk_token="<unk>")
        transformers.PreTrainedTokenizerFast(
            tokenizer_object=tokenizers.Tokenizer(model),
            bos_token="</s>",
            eos_token="</s>",
            unk_token="<unk>",
            pad_token="<pad>",
        ).save_pretrained(directory)
        TransformersConverter(directory).convert(converted, quantization="int8")
    import torch

    generator = ctranslate2.Generator(
        converted, device="cpu", compute_type="int8", intra_threads=torch.get_num_threads()
    )
    vocabulary = opt_vocabulary()
    results = {"tokens": {}}
    for batch in args.batch_sizes:
        ids, _ = prompts(batch, args.prompt_length)
        start = [[vocabulary[i] for i in row] for row in ids]

        def go(start=start):
            out = generator.generate_batch(
                start,
                max_length=args.new_tokens,
                sampling_topk=1,
                end_token=[],  # no stop token, as in the other rows
                include_prompt_in_result=False,
            )
            tokens = [result.sequences_ids[0] for result in out]
            assert all(len(row) == args.new_tokens for row in tokens), [len(r) for r in tokens]
            return tokens

        results[batch] = rates(batch * args.new_tokens, timed(go, args.repeats))
        results["tokens"][batch] = go()
    return results


def run_keras_models(directory, args):
    import keras_models

    if args.quantize:  # a quantized preset, saved by `save_quantized` in another process
        model = keras_models.OPTForCausalLM.from_preset(quantized_preset(directory, args))
    else:
        model = keras_models.OPTForCausalLM.from_preset(directory, dtype=args.dtype)
    # Written as the transformers row is: no stop token in the defaults, then `generate`.
    model.generation_config.eos_token_id = None
    results = {"tokens": {}}
    for batch in args.batch_sizes:
        ids, mask = prompts(batch, args.prompt_length)

        def go(ids=ids, mask=mask):
            out = model.generate(ids, attention_mask=mask, max_new_tokens=args.new_tokens)
            assert out.shape[1] == args.prompt_length + args.new_tokens
            return np.asarray(out)[:, args.prompt_length :].tolist()

        results[batch] = rates(batch * args.new_tokens, timed(go, args.repeats))
        results["tokens"][batch] = go()
    return results


def quantized_preset(directory, args):
    import keras

    return os.path.join(directory, f"keras-{args.quantize}-{keras.backend.backend()}")


def save_quantized(directory, args):
    """Saves the model quantized as a Keras preset: the measuring process loads it already
    quantized, so its peak memory is the quantized model's, not float32's."""
    import keras_models

    model = keras_models.OPTForCausalLM.from_preset(directory)
    model.quantize(args.quantize)
    model.save_to_preset(quantized_preset(directory, args))
    return {}


def run_keras_hub(directory, args):
    import keras_hub  # noqa: F401  (only when installed)

    # KerasHub 0.32 has no converter for Hugging Face OPT checkpoints: same shape, its own
    # random weights (they do not change the speed of greedy decoding with no stop token).
    backbone = keras_hub.models.OPTBackbone(
        **keras_hub_sizes(OPT_125M, intermediate="ffn_dim"),
        dropout=0.0,
        max_sequence_length=OPT_125M["max_position_embeddings"],
    )
    model = keras_hub.models.OPTCausalLM(backbone, preprocessor=None)
    model.compile(sampler="greedy")
    results = {}
    for batch in args.batch_sizes:
        ids, mask = prompts(batch, args.prompt_length)
        width = args.prompt_length + args.new_tokens
        inputs = {
            "token_ids": np.pad(ids, ((0, 0), (0, args.new_tokens))),
            "padding_mask": np.pad(mask, ((0, 0), (0, args.new_tokens))).astype(bool),
        }

        def go(inputs=inputs, width=width):
            model.generate(inputs, max_length=width, stop_token_ids=None)

        results[batch] = rates(batch * args.new_tokens, timed(go, args.repeats))
    return results


def limit_threads(threads):
    """Gives every library the same number of CPU threads (set before they start)."""
    if not threads:
        return
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
        + f" intra_op_parallelism_threads={threads}"
    )
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    import torch

    torch.set_num_threads(threads)


def worker(args):
    limit_threads(args.threads)
    runner = {
        "keras_models": run_keras_models,
        "keras_hub": run_keras_hub,
        "ctranslate2": run_ctranslate2,
        "save_quantized": save_quantized,
    }[args.worker]
    result = runner(args.directory, args)
    result["peak_mb"] = max_rss_mb()
    print("\nRESULT " + json.dumps(result), flush=True)


def spawn(kind, backend, directory, args, dtype="float32", quantize=None):
    if quantize and kind == "keras_models":
        if spawn("save_quantized", backend, directory, args, quantize=quantize) is None:
            return None
    env = dict(os.environ, KERAS_BACKEND=backend)
    if kind == "keras_hub" and args.keras_hub_path:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [args.keras_hub_path, env.get("PYTHONPATH")])
        )
    command = [
        sys.executable,
        "-m",
        "benchmarks.opt_generation",
        "--worker",
        kind,
        "--directory",
        directory,
        "--batch-sizes",
        *map(str, args.batch_sizes),
        "--prompt-length",
        str(args.prompt_length),
        "--new-tokens",
        str(args.new_tokens),
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
        "--dtype",
        dtype,
        "--quantize",
        quantize or "",
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return _int_keys(json.loads(line[len("RESULT ") :]))
    print(f"[{kind} on {backend} failed]\n{proc.stderr[-2000:]}", file=sys.stderr)
    return None


def _int_keys(result):
    """A worker's result with its batch-size keys as ints again (JSON made them strings)."""
    return {
        (int(k) if k.isdigit() else k): (_int_keys(v) if isinstance(v, dict) else v)
        for k, v in result.items()
    }


def _best(old, new):
    """The better value of every batch size and column of two measurements of one row."""
    if old is None or new is None:
        return new if old is None else old
    best = {b: tuple(max(pair) for pair in zip(old[b], new[b])) for b in old if isinstance(b, int)}
    return dict(best, tokens=new.get("tokens"), peak_mb=new.get("peak_mb"))


def agreement(tokens, reference):
    """Share of generated tokens equal to `reference`'s at the same position, all rows."""
    pairs = [(a, b) for row, ref in zip(tokens, reference) for a, b in zip(row, ref)]
    return sum(a == b for a, b in pairs) / len(pairs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--prompt-length", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every row this many times, keep its best"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for every implementation (0: each library's default)",
    )
    parser.add_argument(
        "--mixed-bfloat16", action="store_true", help="add bfloat16 rows (autocast / ours)"
    )
    parser.add_argument("--no-keras-hub", action="store_true", help="skip KerasHub rows")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="add int8 rows: ours after quantize('int8'), transformers with torch's dynamic "
        "int8, CTranslate2 int8 (when it imports)",
    )
    parser.add_argument("--quantize", default="", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    limit_threads(args.threads)
    import torch
    import transformers

    with tempfile.TemporaryDirectory() as directory:
        torch.manual_seed(0)
        transformers.OPTForCausalLM(transformers.OPTConfig(**OPT_125M)).save_pretrained(directory)
        args.keras_hub_path = None if args.no_keras_hub else keras_hub_path()
        if args.keras_hub_path is None and not args.no_keras_hub:
            print("keras_hub is not installed: KerasHub OPTCausalLM skipped.")
        jobs = {"transformers (torch)": lambda: run_transformers(directory, args)}
        for backend in args.backends:
            jobs[f"keras_models ({backend})"] = lambda b=backend: spawn(
                "keras_models", b, directory, args
            )
        if args.keras_hub_path is not None:
            for backend in args.backends:
                jobs[f"keras_hub ({backend})"] = lambda b=backend: spawn(
                    "keras_hub", b, directory, args
                )
        if args.mixed_bfloat16:
            jobs["transformers autocast bf16"] = lambda: run_transformers(
                directory, args, autocast=True
            )
            for backend in args.backends:
                jobs[f"keras_models bf16 ({backend})"] = lambda b=backend: spawn(
                    "keras_models", b, directory, args, dtype="mixed_bfloat16"
                )
        if args.int8:
            jobs["transformers dynamic int8"] = lambda: run_transformers(directory, args, int8=True)
            if importlib.util.find_spec("ctranslate2") is not None:
                jobs["ctranslate2 int8"] = lambda: spawn("ctranslate2", "torch", directory, args)
            else:
                print("ctranslate2 is not installed: its int8 row skipped.")
            for backend in args.backends:
                jobs[f"keras_models int8 ({backend})"] = lambda b=backend: spawn(
                    "keras_models", b, directory, args, quantize="int8"
                )
        rows = dict.fromkeys(jobs)
        for _ in range(args.rounds):
            # Every row once per round: a slow spell of the machine hits one round of a row.
            for name, job in jobs.items():
                rows[name] = _best(rows[name], job())

    base = rows["transformers (torch)"]
    jax_row = rows.get("keras_models (jax)")
    print(
        f"\nOPT-125m shape, random weights, prompt {args.prompt_length}, "
        f"{args.new_tokens} new tokens, greedy, best of {args.repeats} calls in each of "
        f"{args.rounds} round(s); "
        f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs"
    )
    for column, title in ((0, "tok/s"), (1, "tok/CPU-s")):
        header = f"{'implementation':<31}" + "".join(
            f"{f'b={b} {title}':>15}{'vs HF':>8}{'vs jax':>8}" for b in args.batch_sizes
        )
        print(header)
        print("-" * len(header))
        for name, result in rows.items():
            line = f"{name:<31}"
            for b in args.batch_sizes:
                if result is None:
                    line += f"{'failed':>15}{'':>8}{'':>8}"
                    continue
                value = result[b][column]
                vs_jax = f"{value / jax_row[b][column]:.2f}x" if jax_row else "-"
                line += f"{value:>15.1f}{value / base[b][column]:>7.2f}x{vs_jax:>8}"
            print(line)
        print()
    print("peak resident memory of the measuring process (own process rows only), MB:")
    for name, result in rows.items():
        if result is not None and result.get("peak_mb"):
            print(f"  {name:<31}{result['peak_mb']:.0f}")
    reference = base["tokens"]
    print("greedy tokens equal to transformers float32's at the same position:")
    for name, result in rows.items():
        if result is not None and result.get("tokens") and name != "transformers (torch)":
            shares = [
                f"b={b} {agreement(result['tokens'][b], reference[b]):.1%}"
                for b in args.batch_sizes
            ]
            print(f"  {name:<31}" + "  ".join(shares))
    print(
        f"load average {os.getloadavg()[0]:.2f}. tok/CPU-s: tokens per CPU second of the "
        "measuring process (all threads), steadier than wall time on a shared machine."
    )


if __name__ == "__main__":
    main()

"""Pegasus greedy generation: keras_models vs transformers, side by side in one run.

The model is Pegasus-shaped with random weights: pegasus-xsum's width (d_model 1024, 16 heads,
ffn 4096, relu, scaled embeddings, vocabulary 96103) with fewer layers so that it runs on a
small CPU machine (2 encoder + 2 decoder layers by default, about 150M parameters, most of them
in the word table). Both models load the same `save_pretrained` checkpoint; the script checks
that they generate the same tokens, then times `generate` (after one warm-up call that
compiles) and prints tokens/s and the ratio for each backend.

    python -m benchmarks.pegasus_generation                      # jax, tensorflow, torch
    python -m benchmarks.pegasus_generation --backends jax --layers 4 --new-tokens 64
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def config_kwargs(args):
    return dict(
        vocab_size=96103,
        d_model=1024,
        encoder_layers=args.layers,
        decoder_layers=args.layers,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        encoder_ffn_dim=4096,
        decoder_ffn_dim=4096,
        max_position_embeddings=512,
        scale_embedding=True,
        activation_function="relu",
        # A stop token random weights never pick first, so every run has the same length.
        eos_token_id=96102,
        forced_eos_token_id=None,
    )


def make_inputs(args):
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 96000, size=(args.batch, args.source_length)).astype("int64")
    mask = np.ones_like(ids)
    if args.batch > 1:  # one right-padded row, as a tokenizer pads a batch
        ids[-1, args.source_length // 2 :] = 0
        mask[-1, args.source_length // 2 :] = 0
    ids[:, 0] = 5
    return ids, mask


def timed(fn, repeats):
    fn()  # warm-up: compiles (jax, tensorflow) and fills caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times)


def run_backend(args):
    """Runs in a child process with KERAS_BACKEND set; prints one JSON line."""
    import torch
    import transformers

    import keras_models

    torch.manual_seed(0)
    ids, mask = make_inputs(args)
    hf = transformers.PegasusForConditionalGeneration.from_pretrained(args.checkpoint).eval()
    ours = keras_models.PegasusForConditionalGeneration.from_preset(args.checkpoint)
    new = args.new_tokens

    def run_hf():
        with torch.no_grad():
            return hf.generate(
                input_ids=torch.tensor(ids),
                attention_mask=torch.tensor(mask),
                max_new_tokens=new,
                do_sample=False,
                num_beams=1,
            ).numpy()

    def run_ours():
        return ours.generate(
            {"input_ids": ids, "attention_mask": mask}, max_new_tokens=new, num_beams=1
        )

    theirs, hf_time = timed(run_hf, args.repeats)
    mine, our_time = timed(run_ours, args.repeats)
    tokens = args.batch * new
    print(
        json.dumps(
            {
                "backend": os.environ["KERAS_BACKEND"],
                "same_tokens": bool(np.array_equal(theirs, mine)),
                "shape": list(mine.shape),
                "ours_tokens_per_s": tokens / our_time,
                "hf_tokens_per_s": tokens / hf_time,
                "ratio": hf_time / our_time,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--source-length", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.checkpoint:
        run_backend(args)
        return
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.PegasusConfig(**config_kwargs(args))
    model = transformers.PegasusForConditionalGeneration(config).eval()
    params = sum(p.numel() for p in model.parameters())
    print(
        f"Pegasus-shaped random model: d_model 1024, 16 heads, ffn 4096, vocab 96103, "
        f"{args.layers}+{args.layers} layers, {params / 1e6:.0f}M parameters; batch "
        f"{args.batch}, source {args.source_length} tokens (one row half padded), "
        f"{args.new_tokens} new tokens, greedy, best of {args.repeats}."
    )
    print(f"{'backend':<11} {'ours tok/s':>11} {'HF tok/s':>9} {'ratio':>6}  same tokens")
    with tempfile.TemporaryDirectory() as directory:
        model.save_pretrained(directory)
        del model
        for backend in args.backends.split(","):
            command = [sys.executable, "-m", "benchmarks.pegasus_generation"] + sys.argv[1:]
            command += ["--checkpoint", directory]
            env = {**os.environ, "KERAS_BACKEND": backend}
            result = subprocess.run(command, env=env, capture_output=True, text=True)
            lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
            if result.returncode or not lines:
                print(f"{backend:<11} failed:\n{result.stderr[-2000:]}")
                continue
            r = json.loads(lines[-1])
            print(
                f"{backend:<11} {r['ours_tokens_per_s']:>11.1f} {r['hf_tokens_per_s']:>9.1f} "
                f"{r['ratio']:>6.2f}  {r['same_tokens']}"
            )


if __name__ == "__main__":
    main()

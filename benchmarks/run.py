"""Runs every benchmark, one after the other: `python -m benchmarks.run` (or `make benchmark`).

Each benchmark compares us with transformers side by side in one run; see its own module for
options. KerasHub rows appear where `keras_hub` imports (the encoder benchmark also looks in the
directory named by `KERAS_HUB_PATH`, e.g. one made with `pip install --no-deps --target`).
The latest table is in benchmarks/RESULTS.md.
"""

import subprocess
import sys

BENCHMARKS = (
    (
        "benchmarks.encoder",
        "--workloads",
        "infer",
        "train",
        "train_fused",
        "bf16",
        "train_bf16",
        "int8",
    ),
    ("benchmarks.opt_generation", "--int8"),
    ("benchmarks.pegasus_generation",),
    ("benchmarks.tokenizer_speed",),
)


def main():
    failed = []
    for module, *options in BENCHMARKS:
        print(f"\n##### {module} {' '.join(options)}", flush=True)
        if subprocess.run([sys.executable, "-m", module, *options]).returncode:
            failed.append(module)
    if failed:
        print(f"\nfailed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

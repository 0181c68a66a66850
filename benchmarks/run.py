"""Runs every benchmark, one after the other: `python -m benchmarks.run` (or `make benchmark`).

Each benchmark compares us with transformers side by side in one run; see its own module for
options. KerasHub rows appear where `keras_hub` imports (the encoder benchmark also looks in the
directory named by `KERAS_HUB_PATH`, e.g. one made with `pip install --no-deps --target`).
The latest table is in benchmarks/RESULTS.md.
"""

import subprocess
import sys

BENCHMARKS = (
    "benchmarks.encoder",
    "benchmarks.opt_generation",
    "benchmarks.pegasus_generation",
    "benchmarks.tokenizer_speed",
)


def main():
    failed = []
    for module in BENCHMARKS:
        print(f"\n##### {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module]).returncode:
            failed.append(module)
    if failed:
        print(f"\nfailed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

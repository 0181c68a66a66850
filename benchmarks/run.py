"""Runs every benchmark, one after the other: `python -m benchmarks.run` (or `make benchmark`).

Each benchmark compares us with transformers side by side in one run; see its own module for
options. The encoder inference / training-step comparison (RoBERTa-base shape) and KerasHub
columns of issue 11 are not written yet.
"""

import subprocess
import sys

BENCHMARKS = (
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

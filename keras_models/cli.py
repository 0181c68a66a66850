"""The `keras-models` command."""

import argparse
import os
import sys


def _demo(args):
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    from keras_models.demo import run_demo

    run_demo(steps=args.steps)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-models",
        description="Keras 3 RoBERTa, OPT, Pegasus, MegatronBERT, RoCBert and RoFormer.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small question-answering model end to end")
    demo.add_argument("--backend", choices=["jax", "tensorflow", "torch"], default=None)
    demo.add_argument("--steps", type=int, default=30, help="training steps per input form")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

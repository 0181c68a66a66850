"""The `keras-models` command: presets, convert, export, info and demo.

The commands that download, convert or export show progress bars on a terminal and none when
their output goes to a file or a pipe; `--quiet` turns them off on a terminal too (see
`keras_models.progress`).
"""

import argparse
import json
import sys


def _check_backend(args):
    """Keras fixes its backend when it is first imported, which importing `keras_models.cli`
    already did (from `KERAS_BACKEND`), so `--backend` can only confirm it."""
    backend = getattr(args, "backend", None)
    if not backend:
        return
    import keras

    if keras.backend.backend() != backend:
        raise ValueError(
            f"`--backend {backend}`: Keras already runs on {keras.backend.backend()!r}; run "
            f"`KERAS_BACKEND={backend} keras-models ...` (`make demo DEMO_BACKEND={backend}`)."
        )


def _verbose(args):
    """The `verbose` of the library calls: 0 with `--quiet`, else automatic (a terminal)."""
    return 0 if getattr(args, "quiet", False) else None


def _presets(args):
    from keras_models import list_presets

    rows = list_presets(family=args.family, task=args.task)
    header = f"{'name':<28} {'family':<13} {'task':<20} {'params':>8}  source"
    print(header)
    print("-" * len(header))
    for p in rows:
        if p.params < 1e6:
            params = f"{p.params / 1e6:.2f}M"
        else:
            params = f"{p.params / 1e6:.0f}M" if p.params < 1e9 else f"{p.params / 1e9:.1f}B"
        source = "embedded in the package (offline, random weights)" if p.embedded else p.source
        print(f"{p.name:<28} {p.family:<13} {p.task or '-':<20} {params:>8}  {source}")
    embedded = sum(p.embedded for p in rows)
    print(
        f"\n{len(rows)} presets ({embedded} embedded, {len(rows) - embedded} on the Hugging Face Hub)"
    )


def _model_class(directory):
    """Our class for a checkpoint: the family's class of its `architectures` entry (the
    transformers class names are ours), else the family backbone."""
    from keras_models.presets.families import get_family
    from keras_models.presets.resolve import read_hf_config

    config = read_hf_config(directory)
    family = get_family(config["model_type"], directory)
    classes = {cls.__name__: cls for cls in (family.backbone, *family.tasks)}
    for arch in config.get("architectures") or []:
        if arch in classes:
            return classes[arch]
        # Another model class of the same head (`BertForMaskedLM` in a checkpoint saved
        # from a fork): the family's class with that suffix.
        suffix = arch[arch.find("For") :] if "For" in arch else None
        for name, cls in classes.items():
            if suffix and name.endswith(suffix):
                return cls
    return family.backbone


def _check_inputs(model, config, rows=2, seq=8):
    import numpy as np

    rng = np.random.default_rng(0)
    vocab = config.get("vocab_size", 100)
    shape = (rows, 2, seq) if getattr(model, "input_rank", 2) == 3 else (rows, seq)
    ids = rng.integers(3, vocab, size=shape).astype("int32")
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "decoder_input_ids" in model.input_names:
        inputs["decoder_input_ids"] = rng.integers(3, vocab, size=shape).astype("int32")
    return inputs


def _compare_with_transformers(model, directory, hf=None):
    """Max abs difference between our outputs and transformers' (`hf`, by default loaded from
    `directory`) on random ids."""
    import keras
    import numpy as np
    import torch
    import transformers

    from keras_models.presets.resolve import read_hf_config

    config = read_hf_config(directory)
    arch = (config.get("architectures") or ["AutoModel"])[0]
    hf_cls = getattr(transformers, arch, None) or transformers.AutoModel
    hf = (hf or hf_cls.from_pretrained(directory)).eval()
    inputs = _check_inputs(model, config)
    ours = model(inputs)
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v.astype("int64")) for k, v in inputs.items()})
    diffs = {}
    for name, value in ours.items():
        other = getattr(theirs, name, None)
        if other is None:
            continue
        mine = keras.ops.convert_to_numpy(value).astype("float64")
        diffs[name] = float(np.max(np.abs(mine - other.float().numpy())))
    return diffs


def _convert(args):
    from keras_models.presets.resolve import resolve_preset

    verbose = _verbose(args)
    directory, _ = resolve_preset(args.source, verbose=verbose)
    model_cls = _model_class(directory)
    print(f"Converting {args.source} into {model_cls.__name__} ...")
    model = model_cls.from_preset(directory, verbose=verbose)
    model.save_to_preset(args.output)
    print(f"Saved a Keras preset to {args.output} ({model.count_params():,} parameters).")
    if args.check:
        return _report(_compare_with_transformers(model, directory), args.tolerance)
    return 0


def _source_model(source, verbose=None):
    """The model of a Keras preset directory (its saved class) or of a Hugging Face checkpoint
    or registered name (the class of its `architectures`)."""
    import keras

    from keras_models.presets.keras_format import is_keras_preset, read_preset_config
    from keras_models.presets.resolve import resolve_preset

    directory, _ = resolve_preset(source, verbose=verbose)
    if is_keras_preset(directory):
        model_cls = keras.saving.get_registered_object(
            read_preset_config(directory)["registered_name"]
        )
    else:
        model_cls = _model_class(directory)
    return model_cls.from_preset(directory, verbose=verbose)


def _export(args):
    verbose = _verbose(args)
    model = _source_model(args.source, verbose)
    print(f"Exporting {type(model).__name__} from {args.source} to the transformers format ...")
    path = model.export_to_transformers(
        args.output, max_shard_size=args.max_shard_size, verbose=verbose
    )
    print(f"Wrote {path}.")
    if args.check:
        return _report(_compare_with_transformers(model, path), args.tolerance)
    return 0


def _report(diffs, tolerance):
    for name, diff in diffs.items():
        print(f"max abs difference {name}: {diff:.3g}")
    worst = max(diffs.values()) if diffs else float("nan")
    print(f"max difference: {worst:.3g}")
    if not worst <= tolerance:
        print(f"FAILED: above the tolerance {tolerance}")
        return 1
    return 0


def _info(args):
    import keras

    from keras_models.presets.keras_format import is_keras_preset, read_preset_config
    from keras_models.presets.resolve import read_hf_config, resolve_preset

    verbose = _verbose(args)
    directory, _ = resolve_preset(args.preset, verbose=verbose)
    if is_keras_preset(directory):
        config = read_preset_config(directory)
        print(f"Keras preset: {config['registered_name']}")
        model = keras.saving.deserialize_keras_object(config)
    else:
        config = read_hf_config(directory)
        model_cls = _model_class(directory)
        print(
            f"Hugging Face checkpoint: model_type {config['model_type']!r} -> {model_cls.__name__}"
        )
        model = model_cls.from_preset(directory, verbose=verbose)
    print(json.dumps(model.get_config(), indent=2, default=str))
    print(f"parameters: {model.count_params():,}")
    print(f"inputs (list order): {list(model.input_names)}")
    print(
        f"outputs: {list(model.output.keys()) if isinstance(model.output, dict) else model.output}"
    )


def _demo(args):
    from keras_models.demo import run_demo

    result = run_demo(
        train_size=args.train_size,
        test_size=args.test_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        output_dir=args.output,
        verbose=0 if args.quiet else args.verbose,
    )
    return 0 if result["same_after_reload"] else 1


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-models",
        description="Keras 3 RoBERTa, OPT, Pegasus, MegatronBERT, RoCBert and RoFormer.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # The switch every command that downloads, converts or exports takes.
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (they are shown only on a terminal anyway)",
    )
    presets = sub.add_parser("presets", help="list the registered presets")
    presets.add_argument("--family", default=None)
    presets.add_argument("--task", default=None)
    presets.set_defaults(func=_presets)
    convert = sub.add_parser(
        "convert", parents=[quiet], help="convert a Hugging Face checkpoint to a Keras preset"
    )
    convert.add_argument("source", help="checkpoint directory, registered name or hf://owner/name")
    convert.add_argument("output", help="directory for the Keras preset")
    convert.add_argument("--check", action="store_true", help="compare with transformers")
    convert.add_argument("--tolerance", type=float, default=1e-4)
    convert.add_argument("--backend", choices=["jax", "tensorflow", "torch"], default=None)
    convert.set_defaults(func=_convert)
    export = sub.add_parser(
        "export",
        parents=[quiet],
        help="write a Keras preset or checkpoint in the transformers format",
    )
    export.add_argument("source", help="Keras preset directory, checkpoint or registered name")
    export.add_argument("output", help="directory for the transformers checkpoint")
    export.add_argument("--check", action="store_true", help="load it in transformers, compare")
    export.add_argument("--tolerance", type=float, default=1e-4)
    export.add_argument("--max-shard-size", default="5GB", help="largest weight file")
    export.add_argument("--backend", choices=["jax", "tensorflow", "torch"], default=None)
    export.set_defaults(func=_export)
    info = sub.add_parser(
        "info", parents=[quiet], help="config, parameter count, inputs and outputs of a preset"
    )
    info.add_argument("preset")
    info.add_argument("--backend", choices=["jax", "tensorflow", "torch"], default=None)
    info.set_defaults(func=_info)
    demo = sub.add_parser(
        "demo",
        parents=[quiet],
        help="fine-tune the embedded roberta_tiny for question answering, offline",
        description="Fine-tunes the embedded roberta_tiny preset for extractive question "
        "answering on a templated dataset (held-out entities) and reports exact match and F1.",
    )
    demo.add_argument(
        "--backend",
        choices=["jax", "tensorflow", "torch"],
        default=None,
        help="the backend to expect (it comes from KERAS_BACKEND)",
    )
    demo.add_argument("--train-size", type=int, default=20000, help="training examples")
    demo.add_argument("--test-size", type=int, default=200, help="held-out examples")
    demo.add_argument("--epochs", type=int, default=6)
    demo.add_argument("--batch-size", type=int, default=16)
    demo.add_argument(
        "--output", default=None, help="directory for the fine-tuned preset and loss.png"
    )
    demo.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="fit verbosity: 1 a progress bar, 2 one line per epoch, 0 none (default: 1 on a "
        "terminal, 2 otherwise); --quiet is 0",
    )
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    _check_backend(args)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())

"""Model commands: ``train``, ``eval``, ``predict``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser"]

#: As gaugemesh.training.precision.PRECISIONS, which imports torch: --help stays cheap.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def add_parser(subparsers) -> None:
    """Add the model subcommands to ``subparsers`` (see :mod:`gaugemesh.cli`)."""
    p = subparsers.add_parser("train", help="train a segmentation model (on a dataset folder, or from a config)",
                              description="Train a gauge-equivariant segmentation network. With --data and --out "
                                          "and no config, the default recipe looks at the dataset, says what it "
                                          "chose and why, and trains.")
    p.add_argument("--config", default=None, help="TOML config, e.g. experiments/synthetic/config.toml "
                                                  "(default: the recipe chosen from --data)")
    p.add_argument("--data", default=None, help="dataset folder (overrides data.root)")
    p.add_argument("--out", default=None, help="run folder (overrides output.dir)")
    p.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.epochs=5 data.root=DIR")
    run = p.add_mutually_exclusive_group()
    run.add_argument("--resume", action="store_true", help="continue the run in output.dir from its last.pt")
    run.add_argument("--overwrite", action="store_true",
                     help="delete the run already in output.dir (checkpoints, metrics, curves) and start afresh")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="overrides train.device")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="overrides train.precision (auto: bf16 on CUDA, fp32 on CPU; fp16 adds a gradient scaler)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_train)

    p = subparsers.add_parser("eval", help="evaluate a checkpoint on a dataset split",
                              description="Recompute frame fields and features from the raw meshes with the "
                                          "checkpoint's options and print the dataset's metrics.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--split", default="test", help="a split of the dataset, or 'val': the meshes the "
                                                        "checkpoint held out of its training split")
    p.add_argument("--rotate", type=int, default=None, metavar="SEED",
                   help="rotate every mesh at random in space first (invariance check)")
    p.add_argument("--json", type=Path, help="write the report here (default: <split>_metrics.json beside the "
                                             "checkpoint), and a picture of its confusion matrices beside it")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help="auto: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--cache", default=None, help="cache folder (default: a temporary one)")
    p.add_argument("--input-vertices", type=int, default=None, metavar="N",
                   help="resample meshes more than twice as dense to about N vertices first and read the "
                        "outputs back on every vertex (default: the checkpoint's features.input_vertices; 0: never)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_eval)

    p = subparsers.add_parser("predict", help="segment mesh files (files, folders or globs)",
                              description="Segment meshes with one loaded model. Per mesh: labels per file vertex "
                                          "and per file face, a colored PLY and a PNG; failures are reported by "
                                          "name and the rest go on.")
    p.add_argument("meshes", nargs="+", help="mesh files, folders of them, or glob patterns such as 'scans/*.ply'")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help="auto: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--probabilities", action="store_true",
                   help="also write <name>.probabilities.npy: class probabilities per file vertex")
    p.add_argument("--input-vertices", type=int, default=None, metavar="N",
                   help="resample meshes more than twice as dense to about N vertices first and read the "
                        "outputs back on every vertex (default: the checkpoint's features.input_vertices; 0: never)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_predict)


def _train_config(args: argparse.Namespace) -> dict:
    """The run's configuration: the config file's, or the default recipe's (printed with
    its reasons), with the command line's overrides on top."""
    from gaugemesh.training.config import ConfigError, apply_overrides, load_config, resolve_tables
    from gaugemesh.training.default_recipe import default_config

    overrides = list(args.overrides) + [f"train.{key}={getattr(args, key)}" for key in ("device", "precision")
                                        if getattr(args, key)]
    if args.config is not None:
        paths = [f"data.root={args.data}"] * bool(args.data) + [f"output.dir={args.out}"] * bool(args.out)
        return load_config(args.config, paths + overrides)
    if not (args.data and args.out):
        raise ConfigError("give --data DIR and --out RUN (the default recipe), or --config FILE")
    try:
        config, reasons = default_config(args.data, args.out)
    except ValueError as exc:  # nothing recognisable in the folder: the user's to fix
        raise ConfigError(str(exc)) from exc
    if any(item.partition("=")[0].strip() == "model.kind" for item in overrides):
        # The recipe's [model] keys are GemResNet's: another kind starts from its own defaults.
        config["model"] = {}
        reasons = [r for r in reasons if not r.startswith("model:")] + ["model: model.kind and its options from "
                                                                         "the command line, the rest its defaults"]
    print("default recipe (no --config):")
    for reason in reasons:
        print(f"  {reason}")
    return resolve_tables(apply_overrides(config, overrides))


def run_train(args: argparse.Namespace) -> int:
    from gaugemesh.training.allocator import keep_freed_memory
    from gaugemesh.training.config import to_toml
    from gaugemesh.training.train_job import train

    keep_freed_memory()  # a process setting: see gaugemesh/training/allocator.py
    config = _train_config(args)
    print("configuration (stored as config.toml in the run folder):\n" + to_toml(config))
    out = train(config, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"checkpoints, metrics.jsonl and curves.png are in {out}")
    return 0


def _can_write_file(path: Path) -> bool:
    """Whether ``path`` can become a file: not a folder, and its nearest existing ancestor is one."""
    existing = next((parent for parent in path.parents if parent.exists()), Path("."))
    return not path.is_dir() and existing.is_dir()


def run_eval(args: argparse.Namespace) -> int:
    from gaugemesh.training.allocator import keep_freed_memory
    from gaugemesh.training.evaluate_job import evaluate_checkpoint, headline, report_path, write_report
    from gaugemesh.training.run_folder import JobError

    out = report_path(args.checkpoint, args.split, args.rotate, args.json)
    if not _can_write_file(out):  # found out before the evaluation, not after it
        raise JobError(f"--json {out} cannot be written (a folder is in the way, or its parent is a file); "
                       "give a file path such as metrics.json")
    keep_freed_memory()
    report = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.device, args.cache,
                                 progress=not args.no_progress, rotate_seed=args.rotate, precision=args.precision,
                                 input_vertices=args.input_vertices)
    print(headline(report))
    print("per-class accuracy and IoU, confusion matrix: " + ", ".join(map(str, write_report(report, out))))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from gaugemesh.training.predict_job import predict_meshes

    summary = predict_meshes(args.meshes, args.checkpoint, args.out, args.device, args.precision,
                             probabilities=args.probabilities, progress=not args.no_progress,
                             input_vertices=args.input_vertices)
    for name, paths in summary.written.items():
        print(f"{name}: " + ", ".join(str(path) for path in paths.values()))
    print(summary.report())
    return 2 if summary.failed else 0

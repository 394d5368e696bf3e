"""Data commands: ``preprocess``, ``make-synthetic``, ``download``."""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_parser"]


def add_parser(subparsers) -> None:
    """Add the data subcommands to ``subparsers`` (see :mod:`gaugemesh.cli`)."""
    from gaugemesh.datasets.download import SOURCES
    from gaugemesh.features import DEFAULT_FEATURES, FEATURES

    p = subparsers.add_parser("preprocess", help="compute frame fields and features into a cache",
                              description="Preprocess a dataset folder into a cache, in parallel and resumable.")
    p.add_argument("dataset", help="dataset folder (MeshCNN, RNA or generic layout; see data/README.md)")
    p.add_argument("--out", required=True, help="cache folder (created)")
    p.add_argument("--layout", default="auto", choices=["auto", "meshcnn", "rna", "generic"])
    p.add_argument("--split", nargs="+", default=["train", "test"], help="splits to process (default: train test)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (0: in this process)")
    p.add_argument("--shard", default=None, type=_shard, help="i/n: do the i-th of n deterministic shares (0-based)")
    p.add_argument("--features", nargs="+", default=list(DEFAULT_FEATURES), choices=sorted(FEATURES))
    p.add_argument("--hks-count", type=int, default=16)
    p.add_argument("--grad-count", type=int, default=4)
    p.add_argument("--eigs", type=int, default=128, help="Laplacian eigenpairs for HKS")
    p.add_argument("--connection", default="levi-civita", choices=["levi-civita", "projection"])
    p.add_argument("--frames", default="default", choices=["default", "potpourri3d"])
    p.add_argument("--repair", default=None, choices=["yes", "no"], help="repair meshes (default: per layout)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--strict", action="store_true", help="stop at the first unusable mesh")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_preprocess)

    p = subparsers.add_parser("make-synthetic", help="write the synthetic segmentation dataset",
                              description="Write the synthetic S/Z-ridge segmentation dataset (data/README.md).")
    p.add_argument("dir", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num", type=int, default=200)
    p.set_defaults(func=run_make_synthetic)

    p = subparsers.add_parser("download", help="download a public dataset",
                              description="Download a public dataset from its original location and unpack it.")
    p.add_argument("name", choices=sorted(SOURCES))
    p.add_argument("dir", help="target folder (the dataset lands in <dir>/<name>)")
    p.add_argument("--url", default=None, help="override the source URL (e.g. a mirror or file://)")
    p.add_argument("--sha256", default=None, help="expected checksum (overrides the known one)")
    p.set_defaults(func=run_download)


def _shard(text: str) -> tuple[int, int]:
    from gaugemesh.datasets import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_preprocess(args: argparse.Namespace) -> int:
    from gaugemesh.datasets import ProcessOptions, open_layout, preprocess
    from gaugemesh.features import FeatureOptions

    try:
        layout = open_layout(args.dataset, args.layout)
    except (FileNotFoundError, ValueError) as exc:
        print(f"preprocess: {exc}", file=sys.stderr)
        return 1
    feature_options = FeatureOptions(hks_count=args.hks_count, grad_count=args.grad_count, eigs=args.eigs)
    options = ProcessOptions(tuple(args.features), feature_options, args.connection, args.frames,
                             repair=None if args.repair is None else args.repair == "yes", dtype=args.dtype)
    items = [item for split in args.split for item in layout.items(split)]
    if not items:
        print(f"no meshes found in {args.dataset} for splits {args.split}", file=sys.stderr)
        return 1
    try:
        summary = preprocess(layout, items, args.out, options, workers=args.workers,
                             shard=args.shard, strict=args.strict,
                             progress=not args.no_progress)
    except RuntimeError as exc:
        print(f"preprocess stopped: {exc}", file=sys.stderr)
        return 1
    print(summary.report())
    return 0


def run_make_synthetic(args: argparse.Namespace) -> int:
    import time

    from gaugemesh.datasets.synthetic import make_synthetic

    start = time.perf_counter()
    names = make_synthetic(args.dir, num=args.num, seed=args.seed)
    print(f"wrote {len(names)} synthetic meshes to {args.dir} in {time.perf_counter() - start:.1f} s")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from gaugemesh.datasets.download import DownloadError, download

    try:
        path = download(args.name, args.dir, url=args.url, sha256=args.sha256)
    except DownloadError as exc:
        print(f"download failed: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name} is in {path}")
    return 0

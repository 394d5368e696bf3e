"""Data commands: ``preprocess``, ``make-synthetic``, ``download``.

Failures are reported in one line, as :func:`gaugemesh.cli.main` reports user errors
(``--verbose`` re-raises them, with the traceback): exit code 2 for what the user can fix in
the arguments or the input (a bad option, a folder without a dataset, a bad checksum, an
unusable mesh under ``--strict``), exit code 1 where the output cannot be written (a full
disk, a read-only folder, a file where a folder should be).
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_parser"]


def add_parser(subparsers) -> None:
    """Add the data subcommands to ``subparsers`` (see :mod:`gaugemesh.cli`)."""
    from gaugemesh.features import DEFAULT_FEATURES, FEATURES, FeatureOptions  # numpy only: --help stays fast

    p = subparsers.add_parser("preprocess", help="compute frame fields and features into a cache",
                              description="Preprocess a dataset folder into a cache, in parallel and resumable.")
    p.add_argument("dataset", help="dataset folder (meshcnn, vertex_labels or generic layout; see data/README.md)")
    p.add_argument("--out", required=True, help="cache folder (created)")
    # "rna": the former name of vertex_labels, still accepted (gaugemesh.datasets.layouts.LAYOUT_ALIASES).
    p.add_argument("--layout", default="auto", choices=["auto", "meshcnn", "vertex_labels", "generic", "rna"])
    p.add_argument("--split", nargs="+", default=["train", "test"], help="splits to process (default: train test)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (0: in this process)")
    p.add_argument("--shard", default=None, type=_shard, help="i/n: do the i-th of n deterministic shares (0-based)")
    p.add_argument("--config", default=None,
                   help="take the feature options and repair from a run's TOML config (as train will), so "
                        "that train finds this cache; then give none of the options below")
    defaults = FeatureOptions()
    p.add_argument("--features", nargs="+", default=None, choices=sorted(FEATURES),
                   help=f"default: {' '.join(DEFAULT_FEATURES)}")
    p.add_argument("--hks-count", type=int, default=None, help=f"default: {defaults.hks_count}")
    p.add_argument("--grad-count", type=int, default=None, help=f"default: {defaults.grad_count}")
    p.add_argument("--eigs", type=int, default=None, help=f"Laplacian eigenpairs for HKS (default: {defaults.eigs})")
    p.add_argument("--connection", default=None, choices=["levi-civita", "projection"], help="default: levi-civita")
    p.add_argument("--frames", default="default", choices=["default", "potpourri3d"])
    p.add_argument("--structure-group", default=None, choices=["SO2", "O2"],
                   help="frames for SO(2) (default; refuses non-orientable meshes) or O(2) (accepts them; "
                        "as features.structure_group)")
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
    p.add_argument("name", help="a dataset of data/README.md's list (an unknown name is refused with the list)")
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


def _fail(args: argparse.Namespace, message: object, exc: BaseException | None = None, code: int = 2) -> int:
    """Print ``message`` as one error line and return ``code``; with ``--verbose``, re-raise
    ``exc`` (where the message comes from one) so that its traceback shows."""
    if exc is not None and getattr(args, "verbose", False):
        raise exc
    # Messages that quote other libraries can span lines (tarfile lists every method it tried).
    line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"gaugemesh {args.command}: error: {line}", file=sys.stderr)
    return code


def _cannot_write(what: os.PathLike | str, exc: OSError) -> str:
    """``"cannot write out: No space left on device (out/a.off); ..."``: the folder asked for,
    and the path the system names when that is another one."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):  # strerror would say "File exists"
        reason = "a file is in the way of a folder"
    else:
        reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(what) else ""
    return f"cannot write {what}: {reason}{where}; choose another folder or free disk space."


def _process_options(args: argparse.Namespace):
    """The :class:`~gaugemesh.datasets.ProcessOptions` of the arguments (checked: ValueError)."""
    from gaugemesh.datasets import ProcessOptions
    from gaugemesh.datasets.preprocess import check_workers
    from gaugemesh.features import DEFAULT_FEATURES, FeatureOptions

    check_workers(args.workers)
    given = {name: getattr(args, name) for name in _FEATURE_FLAGS if getattr(args, name) is not None}
    if args.config is not None:
        return _config_options(args, given)
    defaults = FeatureOptions()
    feature_options = FeatureOptions(hks_count=given.get("hks_count", defaults.hks_count),
                                     grad_count=given.get("grad_count", defaults.grad_count),
                                     eigs=given.get("eigs", defaults.eigs))
    return ProcessOptions(tuple(given.get("features", DEFAULT_FEATURES)), feature_options,
                          given.get("connection", "levi-civita"), args.frames,
                          repair=None if args.repair is None else args.repair == "yes", dtype=args.dtype,
                          structure_group=given.get("structure_group", "SO2"))


#: The options --config decides; given beside it, they would make a cache train never reads.
_FEATURE_FLAGS = ("features", "hks_count", "grad_count", "eigs", "connection", "repair", "structure_group")


def _config_options(args: argparse.Namespace, given: dict):
    """The options of ``--config``, exactly as ``train`` derives them (ValueError on a conflict)."""
    from dataclasses import replace

    from gaugemesh.training.config import load_config
    from gaugemesh.training.recipe import process_options

    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ValueError(f"{flags} cannot be given with --config, which decides them; edit the config's "
                         "[features] or [data] table instead")
    return replace(process_options(load_config(args.config)), frames=args.frames, dtype=args.dtype)


def run_preprocess(args: argparse.Namespace) -> int:
    from gaugemesh.datasets import open_layout, preprocess
    from gaugemesh.datasets.cache import CacheWriteError

    # Everything is checked before any mesh is read: a bad option is one line, not a
    # "skipped" line per mesh. A missing folder (FileNotFoundError) is reported by main.
    try:
        options = _process_options(args)
        layout = open_layout(args.dataset, args.layout)
    except ValueError as exc:
        return _fail(args, exc, exc)
    items = [item for split in args.split for item in layout.items(split)]
    if not items:
        return _fail(args, f"no meshes found in {args.dataset} for splits {args.split}; check --split and --layout.")
    try:
        summary = preprocess(layout, items, args.out, options, workers=args.workers, shard=args.shard,
                             strict=args.strict, progress=not args.no_progress)
    except CacheWriteError as exc:  # unusable meshes with --strict are MeshErrors, reported by main
        return _fail(args, exc, exc, code=1)
    print(summary.report())
    return 0


def run_make_synthetic(args: argparse.Namespace) -> int:
    import time

    from gaugemesh.datasets.synthetic import make_synthetic

    if args.num < 1:
        return _fail(args, f"--num must be at least 1, got {args.num}.")
    if args.seed < 0:
        return _fail(args, f"--seed must be 0 or more, got {args.seed}.")
    start = time.perf_counter()
    try:
        names = make_synthetic(args.dir, num=args.num, seed=args.seed)
    except OSError as exc:
        return _fail(args, _cannot_write(args.dir, exc), exc, code=1)
    print(f"wrote {len(names)} synthetic meshes to {args.dir} in {time.perf_counter() - start:.1f} s")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from gaugemesh.datasets.download import DownloadError, download

    try:
        path = download(args.name, args.dir, url=args.url, sha256=args.sha256)
    except DownloadError as exc:  # unreachable URL, checksum mismatch, unsafe or unknown archive
        return _fail(args, exc, exc)
    except OSError as exc:  # the target folder cannot be made or written
        return _fail(args, _cannot_write(args.dir, exc), exc, code=1)
    print(f"{args.name} is in {path}")
    return 0

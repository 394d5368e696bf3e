"""The ``gaugemesh`` command line: one argparse subcommand per task.

Each command module in this package exposes ``add_parser(subparsers)``, which adds its
subcommand(s) and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and
returning an exit code) with ``parser.set_defaults(func=...)``. To add a command, write
``gaugemesh/cli/<name>.py`` with ``add_parser``: it is found by :func:`command_modules`
(no edit here). Command modules import their heavy dependencies inside the command
functions, so ``gaugemesh --help`` stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import Sequence

__all__ = ["main", "build_parser", "command_modules", "FIRST_MODULES"]

#: Modules listed first by ``--help``, in this order; the others follow alphabetically.
FIRST_MODULES = ("data", "train")


def command_modules() -> list[str]:
    """Names of the modules of this package that contribute subcommands."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(names, key=lambda n: (FIRST_MODULES.index(n) if n in FIRST_MODULES else len(FIRST_MODULES), n))


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every module's subcommands."""
    from gaugemesh import __version__

    parser = argparse.ArgumentParser(prog="gaugemesh", description="Gauge-equivariant CNNs on triangle meshes.")
    parser.add_argument("--version", action="version", version=f"gaugemesh {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        if not hasattr(module, "add_parser"):
            raise ImportError(f"gaugemesh.cli.{name} has no add_parser(subparsers); every module here must have one.")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (``0`` on success)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        # Problems with the user's files or options (exit 2), or with the disk (exit 1): say
        # what and stop, no traceback. Anything else is a bug and keeps its traceback.
        if args.verbose or not isinstance(exc, _user_errors() + _write_errors()):
            raise
        print(f"gaugemesh {args.command}: error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, _write_errors()) else 2


def _user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean a user error. Imported when an error is raised, not
    before: the modules that define them import torch, and ``--help`` should not wait for it."""
    from gaugemesh.mesh import MeshError
    from gaugemesh.training.checkpoint import CheckpointError
    from gaugemesh.training.config import ConfigError
    from gaugemesh.training.loop import TrainingDiverged
    from gaugemesh.training.metrics_log import MetricsLogError
    from gaugemesh.training.run_folder import JobError

    return (MeshError, CheckpointError, ConfigError, JobError, MetricsLogError, TrainingDiverged, FileNotFoundError)


def _write_errors() -> tuple[type[BaseException], ...]:
    """Failures to write a checkpoint or cache entry (disk full, read-only): the machine's
    state, not the user's input, hence exit code 1; nothing already written is damaged."""
    from gaugemesh.atomic import AtomicWriteError
    from gaugemesh.datasets.cache import CacheWriteError

    return (AtomicWriteError, CacheWriteError)


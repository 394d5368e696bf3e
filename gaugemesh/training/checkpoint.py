"""Checkpoints: everything needed to evaluate or resume, loadable without unpickling code.

A checkpoint is a plain dict of tensors, strings, numbers, lists and dicts, saved with
``torch.save`` and loaded with ``torch.load(weights_only=True)``, so a file from an
untrusted source cannot execute code. It is written atomically (temporary file, then
rename): a run killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

import gaugemesh
from gaugemesh.atomic import atomic_torch_save

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "FORMAT", "FORMAT_VERSION"]

FORMAT = "gaugemesh-checkpoint"
#: Bumped whenever the meaning of a stored field changes.
FORMAT_VERSION = 1
REQUIRED = ("model_state", "config", "class_names", "in_type")


class CheckpointError(ValueError):
    """A file that is not a usable gaugemesh checkpoint; the message says why."""


def save_checkpoint(path: str | os.PathLike, **content: Any) -> Path:
    """Atomically write a checkpoint holding ``content`` plus format and version stamps.

    ``content`` must hold at least ``model_state``, ``config``, ``class_names`` and
    ``in_type`` (the input ``FieldType`` as a string).
    """
    missing = [key for key in REQUIRED if key not in content]
    if missing:
        raise ValueError(f"a checkpoint needs {missing}")
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "gaugemesh_version": gaugemesh.__version__, **content}
    return atomic_torch_save(payload, path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely and check that this gaugemesh can use it.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: corrupt or truncated file, not a gaugemesh checkpoint, or a format
            version this gaugemesh does not read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # zip errors, unpickling refusals, truncation: all mean unusable
        raise CheckpointError(
            f"{path} is corrupt or not a gaugemesh checkpoint ({type(exc).__name__}: {str(exc)[:200]}). "
            "Use a checkpoint written by `gaugemesh train`."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gaugemesh checkpoint (no '{FORMAT}' stamp).")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version} (written by gaugemesh {payload.get('gaugemesh_version')}); "
            f"this gaugemesh {gaugemesh.__version__} reads format {FORMAT_VERSION}. "
            "Use the matching gaugemesh version, or retrain."
        )
    missing = [key for key in REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}; it was not written completely by `gaugemesh train`.")
    return payload

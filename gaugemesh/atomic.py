"""Atomic writes: a killed process leaves the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_torch_save"]


def atomic_torch_save(obj: Any, path: str | os.PathLike, temp_prefix: str | None = None) -> Path:
    """``torch.save`` to a temporary file in the target's folder, fsync, then rename over ``path``.

    Args:
        obj: What to save (keep it to tensors and plain containers so that it loads with
            ``weights_only=True``).
        path: Destination; its folder is created.
        temp_prefix: Name prefix of the temporary file (lets callers find stale ones).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix or f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

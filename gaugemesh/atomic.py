"""Atomic writes: a killed process leaves the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["AtomicWriteError", "atomic_torch_save"]


class AtomicWriteError(OSError):
    """A file could not be written (disk full, read-only); the old file, if any, is intact.

    ``torch.save`` reports a full disk as a ``RuntimeError`` from its zip writer ("unexpected
    pos"); this is the one type callers see instead, with the path and the cause."""

    def __init__(self, path: os.PathLike, cause: BaseException):
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else f"{type(cause).__name__}: {cause}"
        super().__init__(getattr(cause, "errno", None), reason, str(path))

    def __str__(self) -> str:
        return (f"cannot write {self.filename}: {self.strerror}; the previous file, if any, is intact: "
                "free disk space or choose another folder")


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
    except (OSError, RuntimeError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AtomicWriteError(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

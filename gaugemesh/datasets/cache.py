"""The preprocessing cache: content-addressed, atomically written, loaded without pickles.

An entry is one processed mesh: a ``torch.save``\\ d dict of tensors, strings and numbers
(``Data.to_dict()``) with the format version, its key and a checksum of its contents. It is
loaded with ``torch.load(weights_only=True)``, which runs no pickled code. The key hashes
the bytes of every input file, every processing option and :data:`CACHE_FORMAT`, so a
changed mesh, label file, option or format gives a new entry. Entries are written to a
temporary file in the same folder and renamed into place (``os.replace``), so a killed run
never leaves a half-written entry under an entry's name; a corrupt entry (truncated, bit
flips, wrong key) fails :func:`load_entry` with :class:`CacheError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Data

from gaugemesh.atomic import atomic_torch_save

__all__ = ["CACHE_FORMAT", "CacheError", "file_digest", "cache_key", "entry_path", "save_entry", "load_entry",
           "remove_stale_temporaries"]

#: Bump when the content or layout of entries changes: every old entry then misses.
CACHE_FORMAT = 2

_TEMP_PREFIX = ".tmp-"


class CacheError(RuntimeError):
    """A cache entry that cannot be used (corrupt, truncated, or of another key)."""


def file_digest(path: os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def cache_key(files: list[str] | tuple[str, ...], options: dict[str, Any]) -> str:
    """Key of an entry: the content of its input ``files`` (not their paths) and ``options``."""
    payload = {"format": CACHE_FORMAT, "files": [file_digest(f) for f in files], "options": options}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def entry_path(cache_dir: os.PathLike, split: str, name: str, key: str) -> Path:
    """Where the entry of ``name`` with ``key`` lives: ``<cache_dir>/<split>/<name>-<key[:20]>.pt``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return Path(cache_dir) / split / f"{safe}-{key[:20]}.pt"


def _checksum(data: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for name in sorted(data):
        value = data[name]
        h.update(name.encode())
        if torch.is_tensor(value):
            h.update(f"{value.dtype}{tuple(value.shape)}".encode())
            h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def save_entry(path: os.PathLike, data: Data, key: str) -> None:
    """Write ``data`` atomically to ``path`` (temporary file in the same folder, then rename)."""
    content = {k: v for k, v in data.to_dict().items()}
    entry = {"format": CACHE_FORMAT, "key": key, "checksum": _checksum(content), "data": content}
    atomic_torch_save(entry, path, temp_prefix=f"{_TEMP_PREFIX}{os.getpid()}-")


def load_entry(path: os.PathLike, key: str | None = None) -> Data:
    """Load and verify an entry (format, key, checksum). Runs no pickled code.

    Raises:
        FileNotFoundError: no entry at ``path``.
        CacheError: the entry is corrupt or belongs to another key; recompute it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no cache entry at {path}")
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zips and bad pickles raise many types
        raise CacheError(f"{path.name}: unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT:
        raise CacheError(f"{path.name}: not an entry of cache format {CACHE_FORMAT}")
    if key is not None and entry.get("key") != key:
        raise CacheError(f"{path.name}: stored key does not match")
    content = entry.get("data")
    if not isinstance(content, dict) or entry.get("checksum") != _checksum(content):
        raise CacheError(f"{path.name}: checksum mismatch (corrupt)")
    return Data.from_dict(content)


def remove_stale_temporaries(cache_dir: os.PathLike, older_than_s: float = 3600.0) -> int:
    """Delete temporary files that killed runs left behind (only old ones: a concurrent
    shard may be writing the fresh ones). Returns how many were removed."""
    removed = 0
    now = time.time()
    for tmp in Path(cache_dir).glob(f"*/{_TEMP_PREFIX}*"):
        try:
            if now - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed

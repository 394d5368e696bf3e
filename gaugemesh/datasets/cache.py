"""The preprocessing cache: content-addressed, atomically written, loaded without pickles.

An entry is one processed mesh: a ``torch.save``\\ d dict of tensors, strings and numbers
(``Data.to_dict()``) with the format version, its key and a checksum of its contents. It is
loaded with ``torch.load(weights_only=True)``, which runs no pickled code. The key hashes
the bytes of every input file, every processing option and :data:`CACHE_FORMAT`, so a
changed mesh, label file, option or format gives a new entry. Entries are written to a
temporary file in the same folder and renamed into place (``os.replace``), so a killed run
never leaves a half-written entry under an entry's name; a corrupt entry (truncated, bit
flips, wrong key) fails :func:`load_entry` with :class:`CacheError`. A cache that cannot be
written (full disk, read-only, a file where a folder should be) raises :class:`CacheWriteError`:
that is no fault of a mesh, so it stops a run instead of counting as a skipped mesh.
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

__all__ = ["CACHE_FORMAT", "CacheError", "CacheWriteError", "file_digest", "cache_key", "entry_path", "save_entry",
           "load_entry", "prepare_cache", "remove_stale_temporaries"]

#: Bump when the content or layout of entries changes: every old entry then misses.
CACHE_FORMAT = 2

_TEMP_PREFIX = ".tmp-"


class CacheError(RuntimeError):
    """A cache entry that cannot be used (corrupt, truncated, or of another key)."""


class CacheWriteError(OSError):
    """The cache folder cannot be written (disk full, read-only, not a folder); the message
    names the path and the cause. Fatal for a run: every other entry would fail the same way."""


def _os_reason(exc: OSError, path: os.PathLike) -> str:
    """``"No space left on device"``, and the path the system named where it is not ``path``."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):  # strerror would say "File exists"
        reason = "a file is in the way of a folder"
    else:
        reason = exc.strerror or str(exc)
    return f"{reason} ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else reason


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
    """Write ``data`` atomically to ``path`` (temporary file in the same folder, then rename).

    Raises:
        CacheWriteError: the entry could not be written (disk full, read-only folder, ...).
    """
    content = {k: v for k, v in data.to_dict().items()}
    entry = {"format": CACHE_FORMAT, "key": key, "checksum": _checksum(content), "data": content}
    try:
        atomic_torch_save(entry, path, temp_prefix=f"{_TEMP_PREFIX}{os.getpid()}-")
    except OSError as exc:
        raise CacheWriteError(f"cannot write the cache entry {path}: {_os_reason(exc, path)}; free disk space or "
                              "choose a writable cache folder.") from exc


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


def prepare_cache(cache_dir: os.PathLike) -> Path:
    """Create the cache folder if needed and clear what killed runs left in it.

    Writes nothing else, so a complete cache on a read-only disk still serves its entries.

    Raises:
        CacheWriteError: the folder cannot be created (a parent is a file, no permission).
    """
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheWriteError(f"cannot create the cache folder {cache_dir}: {_os_reason(exc, cache_dir)}; "
                              "choose another cache folder.") from exc
    remove_stale_temporaries(cache_dir)
    return cache_dir


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
        except OSError:  # gone already, or a read-only cache: leftovers are harmless, skip them
            pass
    return removed

"""Download public datasets from their original locations and unpack them safely.

Sources (the URLs MeshCNN's ``scripts/*/get_data.sh`` and the RNA repository use):

- ``human_seg``: MeshCNN's human body segmentation archive (Dropbox).
- ``coseg``: MeshCNN's COSEG archive (aliens, chairs, vases; Dropbox).
- ``rna``: the RNA surface segmentation repository at a fixed commit (GitHub zip).

No sha256 of these archives is published; where :data:`SOURCES` has none, the computed one
is printed so it can be pinned (``--sha256``). Archives are unpacked into a temporary folder
beside the target, refusing members that would land outside it (absolute paths, ``..``,
links), and renamed into place, so an interrupted download leaves no half dataset.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["Source", "SOURCES", "DownloadError", "download", "safe_extract"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """A downloadable dataset: its URL, its sha256 (``None``: unknown) and what it is."""

    url: str
    sha256: str | None
    about: str


_RNA_COMMIT = "1667b9f178bee52949ea3bcc6d4f471decfb30cf"

SOURCES = {
    "human_seg": Source("https://www.dropbox.com/s/s3n05sw0zg27fz3/human_seg.tar.gz?dl=1", None,
                        "MeshCNN human body segmentation (Maron et al. 2017), per-edge labels"),
    "coseg": Source("https://www.dropbox.com/s/34vy4o5fthhz77d/coseg.tar.gz?dl=1", None,
                    "MeshCNN COSEG aliens/chairs/vases, per-edge labels"),
    "rna": Source(f"https://github.com/nmwsharp/RNA-Surface-Segmentation-Dataset/archive/{_RNA_COMMIT}.zip", None,
                  "RNA surface segmentation (Poulenard et al. 2019), per-vertex labels, MIT"),
}


class DownloadError(RuntimeError):
    """A download that failed, did not verify, or an archive that is unsafe to unpack."""


def _fetch(url: str, dest: Path) -> str:
    """Stream ``url`` to ``dest``; returns the sha256 of the bytes."""
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=total is None) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
    except OSError as exc:
        raise DownloadError(f"could not fetch {url}: {exc}") from exc
    return h.hexdigest()


def _inside(root: Path, name: str) -> bool:
    target = (root / name).resolve()
    return target == root or root in target.parents


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a zip or tar archive into ``dest``, refusing anything that escapes it.

    Raises:
        DownloadError: an absolute or ``..`` member path, a link, a device file, or an
            archive format that is neither zip nor tar.
    """
    dest = dest.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not _inside(dest, info.filename) or (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DownloadError(f"{archive.name}: unsafe member {info.filename!r}; not unpacking.")
            zf.extractall(dest)
        return
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as exc:
        raise DownloadError(f"{archive.name} is neither a zip nor a tar archive ({exc}).") from exc
    with tf:
        for member in tf.getmembers():
            if not _inside(dest, member.name) or not (member.isfile() or member.isdir()):
                raise DownloadError(f"{archive.name}: unsafe member {member.name!r}; not unpacking.")
        tf.extractall(dest, filter="data")


def _dataset_root(folder: Path) -> Path:
    """The folder holding the data: strip a single top-level directory (``name/`` or
    ``repo-<commit>/``) that archives usually wrap their content in."""
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def download(name: str, directory: os.PathLike, url: str | None = None, sha256: str | None = None) -> Path:
    """Download dataset ``name`` into ``<directory>/<name>`` and return that path.

    Args:
        name: A key of :data:`SOURCES`.
        directory: Parent folder (created).
        url: Another location of the same archive (a mirror, or ``file://`` for tests).
        sha256: Expected checksum; defaults to the known one, if any.

    Raises:
        DownloadError: unknown name, fetch failure, checksum mismatch, unsafe archive.
    """
    if name not in SOURCES:
        raise DownloadError(f"unknown dataset {name!r}; choose from {sorted(SOURCES)}.")
    source = SOURCES[name]
    directory = Path(directory)
    target = directory / name
    if target.exists() and any(target.iterdir()):
        log.warning("%s already exists; delete it to download again.", target)
        return target
    directory.mkdir(parents=True, exist_ok=True)
    expected = sha256 or source.sha256
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=directory) as work:
        archive = Path(work) / f"{name}.archive"
        digest = _fetch(url or source.url, archive)
        if expected is None:
            log.warning("no known sha256 for %s; computed %s (pin it with --sha256).", name, digest)
        elif digest != expected.lower():
            raise DownloadError(f"{name}: sha256 {digest} does not match the expected {expected}; "
                                "the archive changed or the download is corrupt.")
        unpacked = Path(work) / "unpacked"
        unpacked.mkdir()
        safe_extract(archive, unpacked)
        if target.exists():
            target.rmdir()  # empty, checked above
        shutil.move(str(_dataset_root(unpacked)), target)
    return target

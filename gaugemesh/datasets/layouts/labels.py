"""The label helpers every layout shares: label files, split files, votes, vertex maps.

Label and split files are read here (:func:`read_labels`, :func:`read_split_file`,
:func:`split_members`); labels of edges or faces become vertex labels by :func:`vote`; and
labels that refer to a file's vertices are carried to a repaired mesh by
:func:`file_to_mesh_index` (the inverse of ``Mesh.vertex_map``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gaugemesh.io import SUPPORTED_SUFFIXES
from gaugemesh.mesh import MeshError

__all__ = ["SPLITS", "read_split_file", "split_members", "read_labels", "vote", "file_to_mesh_index"]

#: The splits a split file can name (``<root>/train.txt``, ...).
SPLITS = ("train", "val", "test")


def read_split_file(path: os.PathLike) -> list[str] | None:
    """Names listed one per line (blank lines and ``#`` comments skipped); ``None`` if absent.

    Names are taken without any mesh suffix: ``1NKW_9.off`` and ``1NKW_9`` both give ``1NKW_9``.
    """
    path = Path(path)
    if not path.is_file():
        return None
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            stem, suffix = os.path.splitext(line)
            names.append(stem if suffix.lower() in SUPPORTED_SUFFIXES else line)
    return names


def split_members(root: Path, split: str, available: list[str]) -> list[str]:
    """Names in ``split``: its split file, else everything (no split files at all), else none."""
    listed = read_split_file(root / f"{split}.txt")
    if listed is not None:
        return listed
    if split == "all":
        return available
    if split == "train" and all(read_split_file(root / f"{s}.txt") is None for s in SPLITS):
        return available
    return []


def read_labels(path: os.PathLike, dtype=np.int64) -> np.ndarray:
    """A label file: ``.npy`` (no pickles) or text, one row per element.

    Shapes:
        returns ``[N]`` for one column, ``[N, C]`` for several.
    """
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"no label file at {path}.")
    try:
        if path.suffix == ".npy":
            labels = np.load(path, allow_pickle=False)
        else:
            labels = np.loadtxt(path, ndmin=1)
    except ValueError as exc:
        raise MeshError(f"{path.name}: not a readable label file ({exc}).") from exc
    if np.issubdtype(np.dtype(dtype), np.integer):
        if not np.all(labels == np.round(labels)):
            raise MeshError(f"{path.name}: labels must be integers.")
    return labels.astype(dtype)


def vote(elements: np.ndarray, labels: np.ndarray, num_vertices: int, num_classes: int) -> np.ndarray:
    """Per-vertex label: the most frequent label among the elements (edges, faces) it is in.

    Ties go to the smaller class; labels ``< 0`` do not vote; vertices without a vote get -1.

    Shapes:
        elements: ``[N, k]`` vertex indices; labels: ``[N]``; returns ``[num_vertices]``.
    """
    valid = labels >= 0
    verts = elements[valid].ravel()
    cls = np.repeat(labels[valid], elements.shape[1])
    counts = np.zeros((num_vertices, num_classes), dtype=np.int64)
    np.add.at(counts, (verts, cls), 1)
    out = counts.argmax(axis=1)
    out[counts.sum(axis=1) == 0] = -1
    return out


def file_to_mesh_index(vertex_map: np.ndarray, num_file_vertices: int) -> np.ndarray:
    """For each file vertex, its first copy in the mesh (``-1`` if repair dropped it).

    Shapes:
        vertex_map: ``[V]``; returns ``[num_file_vertices]``.
    """
    out = np.full(num_file_vertices, -1, dtype=np.int64)
    out[vertex_map[::-1]] = np.arange(len(vertex_map) - 1, -1, -1)
    return out

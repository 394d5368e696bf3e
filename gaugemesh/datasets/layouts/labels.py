"""What every dataset layout shares: items, split files, label files, label votes.

A *layout* knows where a dataset keeps its meshes and labels. It lists :class:`MeshItem`\\ s
(``items(split)``) and turns one into a validated mesh plus label arrays (``read(item,
repair)``); everything after that (frame field, features, cache) is layout independent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gaugemesh.io import SUPPORTED_SUFFIXES, read_mesh_arrays
from gaugemesh.mesh import Mesh, MeshError, validate_mesh

__all__ = ["MeshItem", "Layout", "read_split_file", "read_labels", "vote", "file_to_mesh_index", "load_raw"]


@dataclass(frozen=True)
class MeshItem:
    """One mesh of a dataset and the files its sample is made from.

    Attributes:
        name: Unique name within the dataset (the file stem).
        split: ``"train"``, ``"test"``, ...
        mesh: Path of the mesh file.
        labels: Paths of its label files (part of the cache key).
    """

    name: str
    split: str
    mesh: str
    labels: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return (self.mesh,) + self.labels


class Layout(Protocol):
    """The interface of a dataset layout (see :mod:`gaugemesh.datasets.meshcnn` for one)."""

    root: Path
    default_repair: bool

    def items(self, split: str) -> list[MeshItem]: ...

    def read(self, item: MeshItem, repair: bool | None = None) -> tuple[Mesh, dict[str, Any]]: ...

    def key(self) -> dict[str, Any]: ...


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


def load_raw(path: os.PathLike, repair: bool) -> tuple[Mesh, np.ndarray, np.ndarray]:
    """Read a mesh file; return the validated mesh and the file's raw ``(pos, faces)``.

    Labels refer to the file's vertices, faces and edges, so readers need both.
    """
    pos, faces = read_mesh_arrays(path)
    try:
        mesh = validate_mesh(pos, faces, repair=repair)
    except MeshError as exc:
        raise MeshError(f"{Path(path).name}: {exc}") from None
    return mesh, pos, faces

"""MeshCNN's segmentation layout (human body segmentation, COSEG): labels per mesh edge.

::

    root/train/<name>.obj   root/test/<name>.obj
    root/seg/<name>.eseg    one class id per edge (hard label)
    root/sseg/<name>.seseg  one row of C soft labels per edge (optional)
    root/classes.txt        the C class ids, one per line (e.g. 1..8); optional

Without ``classes.txt`` (as MeshCNN's own COSEG downloads ship) the class ids are those that
occur in ``seg/*.eseg``, in ascending order.

Edges are numbered as MeshCNN does: faces in file order, edges ``(v0, v1), (v1, v2),
(v2, v0)`` of each, an undirected edge numbered when first seen (:func:`meshcnn_edges`).
Training labels per vertex are a vote of the incident edges; evaluation keeps the edges
(``seg_edge_index``, ``edge_y``, ``edge_soft``) and the faces (``seg_face_index``, ``face_y``,
the majority of a face's three edge labels) so :mod:`gaugemesh.training.metrics` scores where the
labels live.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gaugemesh.datasets.layouts.labels import file_to_mesh_index, read_labels, vote
from gaugemesh.datasets.layouts.protocol import MeshItem
from gaugemesh.io import load_mesh_with_arrays
from gaugemesh.geometry.topology import unique_rows_in_order
from gaugemesh.mesh import Mesh, MeshError

__all__ = ["MeshCNNLayout", "meshcnn_edges", "face_majority"]

log = logging.getLogger(__name__)


def meshcnn_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MeshCNN's edge enumeration of a face list.

    Returns:
        ``(edges, face_edges)``: each undirected edge as its sorted vertex pair, numbered in
        order of first appearance, and for each face the ids of its edges
        ``(v0, v1), (v1, v2), (v2, v0)``.

    Shapes:
        faces: ``[F, 3]``; edges: ``[E, 2]``; face_edges: ``[F, 3]``.
    """
    pairs = np.sort(np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2), axis=1)
    edges, index = unique_rows_in_order(pairs)  # ranked by the halfedge that first shows them
    return edges, index.reshape(-1, 3)


def face_majority(face_edges: np.ndarray, edge_labels: np.ndarray) -> np.ndarray:
    """Face labels: the majority of the three edge labels; three different ones give the
    smallest. Shapes: face_edges ``[F, 3]``, edge_labels ``[E]``; returns ``[F]``."""
    low, mid, high = np.sort(edge_labels[face_edges], axis=1).T
    # Of three sorted labels the middle one is the majority whenever there is one.
    return np.where((low == mid) | (mid == high), mid, low)


@dataclass(frozen=True)
class MeshCNNLayout:
    """Reader of MeshCNN's segmentation layout (see the module docstring).

    Attributes:
        root: The dataset folder (holding ``train/``, ``seg/``, ``classes.txt``).
        default_repair: On (19% of the human meshes have a non-manifold vertex); the file's
            edges and faces are mapped to the repaired mesh's vertices through ``face_map``.
    """

    root: Path
    default_repair: bool = True

    @staticmethod
    def matches(root: Path) -> bool:
        return (root / "seg").is_dir() and any((root / s).is_dir() for s in ("train", "test"))

    def class_ids(self) -> np.ndarray:
        """The class ids: ``classes.txt`` where it exists, else every id the edge labels use."""
        path = self.root / "classes.txt"
        if path.is_file():
            return read_labels(path).ravel()
        return _ids_in_labels(self.root / "seg")

    @property
    def num_classes(self) -> int:
        return len(self.class_ids())

    def key(self) -> dict[str, Any]:
        return {"layout": "meshcnn", "classes": self.class_ids().tolist()}

    def items(self, split: str) -> list[MeshItem]:
        """The meshes of ``split`` (``train/`` or ``test/``); a missing label file is reported
        when the item is read."""
        folder = self.root / split
        if not folder.is_dir():
            return []
        out = []
        for mesh in sorted(folder.glob("*.obj")):
            labels = [str(self.root / "seg" / f"{mesh.stem}.eseg")]
            soft = self.root / "sseg" / f"{mesh.stem}.seseg"
            if soft.is_file():
                labels.append(str(soft))
            out.append(MeshItem(mesh.stem, split, str(mesh), tuple(labels)))
        return out

    def read(self, item: MeshItem, repair: bool | None = None,
             structure_group: str = "SO2") -> tuple[Mesh, dict[str, Any]]:
        """Validated mesh and its labels, per vertex (vote) and per edge and face (for eval)."""
        repair = self.default_repair if repair is None else repair
        mesh, raw_pos, raw_faces = load_mesh_with_arrays(item.mesh, repair=repair, structure_group=structure_group)
        edges, face_edges = meshcnn_edges(raw_faces)
        ids = self.class_ids()
        hard = read_labels(item.labels[0])
        if hard.shape != (len(edges),):
            raise MeshError(f"{item.name}: {Path(item.labels[0]).name} has {hard.shape[0]} labels but the mesh "
                            f"has {len(edges)} edges; the labels belong to another mesh or edge order.")
        unknown = np.setdiff1d(hard, ids)
        if unknown.size:
            raise MeshError(f"{item.name}: edge labels {unknown.tolist()} are not among the class ids {ids.tolist()} "
                            "(classes.txt, or the ids the label files use).")
        edge_y = np.argsort(ids)[np.searchsorted(np.sort(ids), hard)]  # class index = line in classes.txt
        face_y = face_majority(face_edges, edge_y)
        out = _eval_labels(mesh, len(raw_pos), raw_faces, face_edges, edge_y, face_y, len(ids))
        if len(item.labels) > 1:
            soft = read_labels(item.labels[1], dtype=np.float64)
            if soft.shape != (len(edges), len(ids)):
                raise MeshError(f"{item.name}: soft labels have shape {soft.shape}, expected {(len(edges), len(ids))}.")
            out["edge_soft"] = soft
        return mesh, out


@lru_cache(maxsize=8)
def _ids_in_labels(folder: Path) -> np.ndarray:
    """Every class id that occurs in ``folder/*.eseg``, ascending (read once per folder)."""
    files = sorted(folder.glob("*.eseg"))
    if not files:
        raise MeshError(f"{folder.parent} has neither classes.txt nor edge labels in {folder}: "
                        "add seg/<name>.eseg files (one class id per edge), or list the ids in classes.txt.")
    ids = np.unique(np.concatenate([read_labels(f).ravel() for f in files]))
    log.info("%s has no classes.txt: %d classes from the edge labels: %s", folder.parent, len(ids), ids.tolist())
    return ids


def _corner_vertices(mesh: Mesh, raw_faces: np.ndarray, num_file: int) -> np.ndarray:
    """The mesh vertex at every corner of every file face, ``[F_file, 3]``.

    Repair may split a file vertex into several mesh vertices; the right copy at a corner is
    the one in the mesh triangle that came from that file face (``face_map``). Corners of
    faces repair dropped fall back to the first copy, or -1 where the vertex is gone.
    """
    out = file_to_mesh_index(mesh.vertex_map, num_file)[raw_faces]
    mesh_face = np.full(len(raw_faces), -1, dtype=np.int64)
    mesh_face[mesh.face_map[::-1]] = np.arange(mesh.num_faces - 1, -1, -1)
    kept = np.flatnonzero(mesh_face >= 0)
    triangles = mesh.faces[mesh_face[kept]]
    sources = mesh.vertex_map[triangles]
    for k in range(3):
        match = sources == raw_faces[kept, k][:, None]
        found = match.any(axis=1)
        out[kept[found], k] = triangles[found, match[found].argmax(axis=1)]
    return out


def _eval_labels(mesh: Mesh, num_file: int, raw_faces, face_edges, edge_y, face_y, num_classes) -> dict[str, Any]:
    """Edges and faces of the file in mesh vertex ids, and vertex labels by a vote of edges."""
    corners = _corner_vertices(mesh, raw_faces, num_file).ravel()
    _, first = np.unique(face_edges.ravel(), return_index=True)  # first halfedge of every edge
    seg_edges = np.stack([corners[first], corners[3 * (first // 3) + (first % 3 + 1) % 3]], axis=1)
    seg_faces = corners.reshape(-1, 3)
    # An edge or face with a vertex repair dropped cannot be scored: ignore it, point it at 0
    # (a valid index keeps PyG's batching offsets right).
    edge_y = np.where((seg_edges < 0).any(axis=1), -1, edge_y)
    return {
        "y": vote(np.maximum(seg_edges, 0), edge_y, mesh.num_vertices, num_classes),
        "seg_edge_index": np.maximum(seg_edges, 0).T,
        "edge_y": edge_y,
        "seg_face_index": np.maximum(seg_faces, 0).T,
        "face_y": np.where((seg_faces < 0).any(axis=1), -1, face_y),
    }

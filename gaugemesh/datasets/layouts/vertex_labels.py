"""The ``vertex_labels`` layout: one label file per mesh, one label per file vertex, as the RNA
surface segmentation dataset ships (``"rna"`` is this layout's former name, still accepted).

::

    root/off/<id>.off      meshes (often messy: several components, non-manifold edges)
    root/labels/<id>.txt   one integer per line, one line per file vertex, -1..258
    root/train.txt         ids of the training meshes (``<id>.off`` or ``<id>``)
    root/test.txt          ids of the test meshes

Missing split files are not an error: without any split file every mesh is in ``train``;
a split whose file is missing is empty. Meshes are repaired by default
(``load_mesh(repair=True)``) and labels follow ``vertex_map``.

Labels: upstream suggests ``label + 1``, 260 classes ``0..259`` with class 0 the unlabelled
vertices (``unlabeled="class"``, the default, as DiffusionNet does); ``unlabeled="ignore"``
keeps 259 classes and marks unlabelled vertices -1, which every loss and metric skips.

Scoring: repair drops vertices that belong to no usable face and duplicates vertices it cuts
apart (about 3% of RNA's file vertices are dropped), so the repaired mesh's vertices are not the
file's. The benchmark's protocol scores every vertex of the file once;
:meth:`VertexLabelLayout.file_vertex_targets` gives each file vertex the prediction of its copy
in the mesh, or of the nearest mesh vertex where repair dropped it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from gaugemesh.datasets.layouts.labels import file_to_mesh_index, read_labels, split_members
from gaugemesh.datasets.layouts.protocol import MeshItem
from gaugemesh.io import load_mesh_with_arrays, read_mesh_arrays
from gaugemesh.mesh import Mesh, MeshError

__all__ = ["VertexLabelLayout", "UNLABELED_MODES"]

UNLABELED_MODES = ("class", "ignore")


@dataclass(frozen=True)
class VertexLabelLayout:
    """Reader of the ``vertex_labels`` layout (see the module docstring).

    Attributes:
        root: The dataset folder (holding ``off/`` and ``labels/``).
        unlabeled: ``"class"`` (label + 1, upstream's suggestion) or ``"ignore"`` (keep -1).
        num_labels: Number of upstream labels ``0..num_labels-1`` (259 for RNA).
        default_repair: On: the meshes are messy.
    """

    root: Path
    unlabeled: str = "class"
    num_labels: int = 259
    default_repair: bool = True

    def __post_init__(self):
        if self.unlabeled not in UNLABELED_MODES:
            raise ValueError(f"unlabeled must be one of {UNLABELED_MODES}, got {self.unlabeled!r}.")

    @staticmethod
    def matches(root: Path) -> bool:
        return (root / "off").is_dir() and (root / "labels").is_dir()

    @property
    def num_classes(self) -> int:
        return self.num_labels + (1 if self.unlabeled == "class" else 0)

    def key(self) -> dict[str, Any]:
        return {"layout": "vertex_labels", "unlabeled": self.unlabeled, "num_labels": self.num_labels}

    def items(self, split: str) -> list[MeshItem]:
        """Items of ``split``; names listed without a mesh file still appear (and fail on read)."""
        available = sorted(p.stem for p in (self.root / "off").glob("*.off"))
        return [
            MeshItem(name, split, str(self.root / "off" / f"{name}.off"), (str(self.root / "labels" / f"{name}.txt"),))
            for name in split_members(self.root, split, available)
        ]

    def read(self, item: MeshItem, repair: bool | None = None,
             structure_group: str = "SO2") -> tuple[Mesh, dict[str, Any]]:
        repair = self.default_repair if repair is None else repair
        mesh, raw_pos, _ = load_mesh_with_arrays(item.mesh, repair=repair, structure_group=structure_group)
        return mesh, {"y": self._file_labels(item, len(raw_pos))[mesh.vertex_map]}

    def file_vertex_targets(self, item: MeshItem, vertex_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the benchmark scores: every vertex of the mesh file once, with the mesh vertex
        whose prediction it takes (its first copy, or the nearest mesh vertex in space where
        repair dropped it).

        Args:
            item: The mesh item.
            vertex_map: The repaired mesh's ``vertex_map`` (the sample's).

        Shapes:
            vertex_map: ``[V]``; returns ``index [V_file]`` into the mesh's vertices and
            ``labels [V_file]`` (in this layout's classes).
        """
        raw_pos, _ = read_mesh_arrays(item.mesh)
        labels = self._file_labels(item, len(raw_pos))
        index = file_to_mesh_index(vertex_map, len(raw_pos))
        dropped = index < 0
        if dropped.any():
            index[dropped] = cKDTree(raw_pos[vertex_map]).query(raw_pos[dropped])[1]
        return index, labels

    def _file_labels(self, item: MeshItem, num_file_vertices: int) -> np.ndarray:
        """The label file checked against the mesh file, in this layout's classes."""
        labels = read_labels(item.labels[0])
        if labels.shape != (num_file_vertices,):
            raise MeshError(f"{item.name}: {labels.shape[0]} labels for {num_file_vertices} vertices; "
                            "one per line expected.")
        if labels.min() < -1 or labels.max() >= self.num_labels:
            raise MeshError(f"{item.name}: labels outside [-1, {self.num_labels - 1}].")
        return labels + 1 if self.unlabeled == "class" else labels

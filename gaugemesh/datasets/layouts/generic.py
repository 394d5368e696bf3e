"""A generic layout: mesh files with label files beside them.

::

    root/<name>.obj|.off|.ply|.stl   meshes
    root/<name>.txt | <name>.npy     labels: one integer per file vertex or per file face
    root/train.txt, val.txt, test.txt   names per split (optional; as in the vertex_labels layout)
    root/classes.txt                 class names, one per line (optional; else max label + 1)

Labels per vertex or per face are told apart by their count (``label_kind="auto"``), or
fixed with ``label_kind``. Label -1 means unlabelled. Face labels give vertex labels by a
vote of the incident faces and are kept per triangle (``seg_face_index``, ``face_y``) for
:func:`gaugemesh.metrics.face_acc`. ``train``, ``val``, ``test`` and ``classes`` are
reserved names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaugemesh.datasets.layouts.labels import SPLITS, read_labels, split_members, vote
from gaugemesh.datasets.layouts.protocol import MeshItem
from gaugemesh.io import SUPPORTED_SUFFIXES, load_mesh_with_arrays
from gaugemesh.mesh import Mesh, MeshError

__all__ = ["GenericLayout", "LABEL_KINDS"]

LABEL_KINDS = ("auto", "vertex", "face")
_RESERVED = set(SPLITS) | {"classes", "all"}


@dataclass(frozen=True)
class GenericLayout:
    """Reader of the generic layout (see the module docstring).

    Attributes:
        root: The folder of meshes and label files.
        label_kind: ``"auto"``, ``"vertex"`` or ``"face"``.
        default_repair: Off; pass ``repair=True`` for messy meshes.
    """

    root: Path
    label_kind: str = "auto"
    default_repair: bool = False

    def __post_init__(self):
        if self.label_kind not in LABEL_KINDS:
            raise ValueError(f"label_kind must be one of {LABEL_KINDS}, got {self.label_kind!r}.")

    @staticmethod
    def matches(root: Path) -> bool:
        return any(p.suffix.lower() in SUPPORTED_SUFFIXES for p in root.iterdir())

    def class_names(self) -> list[str] | None:
        path = self.root / "classes.txt"
        return [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else None

    @property
    def num_classes(self) -> int | None:
        names = self.class_names()
        return None if names is None else len(names)

    def key(self) -> dict[str, Any]:
        return {"layout": "generic", "label_kind": self.label_kind, "classes": self.class_names()}

    def _meshes(self) -> dict[str, Path]:
        meshes = {}
        for p in sorted(self.root.iterdir()):
            if p.suffix.lower() in SUPPORTED_SUFFIXES and p.stem not in _RESERVED:
                meshes.setdefault(p.stem, p)
        return meshes

    def items(self, split: str) -> list[MeshItem]:
        meshes = self._meshes()
        out = []
        for name in split_members(self.root, split, list(meshes)):
            mesh = meshes.get(name, self.root / f"{name}.obj")
            labels = [self.root / f"{name}{s}" for s in (".npy", ".txt")]
            found = [str(p) for p in labels if p.is_file()][:1] or [str(labels[-1])]
            out.append(MeshItem(name, split, str(mesh), tuple(found)))
        return out

    def _kind(self, name: str, count: int, num_vertices: int, num_faces: int) -> str:
        if self.label_kind != "auto":
            expected = num_vertices if self.label_kind == "vertex" else num_faces
            if count != expected:
                raise MeshError(f"{name}: {count} labels, but {expected} {self.label_kind}s in the file.")
            return self.label_kind
        if num_vertices == num_faces == count:
            raise MeshError(f"{name}: as many vertices as faces ({count}); pass label_kind='vertex' or 'face'.")
        if count in (num_vertices, num_faces):
            return "vertex" if count == num_vertices else "face"
        raise MeshError(f"{name}: {count} labels match neither its {num_vertices} vertices nor its {num_faces} faces.")

    def read(self, item: MeshItem, repair: bool | None = None) -> tuple[Mesh, dict[str, Any]]:
        repair = self.default_repair if repair is None else repair
        mesh, raw_pos, raw_faces = load_mesh_with_arrays(item.mesh, repair=repair)
        labels = read_labels(item.labels[0])
        if labels.ndim != 1 or labels.min() < -1:
            raise MeshError(f"{item.name}: labels must be one integer >= -1 per line.")
        if self.num_classes is not None and labels.max() >= self.num_classes:
            raise MeshError(f"{item.name}: label {labels.max()} but classes.txt lists {self.num_classes} classes.")
        kind = self._kind(item.name, len(labels), len(raw_pos), len(raw_faces))
        if kind == "vertex":
            return mesh, {"y": labels[mesh.vertex_map]}
        # Triangulation or repair changes the faces: labels follow face_map to the triangles.
        face_y = labels[mesh.face_map]
        num_classes = max(int(labels.max()) + 1, 1)
        return mesh, {
            "y": vote(mesh.faces, face_y, mesh.num_vertices, num_classes),
            "seg_face_index": mesh.faces.T,
            "face_y": face_y,
        }

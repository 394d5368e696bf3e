"""A generic layout: mesh files with labels beside them or inside them.

::

    root/<name>.obj|.off|.ply|.stl     meshes
    root/labels/<name>.txt|.npy        labels: one integer per file vertex or per file face
      or root/<name>.txt|.npy          (-1: unlabelled)
    root/train.txt, val.txt, test.txt  names per split (optional; as in the vertex_labels layout)
    root/classes.txt                   class names, one per line (optional; else max label + 1)
    root/dataset.toml                  where the labels are (optional; default: label files)
    root/legend.txt                    colour -> class name, for labels painted as colours

``dataset.toml`` holds ``labels = SOURCE`` (one of
:data:`~gaugemesh.datasets.layouts.mesh_file_labels.LABEL_SOURCES`: ``"files"``,
``"ply:NAME"``, ``"colors"``, ``"obj-groups"``, ``"obj-materials"``) and ``label_kind``
(``"auto"``, ``"vertex"`` or ``"face"``). It lives with the data so that ``preprocess``,
``train`` and ``eval`` read the labels alike (and find each other's cache) without an option
of their own; a ``GenericLayout(labels=..., label_kind=...)`` argument overrides it.

Labels per vertex or per face are told apart by their count (``label_kind="auto"``), or
fixed with ``label_kind``; labels carried in a mesh file say which they are. Face labels give
vertex labels by a vote of the incident faces and are kept per triangle (``seg_face_index``,
``face_y``) so that evaluation scores faces. ``train``, ``val``, ``test``, ``classes``,
``legend``, ``dataset`` and ``all`` are reserved names.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaugemesh.datasets.layouts.labels import SPLITS, read_labels, split_members, vote
from gaugemesh.datasets.layouts.mesh_file_labels import check_source, labels_in_file, legend_classes, read_legend
from gaugemesh.datasets.layouts.protocol import MeshItem
from gaugemesh.io import SUPPORTED_SUFFIXES, load_mesh_with_arrays
from gaugemesh.mesh import Mesh, MeshError

__all__ = ["GenericLayout", "LABEL_KINDS"]

LABEL_KINDS = ("auto", "vertex", "face")
_RESERVED = set(SPLITS) | {"classes", "all", "legend", "dataset"}
_SETTINGS = ("labels", "label_kind")


def _settings(root: Path) -> dict[str, str]:
    """``root/dataset.toml``'s settings (none where it is absent); ValueError names a bad one."""
    path = root / "dataset.toml"
    if not path.is_file():
        return {}
    try:
        settings = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc}).") from None
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown or not all(isinstance(v, str) for v in settings.values()):
        raise ValueError(f"{path}: expected only the text keys {', '.join(_SETTINGS)}, got {settings}.")
    return settings


@dataclass(frozen=True)
class GenericLayout:
    """Reader of the generic layout (see the module docstring).

    Attributes:
        root: The folder of meshes and label files.
        label_kind: ``"auto"``, ``"vertex"`` or ``"face"`` (None: ``dataset.toml``'s, else auto).
        default_repair: Off; pass ``repair=True`` for messy meshes.
        labels: The label source (None: ``dataset.toml``'s, else ``"files"``).
    """

    root: Path
    label_kind: str | None = None
    default_repair: bool = False
    labels: str | None = None

    def __post_init__(self):
        settings = _settings(Path(self.root))
        object.__setattr__(self, "root", Path(self.root))
        object.__setattr__(self, "label_kind", self.label_kind or settings.get("label_kind", "auto"))
        object.__setattr__(self, "labels", check_source(self.labels or settings.get("labels", "files")))
        if self.label_kind not in LABEL_KINDS:
            raise ValueError(f"label_kind must be one of {LABEL_KINDS}, got {self.label_kind!r}.")

    @staticmethod
    def matches(root: Path) -> bool:
        return any(p.suffix.lower() in SUPPORTED_SUFFIXES for p in root.iterdir())

    def legend(self) -> list | None:
        """The colour legend (``legend.txt``) where the labels are colours, else None."""
        return read_legend(self.root / "legend.txt") if self.labels == "colors" else None

    def class_names(self) -> list[str] | None:
        """``classes.txt``, else the legend's names, else None (then max label + 1 classes)."""
        path = self.root / "classes.txt"
        if path.is_file():
            return [line.strip() for line in path.read_text().splitlines() if line.strip()]
        legend = self.legend()
        return legend_classes(legend) if legend is not None else None

    @property
    def num_classes(self) -> int | None:
        names = self.class_names()
        return None if names is None else len(names)

    def key(self) -> dict[str, Any]:
        key = {"layout": "generic", "label_kind": self.label_kind, "classes": self.class_names()}
        if self.labels != "files":  # absent for label files, so that their caches stay valid
            key.update(labels=self.labels, legend=self.legend())
        return key

    def _meshes(self) -> dict[str, Path]:
        meshes = {}
        for p in sorted(self.root.iterdir()):
            if p.suffix.lower() in SUPPORTED_SUFFIXES and p.stem not in _RESERVED:
                meshes.setdefault(p.stem, p)
        return meshes

    def _label_file(self, name: str) -> str:
        candidates = [folder / f"{name}{s}" for folder in (self.root / "labels", self.root) for s in (".npy", ".txt")]
        return str(next((p for p in candidates if p.is_file()), candidates[-1]))

    def items(self, split: str) -> list[MeshItem]:
        meshes = self._meshes()
        out = []
        for name in split_members(self.root, split, list(meshes)):
            mesh = meshes.get(name, self.root / f"{name}.obj")
            labels = (self._label_file(name),) if self.labels == "files" else ()
            out.append(MeshItem(name, split, str(mesh), labels))
        return out

    def _kind(self, name: str, count: int, num_vertices: int, num_faces: int) -> str:
        if self.label_kind != "auto":
            expected = num_vertices if self.label_kind == "vertex" else num_faces
            if count != expected:
                raise MeshError(f"{name}: {count} labels, but {expected} {self.label_kind}s in the file.")
            return self.label_kind
        if num_vertices == num_faces == count:
            raise MeshError(f"{name}: as many vertices as faces ({count}); set label_kind = \"vertex\" or \"face\" "
                            "in dataset.toml.")
        if count in (num_vertices, num_faces):
            return "vertex" if count == num_vertices else "face"
        raise MeshError(f"{name}: {count} labels match neither its {num_vertices} vertices nor its {num_faces} faces.")

    def _labels(self, item: MeshItem, num_vertices: int, num_faces: int) -> tuple[np.ndarray, str]:
        """The item's labels per file vertex or per file face, and which."""
        if self.labels != "files":
            return labels_in_file(item.mesh, self.labels, self.class_names(), self.legend())
        labels = read_labels(item.labels[0])
        if labels.ndim != 1 or labels.size == 0:
            raise MeshError(f"{item.name}: {Path(item.labels[0]).name} must hold one integer >= -1 per line.")
        return labels, self._kind(item.name, len(labels), num_vertices, num_faces)

    def read(self, item: MeshItem, repair: bool | None = None,
             structure_group: str = "SO2") -> tuple[Mesh, dict[str, Any]]:
        repair = self.default_repair if repair is None else repair
        mesh, raw_pos, raw_faces = load_mesh_with_arrays(item.mesh, repair=repair, structure_group=structure_group)
        labels, kind = self._labels(item, len(raw_pos), len(raw_faces))
        if labels.min() < -1:
            raise MeshError(f"{item.name}: labels must be integers >= -1 (-1: unlabelled).")
        if self.num_classes is not None and labels.max() >= self.num_classes:
            raise MeshError(f"{item.name}: label {labels.max()} but the dataset has {self.num_classes} classes "
                            "(classes.txt, or legend.txt's names); add the missing classes.")
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

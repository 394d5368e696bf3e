"""Labels carried in the mesh file itself: a PLY property, colours through a legend, OBJ groups
or materials.

A *label source* names where the generic layout finds a mesh's labels:

- ``"files"``: a label file per mesh (``labels/<name>.txt|.npy`` or ``<name>.txt|.npy``);
- ``"ply:NAME"``: the integer PLY property ``NAME`` of the vertices or of the faces;
- ``"colors"``: vertex colours (else face colours), each mapped to a class by ``legend.txt``;
- ``"obj-groups"`` / ``"obj-materials"``: the ``g`` / ``usemtl`` name of each OBJ face,
  mapped to a class by its line in ``classes.txt``.

``legend.txt`` has one colour per line, ``#rrggbb NAME`` or ``R G B NAME`` (``0..255``);
``NAME`` ``-`` marks a colour as unlabelled (-1). A colour within :data:`COLOR_TOLERANCE` of a
legend colour in every channel takes its class (exporters round colours differently).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gaugemesh.mesh import MeshError
from gaugemesh.mesh_attributes import COLOR_CHANNELS, read_attributes

__all__ = ["LABEL_SOURCES", "COLOR_TOLERANCE", "check_source", "read_legend", "legend_classes", "labels_in_file"]

#: The label sources; ``ply:`` takes a property name.
LABEL_SOURCES = ("files", "ply:NAME", "colors", "obj-groups", "obj-materials")
#: Largest difference per channel (0..255) between a painted colour and its legend colour.
COLOR_TOLERANCE = 8
_UNLABELLED = "-"


def check_source(source: str) -> str:
    """``source`` if it is one of :data:`LABEL_SOURCES` (ValueError otherwise)."""
    if source in ("files", "colors", "obj-groups", "obj-materials") or (source.startswith("ply:") and source[4:]):
        return source
    raise ValueError(f"unknown label source {source!r}; use one of {', '.join(LABEL_SOURCES)}.")


def read_legend(path: os.PathLike) -> list[tuple[tuple[int, int, int], str]]:
    """``[(rgb, name), ...]`` of a legend file, in file order (see the module docstring).

    Raises:
        MeshError: no legend, or a line that is not a colour and a name; the message names
            the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"label source 'colors' needs {path}: one line per colour, '#rrggbb NAME' or 'R G B NAME'.")
    legend = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        tokens = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else line.split()
        if not tokens:
            continue
        try:
            if tokens[0].startswith("#"):
                rgb, name = tuple(int(tokens[0][i : i + 2], 16) for i in (1, 3, 5)), tokens[1:]
                if len(tokens[0]) != 7:
                    raise ValueError
            else:
                rgb, name = tuple(int(t) for t in tokens[:3]), tokens[3:]
            if not name or not all(0 <= c <= 255 for c in rgb):
                raise ValueError
        except (ValueError, IndexError):
            raise MeshError(f"{path.name}, line {number}: expected '#rrggbb NAME' or 'R G B NAME' (0..255), "
                            f"got {line.strip()!r}.") from None
        legend.append((rgb, " ".join(name)))
    if not legend:
        raise MeshError(f"{path.name} lists no colours; add lines '#rrggbb NAME'.")
    return legend


def legend_classes(legend: list[tuple[tuple[int, int, int], str]]) -> list[str]:
    """The class names of a legend, in order of first appearance (``-`` is no class)."""
    return list(dict.fromkeys(name for _, name in legend if name != _UNLABELLED))


def _colors_to_classes(colors: np.ndarray, legend, names: list[str], what: str, mesh: str) -> np.ndarray:
    unknown = [n for n in legend_classes(legend) if n not in names]
    if unknown:
        raise MeshError(f"legend.txt names {unknown}, which classes.txt does not list; add them to classes.txt.")
    table = np.array([rgb for rgb, _ in legend], dtype=np.float64)
    classes = np.array([names.index(n) if n != _UNLABELLED else -1 for _, n in legend])
    distance = np.abs(colors[:, None, :] - table[None]).max(axis=2)  # [N, legend]
    nearest = distance.argmin(axis=1)
    far = np.flatnonzero(~(distance[np.arange(len(colors)), nearest] <= COLOR_TOLERANCE))
    if far.size:
        rgb = colors[far[0]]
        shown = "no colour" if np.isnan(rgb).any() else f"colour {tuple(int(c) for c in rgb)}"
        raise MeshError(f"{mesh}: {what} {far[0]} has {shown}, which is no colour of legend.txt "
                        f"({far.size} {what}s like it); add it to legend.txt (name '-' for unlabelled) or repaint.")
    return classes[nearest]


def _names_to_classes(names: np.ndarray, class_names: list[str] | None, what: str, mesh: str) -> np.ndarray:
    found = sorted({n for n in names if n is not None})
    if class_names is None:
        raise MeshError(f"{mesh}: label source '{what}' needs classes.txt listing the names as classes, one per "
                        f"line (this mesh has {found}).")
    unknown = [n for n in found if n not in class_names]
    if unknown:
        raise MeshError(f"{mesh}: {what} {unknown} are not in classes.txt ({class_names}); add them or rename them.")
    index = {n: i for i, n in enumerate(class_names)}
    return np.array([index.get(n, -1) if n is not None else -1 for n in names], dtype=np.int64)


def labels_in_file(path: os.PathLike, source: str, class_names: list[str] | None,
                   legend: list | None = None) -> tuple[np.ndarray, str]:
    """Labels a mesh file carries, and whether they are per ``"vertex"`` or per ``"face"``.

    Shapes:
        returns ``[V_file]`` or ``[F_file]`` (triangles, as :func:`~gaugemesh.io.read_mesh_arrays`).

    Raises:
        MeshError: the file does not carry what ``source`` names, or a value has no class;
            the message names the file and what to change.
    """
    path = Path(path)
    vertex, face = read_attributes(path)
    if source.startswith("ply:"):
        name = source[4:]
        found = [(kind, values) for kind, values in (("vertex", vertex.get(name)), ("face", face.get(name)))
                 if values is not None]
        if path.suffix.lower() != ".ply" or len(found) != 1:
            where = "both its vertices and its faces" if found else "no vertex or face property"
            raise MeshError(f"{path.name}: label source {source!r} needs a PLY file with an integer property "
                            f"{name!r} on its vertices or its faces; it has {where} of that name.")
        kind, values = found[0]
        if not np.all(values == np.round(values)):
            raise MeshError(f"{path.name}: property {name!r} must hold integers (class ids, -1 unlabelled).")
        return values.astype(np.int64), kind
    if source == "colors":
        for kind, attributes in (("vertex", vertex), ("face", face)):
            if all(c in attributes for c in COLOR_CHANNELS):
                colors = np.stack([attributes[c] for c in COLOR_CHANNELS], axis=1)
                names = class_names if class_names is not None else legend_classes(legend)
                return _colors_to_classes(colors, legend, names, kind, path.name), kind
        raise MeshError(f"{path.name}: label source 'colors' needs vertex or face colours (red, green, blue); "
                        "export the mesh as PLY with colours, or as OBJ with vertex colours.")
    key = {"obj-groups": "group", "obj-materials": "material"}[source]
    if path.suffix.lower() != ".obj":
        raise MeshError(f"{path.name}: label source {source!r} reads OBJ files; export the mesh as OBJ.")
    return _names_to_classes(face[key], class_names, f"{key}s", path.name), "face"

"""Wavefront OBJ read in file order: positions, vertex colours, triangles, groups, materials.

trimesh splits an OBJ file with several materials (``usemtl``) into one mesh per material
and joins them again, which duplicates vertices and reorders faces: labels per file vertex or
per face then no longer line up. This reader keeps the file's order. Polygons are
triangulated as trimesh does (a quad ``a b c d`` as ``a b c``, ``c d a``; larger polygons as
fans from their first corner), faces with fewer than three corners are skipped, and
``vt``/``vn`` indices (``f 1/2/3 ...``) and every other statement are ignored.

Nothing read from the file sizes an allocation: the lists grow with the lines parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaugemesh.mesh import MeshError

__all__ = ["ObjFile", "parse_obj"]


@dataclass(frozen=True)
class ObjFile:
    """What an OBJ file holds, in file order.

    Attributes:
        pos: Vertex positions (float64).
        faces: Triangles, polygons triangulated in place (int64).
        polygon: The ``f`` statement (0-based, skipped ones not counted) each triangle comes from.
        colors: Vertex colours ``v x y z r g b`` as written (NaN for a vertex without one),
            or None where no vertex has one.
        groups: The ``g`` name in force at each ``f`` statement (None before any).
        materials: The ``usemtl`` name in force at each ``f`` statement (None before any).

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; polygon: ``[F]``; colors: ``[V, 3]``;
        groups, materials: one entry per polygon.
    """

    pos: np.ndarray
    faces: np.ndarray
    polygon: np.ndarray
    colors: np.ndarray | None
    groups: list[str | None]
    materials: list[str | None]


def _faces(rows: list[list[str]], bases: list[int], num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangles and their polygon of the ``f`` statements' tokens, in one pass of numpy.

    ``bases[k]``: the vertices defined before row ``k`` (negative indices count back from there).
    """
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    flat = re.sub(r"/\S*", "", " ".join(" ".join(row) for row in rows))  # keep the vertex index of v/vt/vn
    index = np.array(flat.split(), dtype=np.int64)
    if (index == 0).any():
        raise ValueError("vertex index 0 (OBJ indices start at 1)")
    base = np.repeat(np.asarray(bases, dtype=np.int64), lengths)
    index = np.where(index > 0, index - 1, base + index)
    if index.size and (index.min() < 0 or index.max() >= num_vertices):
        raise ValueError(f"a face refers to a vertex the file does not have ({num_vertices} vertices)")
    start = np.cumsum(lengths) - lengths
    polygon = np.repeat(np.arange(len(rows)), lengths - 2)
    k = np.arange(len(polygon)) - np.repeat(np.cumsum(lengths - 2) - (lengths - 2), lengths - 2)
    first = start[polygon]
    corners = np.stack([first, first + k + 1, first + k + 2], axis=1)
    quad_second = (lengths[polygon] == 4) & (k == 1)  # as trimesh: a quad a b c d is a b c, c d a
    corners[quad_second] = np.stack([first + 2, first + 3, first], axis=1)[quad_second]
    return index[corners].reshape(-1, 3), polygon


def _vertices(rows: list[list[str]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions and colours (NaN where a vertex has none; None where none has one) of the
    ``v`` statements' tokens, converted in one call where every row has as many."""
    widths = {len(row) for row in rows}
    if len(widths) == 1:
        values = np.array([t for row in rows for t in row], dtype=np.float64).reshape(len(rows), -1)
    else:
        values = np.full((len(rows), max(widths)), np.nan)
        for i, row in enumerate(rows):
            values[i, : len(row)] = [float(t) for t in row]
    if values.shape[1] < 3 or np.isnan(values[:, :3]).any():
        raise ValueError("a vertex needs three coordinates")
    colors = values[:, 3:6] if values.shape[1] >= 6 else None
    return values[:, :3].copy(), colors


def parse_obj(path: Path, data: bytes) -> ObjFile:
    """Parse the bytes of an OBJ file (``path`` names it in errors).

    Raises:
        MeshError: a ``v`` or ``f`` statement that cannot be read, or a face corner that
            refers to no vertex; the message names the file.
    """
    text = data.decode("utf-8", "replace").replace("\\\r\n", " ").replace("\\\n", " ")
    vertex_rows, face_rows, bases, groups, materials = [], [], [], [], []
    group = material = None
    for line in text.splitlines():
        if line[:2] in ("vt", "vn", "vp", "# ", "s ", "o ", "l ", "") or line[:1] == "#":
            continue  # the most common statements no label or position needs, skipped unsplit
        tokens = (line.split("#", 1)[0] if "#" in line else line).split()
        if not tokens:
            continue
        key = tokens[0]
        if key == "v":
            vertex_rows.append(tokens[1:])
        elif key == "f" and len(tokens) >= 4:  # fewer than three corners: skipped, as trimesh does
            face_rows.append(tokens[1:])
            bases.append(len(vertex_rows))
            groups.append(group)
            materials.append(material)
        elif key == "g":
            group = " ".join(tokens[1:]) or None
        elif key == "usemtl":
            material = " ".join(tokens[1:]) or None
    try:
        pos, colors = _vertices(vertex_rows) if vertex_rows else (np.zeros((0, 3)), None)
        faces, polygon = _faces(face_rows, bases, len(pos)) if face_rows else (np.zeros((0, 3), np.int64),
                                                                             np.zeros(0, np.int64))
    except ValueError as exc:
        raise MeshError(f"{path.name}: not a readable OBJ file ({exc}).") from None
    return ObjFile(pos, faces, polygon, colors, groups, materials)

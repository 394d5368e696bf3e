"""What a mesh file carries besides its geometry: PLY properties, colours, OBJ groups and materials.

Attributes come numbered as :func:`~gaugemesh.io.read_mesh_arrays` numbers the file: one
value per file vertex, and one per *triangle* (a polygon's value goes to each of its
triangles). Colours are ``red``, ``green``, ``blue`` in ``0..255`` whatever the file stored
(floats ``0..1`` are scaled); a vertex without a colour has NaN.

- PLY: every scalar property of the ``vertex`` and ``face`` elements, by its name.
- OBJ: vertex colours (``v x y z r g b``); per face ``group`` (``g``) and ``material``
  (``usemtl``), None before the first such statement.
- OFF, STL: nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gaugemesh.io import read_mesh_arrays
from gaugemesh.mesh import MeshError
from gaugemesh.obj_file import parse_obj

__all__ = ["read_attributes", "COLOR_CHANNELS"]

COLOR_CHANNELS = ("red", "green", "blue")


def _to_bytes(colors: np.ndarray) -> np.ndarray:
    """Colours as floats in ``0..255``: integer files as they are, float ``0..1`` scaled."""
    integer = np.issubdtype(np.asarray(colors).dtype, np.integer)
    colors = np.asarray(colors, dtype=np.float64)
    if not integer and np.nanmax(colors, initial=0.0) <= 1.0:
        colors = colors * 255.0
    return np.round(colors)


def _obj_attributes(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    obj = parse_obj(path, path.read_bytes())
    vertex = {}
    if obj.colors is not None:
        vertex = dict(zip(COLOR_CHANNELS, _to_bytes(obj.colors).T))
    face = {"group": np.array(obj.groups, dtype=object)[obj.polygon],
            "material": np.array(obj.materials, dtype=object)[obj.polygon]}
    return vertex, face


def _canonical(triangles: np.ndarray) -> np.ndarray:
    """Each triangle rotated to start at its smallest index (orientation kept)."""
    shift = triangles.argmin(axis=1)
    return np.stack([triangles[np.arange(len(triangles)), (shift + k) % 3] for k in range(3)], axis=1)


def _ply_triangle_polygon(polygons: list[np.ndarray], faces: np.ndarray, path: Path) -> np.ndarray:
    """The file polygon of each triangle trimesh returned (it puts triangles before the
    triangulated polygons, so the order alone does not tell)."""
    lengths = np.array([len(p) for p in polygons])
    if len(polygons) == len(faces) and (lengths == 3).all():
        return np.arange(len(faces))
    source = {}
    for k, corners in enumerate(polygons):
        corners = [int(c) for c in corners]
        for i in range(1, len(corners) - 1):  # every fan triangle, and a quad's second (c d a) as a rotation
            source.setdefault(tuple(_canonical(np.array([[corners[0], corners[i], corners[i + 1]]]))[0]), k)
    out = [source.get(tuple(t), -1) for t in _canonical(faces)]
    if -1 in out:
        raise MeshError(f"{path.name}: cannot tell which polygon each triangle comes from; triangulate the mesh "
                        "before exporting it (face properties then map one to one).")
    return np.array(out, dtype=np.int64)


def _ply_attributes(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    import trimesh

    _, faces = read_mesh_arrays(path)  # every header check first
    raw = trimesh.load(path, process=False, force="mesh", maintain_order=True).metadata.get("_ply_raw", {})
    elements = {name: _fields(element.get("data")) for name, element in raw.items()}
    vertex = {name: v.reshape(len(v), -1)[:, 0] for name, v in _scalars(elements.get("vertex", {})).items()}
    face_data, face = elements.get("face", {}), {}
    scalars = _scalars(face_data)
    if scalars and len(faces):
        lists = [face_data[n] for n in ("vertex_indices", "vertex_index") if n in face_data]
        if lists and (lists[0].dtype == object or lists[0].ndim == 2):
            polygon = _ply_triangle_polygon(list(lists[0]), faces, path)
        elif len(next(iter(scalars.values()))) == len(faces):
            polygon = np.arange(len(faces))
        else:
            raise MeshError(f"{path.name}: face properties of a polygon mesh in a layout gaugemesh cannot map to "
                            "triangles; triangulate the mesh before exporting it.")
        face = {name: v.reshape(len(v), -1)[:, 0][polygon] for name, v in scalars.items()}
    for attributes in (vertex, face):
        if all(c in attributes for c in COLOR_CHANNELS):
            colors = _to_bytes(np.stack([attributes[c] for c in COLOR_CHANNELS], axis=1))
            attributes.update(zip(COLOR_CHANNELS, colors.T))
    return vertex, face


def _fields(data) -> dict[str, np.ndarray]:
    """A PLY element's properties by name: trimesh keeps a dict, or a structured array."""
    if isinstance(data, dict):
        return {name: np.asarray(v) for name, v in data.items()}
    if isinstance(data, np.ndarray) and data.dtype.names:
        return {name: data[name] for name in data.dtype.names}
    return {}


def _scalars(data: dict) -> dict[str, np.ndarray]:
    """The scalar (not list) properties of a PLY element (trimesh keeps ``{name: array}``)."""
    out = {}
    for name, values in data.items():
        values = np.asarray(values)
        if values.dtype.kind in "biuf" and (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
            out[name] = values
    return out


def read_attributes(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(vertex attributes, face attributes)`` of a mesh file (see the module docstring).

    Shapes:
        each vertex attribute ``[V_file]``; each face attribute ``[F_file]`` (triangles).

    Raises:
        FileNotFoundError: no such file.
        MeshError: the file cannot be read (as :func:`~gaugemesh.io.read_mesh_arrays`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no mesh file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".obj":
        return _obj_attributes(path)
    if suffix == ".ply":
        return _ply_attributes(path)
    read_mesh_arrays(path)  # the same errors as for any other file
    return {}, {}

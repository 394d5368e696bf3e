"""Reading mesh files: OBJ, OFF, PLY and STL through trimesh, then :func:`validate_mesh`.

The file's vertex order is kept, because datasets store labels per file vertex. Two things
trimesh would otherwise get in the way of are undone here: OBJ files with per-corner normals
or texture coordinates are read with ``maintain_order`` so vertices are not split per corner,
and STL triangle soups are welded (vertices at identical positions become one, in order of
first appearance).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gaugemesh.mesh import Mesh, MeshError, validate_mesh

__all__ = ["load_mesh", "read_mesh_arrays", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".obj", ".off", ".ply", ".stl")


def _weld(pos: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices with identical coordinates, keeping first appearances in order."""
    _, first, inverse = np.unique(pos, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return pos[first[order]], rank[inverse.ravel()][faces]


def read_mesh_arrays(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read raw ``(pos, faces)`` from a mesh file, without validation.

    Polygon faces come back triangulated (by trimesh, as fans). STL files come back welded.

    Raises:
        FileNotFoundError: no such file.
        MeshError: unsupported suffix, or the file cannot be parsed as a mesh.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no mesh file at {path}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MeshError(f"{path.name}: unsupported format {suffix!r}; use one of {SUPPORTED_SUFFIXES}.")
    try:
        loaded = trimesh.load(path, process=False, force="mesh", maintain_order=True)
        pos = np.asarray(loaded.vertices, dtype=np.float64)
        faces = np.asarray(loaded.faces, dtype=np.int64).reshape(-1, 3)
    except Exception as exc:  # trimesh raises many types; users get one.
        raise MeshError(f"{path.name}: could not be read as a mesh ({type(exc).__name__}: {exc}).") from exc
    if suffix == ".stl" and len(faces):
        pos, faces = _weld(pos, faces)
    return pos, faces


def load_mesh(path: str | os.PathLike, *, repair: bool = False) -> Mesh:
    """Load a triangle mesh file as a validated :class:`~gaugemesh.Mesh`.

    Args:
        path: An ``.obj``, ``.off``, ``.ply`` or ``.stl`` file.
        repair: Fix what can be fixed safely (see :func:`~gaugemesh.validate_mesh`); the
            result's ``vertex_map`` gives each vertex's index in the file.

    Raises:
        FileNotFoundError: no such file.
        MeshError: the file is unreadable or the mesh is invalid; the message says why.
    """
    pos, faces = read_mesh_arrays(path)
    try:
        return validate_mesh(pos, faces, repair=repair)
    except MeshError as exc:
        raise MeshError(f"{Path(path).name}: {exc}") from None

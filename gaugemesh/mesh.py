"""The validated triangle mesh: ``Mesh``, ``MeshError`` and ``validate_mesh``.

Everything downstream (frames, the discrete connection, layers) assumes a mesh that is an
oriented 2-manifold, possibly with boundary and several components; with
``structure_group="O2"`` a non-orientable one (a Moebius strip) is accepted too. ``validate_mesh`` either
returns such a mesh or raises :class:`MeshError` saying what is wrong, where, and what to do.
With ``repair=True`` it fixes what can be fixed without inventing geometry, and records in
``vertex_map`` / ``face_map`` where every vertex and face came from, so labels stored per file
vertex still follow the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaugemesh.geometry import topology
from gaugemesh.geometry.measures import cross

__all__ = ["Mesh", "MeshError", "validate_mesh", "STRUCTURE_GROUPS"]

#: The structure groups of a frame field: ``"SO2"`` needs an orientable surface, ``"O2"`` does not.
STRUCTURE_GROUPS = ("SO2", "O2")

# Faces whose area is below this fraction of the squared bounding-box diagonal are degenerate:
# their corner angles carry no direction information.
DEGENERATE_AREA_RTOL = 1e-14

# Face areas are norms of cross products, and a norm squares its argument: coordinates enter
# float64 to the fourth power. Beyond about 1e77 areas overflow to inf (and weights to NaN);
# below about 1e-77 they underflow to zero and every face looks degenerate. The margin keeps
# sums of such terms in range as well.
_SCALE_MARGIN = 1e6
MAX_COORDINATE = float(np.finfo(np.float64).max) ** 0.25 / _SCALE_MARGIN
MIN_EXTENT = float(np.finfo(np.float64).tiny) ** 0.25 * _SCALE_MARGIN


class MeshError(ValueError):
    """A mesh gaugemesh cannot use as given; the message names the defect and the fix."""


@dataclass(frozen=True, eq=False)
class Mesh:
    """A validated manifold triangle mesh, consistently oriented where it is orientable.

    Attributes:
        pos: Vertex positions, float64.
        faces: Triangles, counter-clockwise seen from outside, int64.
        vertex_map: For each vertex, its index in the source (file) vertex list.
        face_map: For each triangle, the index of the source face it came from (several
            triangles share one source polygon after triangulation).
        orientable: False only for a non-orientable surface, accepted by
            ``validate_mesh(..., structure_group="O2")``; its windings are then as given.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; vertex_map: ``[V]``; face_map: ``[F]``.
    """

    pos: np.ndarray
    faces: np.ndarray
    vertex_map: np.ndarray
    face_map: np.ndarray
    orientable: bool = True

    @property
    def num_vertices(self) -> int:
        return int(self.pos.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def num_edges(self) -> int:
        return int(topology.undirected_edges(self.faces).shape[0])

    @property
    def euler_characteristic(self) -> int:
        return self.num_vertices - self.num_edges + self.num_faces

    def __repr__(self) -> str:
        return f"Mesh(V={self.num_vertices}, F={self.num_faces}, chi={self.euler_characteristic})"


def _fail(defect: str, indices: np.ndarray, what: str, fix: str) -> MeshError:
    shown = ", ".join(str(tuple(int(x) for x in np.atleast_1d(i))) if np.ndim(i) else str(int(i))
                      for i in np.asarray(indices)[:5])
    more = "" if len(indices) <= 5 else ", ..."
    return MeshError(f"{defect}: {len(indices)} {what} (e.g. {shown}{more}). {fix}")


_REPAIR_HINT = "Pass repair=True to fix it (the result keeps vertex_map to the file's vertices)."


def _coerce(pos, faces) -> tuple[np.ndarray, np.ndarray]:
    pos = np.asarray(pos)
    faces = np.asarray(faces)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise MeshError(f"positions must have shape [V, 3], got {pos.shape}.")
    if faces.size == 0:
        raise MeshError("the mesh has no faces: gaugemesh needs a triangle mesh, not a point cloud.")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise MeshError(f"faces must have shape [F, 3] (triangles), got {faces.shape}.")
    if not np.issubdtype(pos.dtype, np.number) or not np.issubdtype(faces.dtype, np.number):
        raise MeshError("positions and faces must be numeric arrays.")
    # Complex numbers are numbers to numpy, and astype(float64) would drop the imaginary part.
    for name, array in (("positions", pos), ("face indices", faces)):
        if np.iscomplexobj(array):
            raise MeshError(f"{name} are complex ({array.dtype}); pass real arrays "
                            "(e.g. .real, if the imaginary part is meant to be zero).")
    if not np.issubdtype(faces.dtype, np.integer):
        if not np.all(np.isfinite(faces)) or np.any(faces != np.round(faces)):
            raise MeshError("face indices must be integers.")
    return pos.astype(np.float64), faces.astype(np.int64)


def _check_values(pos: np.ndarray, faces: np.ndarray) -> None:
    """Refuse non-finite or out-of-range coordinates and face indices out of range."""
    bad = np.flatnonzero(~np.all(np.isfinite(pos), axis=1))
    if bad.size:
        raise _fail("NaN or infinite coordinates", bad, "vertices",
                    "Clean the file's coordinates; gaugemesh cannot guess positions.")
    bad = np.flatnonzero(np.any((faces < 0) | (faces >= len(pos)), axis=1))
    if bad.size:
        raise _fail(f"face indices out of range [0, {len(pos)})", bad, "faces",
                    "The file refers to vertices it does not have.")
    _check_scale(pos)


def _check_scale(pos: np.ndarray) -> None:
    """Refuse finite coordinates whose areas over- or underflow float64 (see MAX_COORDINATE)."""
    largest = float(np.abs(pos).max())
    if largest > MAX_COORDINATE:
        raise MeshError(f"coordinates reach {largest:.3g}, beyond {MAX_COORDINATE:.1e}, where face areas overflow "
                        "float64; rescale the mesh (e.g. divide pos by its bounding-box diagonal).")
    extent = float((pos.max(0) - pos.min(0)).max())
    if 0 < extent < MIN_EXTENT:  # extent 0 is left to the degenerate-face check
        raise MeshError(f"the mesh spans only {extent:.3g}, below {MIN_EXTENT:.1e}, where face areas underflow "
                        "float64 to zero; rescale the mesh (e.g. divide pos by its bounding-box diagonal).")


def _bad_faces(pos: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of degenerate faces and of duplicates of an earlier face."""
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 2] == faces[:, 0])
    p0, p1, p2 = pos[faces[:, 0]], pos[faces[:, 1]], pos[faces[:, 2]]
    area2 = np.linalg.norm(cross(p1 - p0, p2 - p0), axis=1)
    diag2 = float(np.sum((pos.max(0) - pos.min(0)) ** 2))
    degenerate = repeated | (area2 <= 2 * DEGENERATE_AREA_RTOL * diag2)
    keys = np.sort(faces, axis=1)
    n = np.int64(len(pos))
    if n < 2**21:  # pack the sorted triple into one int64: much faster than unique rows
        keys = (keys[:, 0] * n + keys[:, 1]) * n + keys[:, 2]
        _, first = np.unique(keys, return_index=True)
    else:
        _, first = np.unique(keys, axis=0, return_index=True)
    duplicate = np.ones(len(faces), dtype=bool)
    duplicate[first] = False
    return degenerate, duplicate & ~degenerate


def _clean_faces(pos, faces, face_map, repair):
    degenerate, duplicate = _bad_faces(pos, faces)
    if not repair:
        if degenerate.any():
            raise _fail("degenerate (zero-area) faces", np.flatnonzero(degenerate), "faces", _REPAIR_HINT)
        if duplicate.any():
            raise _fail("duplicate faces", np.flatnonzero(duplicate), "faces", _REPAIR_HINT)
    keep = ~(degenerate | duplicate)
    if not keep.any():
        raise MeshError("every face is degenerate or a duplicate: nothing is left of the mesh.")
    return faces[keep], face_map[keep]


def _drop_unreferenced(pos, faces, vertex_map, repair):
    used = np.zeros(len(pos), dtype=bool)
    used[faces.ravel()] = True
    if used.all():
        return pos, faces, vertex_map
    if not repair:
        raise _fail("unreferenced vertices", np.flatnonzero(~used), "vertices belong to no face",
                    "They would get no frame. " + _REPAIR_HINT)
    new_index = np.cumsum(used) - 1
    return pos[used], new_index[faces], vertex_map[used]


def _make_manifold(pos, faces, vertex_map, repair):
    """Error on, or cut apart, non-manifold edges and vertices."""
    adj = topology.edge_adjacency(faces)
    nm_edges = adj.nonmanifold_edges
    fan = topology.vertex_fans(faces, adj)
    nm_vertices = np.flatnonzero(np.bincount(fan.vertex, minlength=len(pos)) > 1)
    if nm_edges.size == 0 and nm_vertices.size == 0:
        return pos, faces, vertex_map, False
    if not repair:
        if nm_edges.size:
            raise _fail("non-manifold edges (shared by more than two faces)", nm_edges, "edges",
                        _REPAIR_HINT)
        raise _fail("non-manifold vertices (several surface sheets meet at one vertex)", nm_vertices,
                    "vertices", _REPAIR_HINT)
    # One new vertex per fan: sheets meeting at a vertex or along an edge come apart.
    return pos[fan.vertex], fan.corner_fan.reshape(-1, 3), vertex_map[fan.vertex], True


def _orient(pos, faces, structure_group: str = "SO2") -> tuple[np.ndarray, bool]:
    """Consistently oriented faces, and whether the surface is orientable at all."""
    flip = topology.consistent_orientation(faces, pos)
    if flip is None:
        if structure_group == "O2":  # the O(2) frame field needs no orientation
            return faces, False
        raise MeshError("the surface is non-orientable (e.g. a Moebius strip): an SO(2) frame field needs an "
                        "orientation. Pass structure_group=\"O2\" (load_mesh, validate_mesh, mesh_to_data) for an "
                        "O(2) frame field, whose transporters may reflect, or cut the surface into orientable pieces.")
    out = faces.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    return out, True


def validate_mesh(pos, faces, *, repair: bool = False, face_map=None, structure_group: str = "SO2") -> Mesh:
    """Check a triangle mesh and return it as a :class:`Mesh`, or raise :class:`MeshError`.

    Always checked (and never repaired): shapes, real (not complex) numeric values, NaN or
    infinite coordinates, coordinates so large or a mesh so small that float64 areas over- or
    underflow (``MAX_COORDINATE``, ``MIN_EXTENT``), face indices out of range, and
    orientability (``structure_group="SO2"``; ``"O2"`` accepts a non-orientable surface and
    keeps its windings, with ``Mesh.orientable`` False). A consistent orientation is always restored by flipping
    faces (vertex order is untouched), and closed components are turned to face outward.

    Checked, and fixed when ``repair`` is set: degenerate and duplicate faces (dropped),
    non-manifold edges and vertices (cut apart by duplicating vertices), unreferenced
    vertices (dropped).

    Args:
        pos: Vertex positions.
        faces: Triangle vertex indices.
        repair: Fix what can be fixed safely instead of raising.
        face_map: Source face index of every triangle (defaults to ``arange(F)``).
        structure_group: ``"SO2"`` (default) or ``"O2"`` (see :data:`STRUCTURE_GROUPS`).

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; face_map: ``[F]``.

    Raises:
        MeshError: the defect, how many and which elements, and what to do.
    """
    if structure_group not in STRUCTURE_GROUPS:
        raise ValueError(f"structure_group must be one of {STRUCTURE_GROUPS}, got {structure_group!r}.")
    pos, faces = _coerce(pos, faces)
    _check_values(pos, faces)
    vertex_map = np.arange(len(pos), dtype=np.int64)
    face_map = np.arange(len(faces), dtype=np.int64) if face_map is None else np.asarray(face_map, np.int64)
    faces, face_map = _clean_faces(pos, faces, face_map, repair)
    pos, faces, vertex_map = _drop_unreferenced(pos, faces, vertex_map, repair)
    # Cutting can expose new structure (an edge that was non-manifold may now join two
    # sheets properly), so validate again until nothing changes.
    for _ in range(4):
        pos, faces, vertex_map, changed = _make_manifold(pos, faces, vertex_map, repair)
        if not changed:
            oriented, orientable = _orient(pos, faces, structure_group)
            return Mesh(pos, oriented, vertex_map, face_map, orientable)
    raise MeshError("repair did not converge to a manifold mesh; please clean the mesh externally.")

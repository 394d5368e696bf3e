"""A mesh hierarchy: coarser meshes of the same surface and the maps between levels.

Each coarse level is a triangle mesh of its own, so it has an exact frame field
(:func:`~gaugemesh.geometry.frame_field`: frames, ``theta``, ``transport``, ``edge_weight``
in the conventions of ``docs/conventions.md``). Level ``k + 1`` is built from level ``k``:

1. **Samples.** :func:`~gaugemesh.geometry.sampling.samples_by_factor`: one vertex per
   connected piece of each cell of a grid whose size keeps about ``1 / factor`` of the vertices.
2. **Cells.** Every fine vertex belongs to its nearest sample along mesh edges (a
   multi-source Dijkstra, edge lengths): a geodesic Voronoi partition, cells connected, never
   across components.
3. **Coarse faces.** Every fine face whose three vertices lie in three different cells gives
   the coarse face of those cells, with the fine face's winding (the dual of the partition);
   a dual face that lies upside down against the fine normals at its corners (a fold) is dropped.
   :func:`~gaugemesh.mesh.validate_mesh` with ``repair`` drops duplicates and cuts
   non-manifold spots apart (a coarse vertex may then have copies, one per sheet).
4. **The map.** Step 2 again from the samples that survived step 3, so every fine vertex maps
   to one coarse vertex of its own component (of the copies of a cut vertex, the one whose
   normal is closest to the fine vertex's). A component whose coarse faces all vanished
   keeps its samples as coarse vertices without edges (frames copied from the fine level).
5. **The angle.** ``angle[f]``: a tangent vector with coordinate ``z`` in fine vertex ``f``'s
   frame has coordinate ``exp(i angle[f]) z`` in the frame of its coarse vertex ``c`` (the
   convention of ``transport``). Two rules, both exactly gauge covariant
   (``angle' = angle - psi_c + phi_f`` for gauge changes ``phi`` (fine), ``psi`` (coarse)):

   * ``"path"`` (default): the fine level's own (Levi-Civita) transport summed along the
     shortest edge path of step 4 from ``f`` to the sample ``s`` of ``c``, then the smallest
     rotation taking ``s``'s fine normal to ``c``'s coarse normal (the only extrinsic step:
     ``s`` and ``c`` are the same point with two tangent planes).
   * ``"projection"``: the smallest rotation taking ``n_f`` onto ``n_c`` applied to ``e1_f``
     (GEM-CNN's transporter, applied across the cell).

   On a curved surface ``"path"`` is intrinsic up to the smallest rotation at ``s``; measured
   against potpourri3d's vector heat method it is the closer of the two (see
   ``tests/geometry/test_hierarchy.py``). On a plane ``"projection"`` equals the frame
   rotation difference exactly, while ``"path"`` carries the holonomy that the
   Levi-Civita connection puts on boundary faces (``docs/conventions.md``).

**O(2).** Given an :class:`~gaugemesh.geometry.o2_frame_field.O2FrameField` (level 0 of
``mesh_hierarchy(..., structure_group="O2")``), every coarse level gets an O(2) frame field too,
and every map a ``reflection`` flag beside its angle (:mod:`gaugemesh.hierarchy.o2_levels`).
A consistently oriented mesh is coarsened exactly as for SO(2), with normals from its
windings (whatever gauge its frames are in). A non-orientable one differs in three places: a
dual face is kept when it points along the fine face it comes from (step 3; vertex normals
are only local orientations there), the coarse mesh is validated for O(2) (it may be
non-orientable itself), and copies of a cut vertex are told apart by ``|n_c . n_f|`` (step 4).

Pure float64 numpy and scipy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from gaugemesh.geometry.connection import rotate_normal_onto
from gaugemesh.geometry.frame_field import FrameField, frame_field
from gaugemesh.geometry.measures import face_normals, vertex_normals, wrap_angle
from gaugemesh.geometry.o2_frame_field import O2FrameField, o2_frame_field
from gaugemesh.geometry.orientation_cover import local_orientations
from gaugemesh.geometry.sampling import samples_by_factor, voxel_samples
from gaugemesh.geometry.topology import vertex_components
from gaugemesh.hierarchy.o2_levels import o2_map_transport
from gaugemesh.mesh import MeshError, validate_mesh

__all__ = ["TRANSPORT_RULES", "MeshLevel", "LevelMap", "MeshHierarchy", "mesh_hierarchy", "coarsen", "map_angles"]

TRANSPORT_RULES = ("path", "projection")


@dataclass(frozen=True)
class MeshLevel:
    """One level: a mesh and its frame field.

    Attributes:
        pos: Vertex positions, ``[V, 3]`` (each coarse vertex sits on a fine vertex).
        faces: Manifold triangles of the first ``num_mesh_vertices`` vertices, oriented where
            the surface is orientable, ``[F, 3]``.
        field: Its :class:`~gaugemesh.geometry.FrameField` (an
            :class:`~gaugemesh.geometry.o2_frame_field.O2FrameField` for O(2)); ``frame`` and ``area`` cover all
            ``V`` vertices, the edges only the mesh vertices.
        num_mesh_vertices: Vertices that belong to faces; the rest (components whose coarse
            faces vanished) have no edges.
    """

    pos: np.ndarray
    faces: np.ndarray
    field: FrameField | O2FrameField
    num_mesh_vertices: int

    @property
    def num_vertices(self) -> int:
        return int(self.pos.shape[0])


@dataclass(frozen=True)
class LevelMap:
    """How the vertices of a fine level map to the next coarser level.

    Attributes:
        coarse: The coarse vertex of every fine vertex, ``[Vf]``.
        angle: Transport angle from each fine vertex's frame into its coarse vertex's frame, ``[Vf]``.
        weight: The fine vertex's area over the area of its coarse vertex's cell (sums to one
            over each cell), ``[Vf]``.
        distance: Length of the shortest edge path to the coarse vertex's sample, ``[Vf]``.
        parent: The next vertex on that path (the sample itself for a sample), ``[Vf]``.
        parent_edge: The fine edge ``f -> parent[f]`` (``-1`` for a sample), ``[Vf]``.
        sample: The fine vertex each coarse vertex sits on, ``[Vc]``.
        reflection: O(2) only (else None): whether the map reflects, ``[Vf]``; the map is then
            the O(2) element ``(angle, reflection)`` (:mod:`gaugemesh.hierarchy.o2_levels`).
    """

    coarse: np.ndarray
    angle: np.ndarray
    weight: np.ndarray
    distance: np.ndarray
    parent: np.ndarray
    parent_edge: np.ndarray
    sample: np.ndarray
    reflection: np.ndarray | None = None


@dataclass(frozen=True)
class MeshHierarchy:
    """``levels[0]`` is the input mesh; ``maps[k]`` maps level ``k`` to level ``k + 1``."""

    levels: tuple[MeshLevel, ...]
    maps: tuple[LevelMap, ...]


def _edge_graph(pos: np.ndarray, field: FrameField) -> sp.csr_matrix:
    """The directed edges as a sparse matrix of lengths (zero lengths nudged: scipy would drop them)."""
    j, i = field.edge_index
    length = np.linalg.norm(pos[i] - pos[j], axis=1)
    length = np.maximum(length, 1e-12 * max(float(length.max(initial=0.0)), 1e-300))
    return sp.csr_matrix((length, (i, j)), shape=(len(pos), len(pos)))


def _voronoi(graph: sp.csr_matrix, sources: np.ndarray):
    """Nearest source of every vertex along edges: ``(source, distance, parent)``."""
    distance, parent, source = dijkstra(graph, directed=False, indices=sources, min_only=True,
                                        return_predecessors=True)
    if np.any(source < 0):
        raise ValueError("some vertex reaches no sample; every component needs one.")
    vertices = np.arange(graph.shape[0])
    return source, distance, np.where(parent < 0, vertices, parent)


def _coarse_faces(faces: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """The dual faces: fine faces over three cells, winding kept, each oriented triple once."""
    cf = cell[faces]
    cf = cf[(cf[:, 0] != cf[:, 1]) & (cf[:, 1] != cf[:, 2]) & (cf[:, 2] != cf[:, 0])]
    first = np.argmin(cf, axis=1)  # rotate the smallest index first: same winding, one spelling
    cf = np.take_along_axis(cf, (first[:, None] + np.arange(3)) % 3, axis=1)
    return np.unique(cf, axis=0) if len(cf) else cf.reshape(0, 3)


def _unfolded(faces: np.ndarray, pos: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Drop dual faces that lie upside down: whose normal points against the fine normals
    at their corners (the dual of a Voronoi partition can fold near a boundary or where cells
    are thin; a folded face would turn its corners' normals inside out)."""
    if len(faces) == 0:
        return faces
    corner_normals = normal[faces].sum(1)
    return faces[np.einsum("fd,fd->f", face_normals(pos, faces), corner_normals) > 0]


def _inconsistent_faces(faces: np.ndarray) -> np.ndarray:
    """Faces sharing a directed side with another face (a fold of the dual)."""
    a, b = faces.ravel(), faces[:, [1, 2, 0]].ravel()
    n = np.int64(max(int(faces.max(initial=0)) + 1, 1))
    _, inverse, counts = np.unique(a * n + b, return_inverse=True, return_counts=True)
    return np.unique(np.flatnonzero(counts[inverse] > 1) // 3)


def _unfolded_along_faces(faces: np.ndarray, cell: np.ndarray, pos: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """The dual faces of a non-orientable mesh, each kept where it points along the fine face
    it comes from (the fold test of :func:`_unfolded` without vertex normals, which are only
    local orientations there)."""
    cf = cell[faces]
    over_three = (cf[:, 0] != cf[:, 1]) & (cf[:, 1] != cf[:, 2]) & (cf[:, 2] != cf[:, 0])
    fine, cf = faces[over_three], cf[over_three]
    along = np.einsum("fd,fd->f", face_normals(pos[samples], cf), face_normals(pos, fine)) > 0
    return _coarse_faces(fine[along], cell)


def _coarse_mesh(pos: np.ndarray, faces: np.ndarray, structure_group: str = "SO2"):
    """Validate (and repair) the dual mesh; its folds, if they make it non-orientable, are
    dropped (for SO(2); for O(2) a non-orientable coarse mesh is kept)."""
    if len(faces) == 0:
        return None
    try:
        return validate_mesh(pos, faces, repair=True, structure_group=structure_group)
    except MeshError:
        keep = np.setdiff1d(np.arange(len(faces)), _inconsistent_faces(faces))
        if len(keep) == 0:
            return None
        return validate_mesh(pos, faces[keep], repair=True)


def _surviving_samples(fine_faces, num_fine, samples, mesh):
    """Sample indices of the coarse mesh's vertices, then of the isolated ones (components
    whose coarse faces all vanished)."""
    in_mesh = np.zeros(0, dtype=np.int64) if mesh is None else mesh.vertex_map
    _, component = vertex_components(fine_faces, num_fine)
    alive = np.zeros(component.max() + 1, dtype=bool)
    alive[component[samples[in_mesh]]] = True
    isolated = np.flatnonzero(~alive[component[samples]])
    return np.concatenate([in_mesh, isolated])


def _pick_copies(source: np.ndarray, coarse_sample: np.ndarray, fine_normal, coarse_normal,
                 unsigned: bool = False) -> np.ndarray:
    """The coarse vertex of each fine vertex from its nearest sample; where a sample has
    several coarse copies (a cut non-manifold vertex) the one whose normal is closest. A copy
    that no fine vertex chose then takes the fine vertex of its cell whose normal is closest to
    its own (unless that would empty another copy): every coarse vertex has a fine vertex
    whenever its cell has as many fine vertices as copies. ``unsigned``: compare ``|n_c . n_f|``
    (normals that are only local orientations)."""
    similar = (lambda a: np.abs(a)) if unsigned else (lambda a: a)
    order = np.argsort(coarse_sample, kind="stable")
    first = np.searchsorted(coarse_sample[order], source)
    coarse = order[first]
    count = np.bincount(coarse_sample, minlength=len(source))[source]
    for f in np.flatnonzero(count > 1):
        copies = order[first[f]:first[f] + count[f]]
        coarse[f] = copies[np.argmax(similar(coarse_normal[copies] @ fine_normal[f]))]
    members = np.bincount(coarse, minlength=len(coarse_sample))
    for c in np.flatnonzero(members == 0):  # a copy no fine normal chose: give it its best match
        cell = np.flatnonzero((source == coarse_sample[c]) & (members[coarse] > 1))
        if cell.size:
            f = cell[np.argmax(similar(fine_normal[cell] @ coarse_normal[c]))]
            members[coarse[f]] -= 1
            coarse[f], members[c] = c, 1
    return coarse


def _edge_ids(field: FrameField, source: np.ndarray, target: np.ndarray, num: int) -> np.ndarray:
    """Index of edge ``source -> target`` (edges are sorted by target, then source)."""
    j, i = field.edge_index
    key = i * np.int64(num) + j
    where = np.searchsorted(key, target * np.int64(num) + source)
    return where


def _path_sums(step: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Sum of ``step`` along the parent chain of every vertex to its root (pointer jumping)."""
    total, jump = step.copy(), parent.copy()
    while True:
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            return total
        total, jump = total + total[jump], nxt


def _rotated_polar(e1_from, n_from, frame_to) -> np.ndarray:
    """Polar angle in ``frame_to`` of ``e1_from`` turned by the smallest rotation ``n_from -> n_to``."""
    carried = rotate_normal_onto(e1_from, n_from, frame_to[:, 2])
    return np.arctan2(np.einsum("vd,vd->v", carried, frame_to[:, 1]), np.einsum("vd,vd->v", carried, frame_to[:, 0]))


def map_angles(fine: FrameField, coarse_frame: np.ndarray, level_map: LevelMap, rule: str = "path") -> np.ndarray:
    """The transport angle from every fine vertex's frame into its coarse vertex's frame.

    A pure function of the frames (and the fine ``transport``) so that a gauge change of
    either level can be checked: ``angle' = angle - psi[coarse] + phi``.

    Shapes:
        coarse_frame: ``[Vc, 3, 3]``; returns ``[Vf]``.
    """
    if rule not in TRANSPORT_RULES:
        raise ValueError(f"unknown transport rule {rule!r}; use one of {TRANSPORT_RULES}.")
    c = level_map.coarse
    if rule == "projection":
        return wrap_angle(_rotated_polar(fine.frame[:, 0], fine.frame[:, 2], coarse_frame[c]))
    has_edge = level_map.parent_edge >= 0
    step = np.where(has_edge, fine.transport[np.maximum(level_map.parent_edge, 0)], 0.0)
    along = _path_sums(step, level_map.parent)
    s = level_map.sample[c]
    return wrap_angle(along + _rotated_polar(fine.frame[s, 0], fine.frame[s, 2], coarse_frame[c]))


def _with_isolated(field: FrameField | O2FrameField, extra_frame: np.ndarray) -> FrameField | O2FrameField:
    """``field`` with frames (and zero areas, filled in later) for vertices without edges."""
    return replace(field, frame=np.concatenate([field.frame, extra_frame]),
                   area=np.concatenate([field.area, np.zeros(len(extra_frame))]))


def _empty_field(o2: bool) -> FrameField | O2FrameField:
    """The frame field of a level without faces (its vertices are added by :func:`_with_isolated`)."""
    empty = np.zeros(0)
    if o2:
        return O2FrameField(np.zeros((0, 3, 3)), np.zeros((2, 0), np.int64), empty, empty, np.zeros(0, bool),
                            empty, empty, np.zeros(0, np.int64))
    return FrameField(np.zeros((0, 3, 3)), np.zeros((2, 0), np.int64), *(empty,) * 4, np.zeros(0, np.int64))


def _structure(level: MeshLevel) -> tuple[np.ndarray, bool]:
    """Normals the coarsening steps read, and whether they are an orientation's: the frame
    normals for SO(2); for O(2) the normals of a consistently oriented mesh's windings (the
    same in any gauge), else the frame normals, to be compared unsigned."""
    if not isinstance(level.field, O2FrameField):
        return level.field.frame[:, 2], True
    mesh_faces = level.faces
    if len(mesh_faces) and local_orientations(mesh_faces).any():
        return level.field.frame[:, 2], False
    normal = level.field.frame[:, 2].copy()  # isolated vertices keep their frames' normals
    used = np.unique(mesh_faces)
    normal[used] = vertex_normals(level.pos, mesh_faces)[used]
    return normal, True


def coarsen(level: MeshLevel, factor: float = 4.0, connection: str = "levi-civita",
            rule: str = "path", spacing: float | None = None) -> tuple[MeshLevel, LevelMap]:
    """The next coarser level of ``level`` and the map to it (steps 1-5 of the module docstring).

    ``spacing``, when given, is the grid cell size of step 1 in the mesh's units (instead of
    the size that keeps ``1 / factor`` of the vertices).
    """
    pos, faces, field = level.pos, level.faces, level.field
    o2 = isinstance(field, O2FrameField)
    if o2 and connection != "levi-civita":
        raise ValueError(f"an O(2) hierarchy takes connection 'levi-civita' only, got {connection!r}.")
    normal, oriented = _structure(level)
    samples = samples_by_factor(pos, faces, factor)[0] if spacing is None else voxel_samples(pos, faces, spacing)
    graph = _edge_graph(pos, field)
    source, _, _ = _voronoi(graph, samples)
    cell = np.searchsorted(samples, source)
    if oriented:
        dual = _unfolded(_coarse_faces(faces, cell), pos[samples], normal[samples])
    else:
        dual = _unfolded_along_faces(faces, cell, pos, samples)
    mesh = _coarse_mesh(pos[samples], dual, "SO2" if oriented else "O2")
    coarse_sample = samples[_surviving_samples(faces, len(pos), samples, mesh)]
    num_mesh = 0 if mesh is None else mesh.num_vertices
    if mesh is None:
        coarse_field, coarse_faces = _empty_field(o2), np.zeros((0, 3), np.int64)
    else:
        coarse_field = o2_frame_field(mesh.pos, mesh.faces) if o2 else frame_field(mesh.pos, mesh.faces,
                                                                                     connection=connection)
        coarse_faces = mesh.faces
    coarse_field = _with_isolated(coarse_field, field.frame[coarse_sample[num_mesh:]])
    source, distance, parent = _voronoi(graph, np.unique(coarse_sample))
    coarse = _pick_copies(source, coarse_sample, normal, coarse_field.frame[:, 2], unsigned=not oriented)
    parent_edge = np.where(parent == np.arange(len(pos)), -1, _edge_ids(field, np.arange(len(pos)), parent, len(pos)))
    cell_area = np.bincount(coarse, weights=field.area, minlength=len(coarse_sample))
    area = coarse_field.area.copy()
    area[num_mesh:] = cell_area[num_mesh:]  # vertices without faces get their cell's area
    coarse_field = replace(coarse_field, area=area)
    weight = np.where(cell_area[coarse] > 0, field.area / np.where(cell_area > 0, cell_area, 1.0)[coarse],
                      1.0 / np.bincount(coarse, minlength=len(coarse_sample))[coarse])
    level_map = LevelMap(coarse=coarse, angle=np.zeros(0), weight=weight, distance=distance, parent=parent,
                         parent_edge=parent_edge, sample=coarse_sample)
    if o2:
        if rule not in TRANSPORT_RULES:
            raise ValueError(f"unknown transport rule {rule!r}; use one of {TRANSPORT_RULES}.")
        angle, reflection = o2_map_transport(field, coarse_field.frame, coarse, coarse_sample, parent, parent_edge, rule)
        level_map = replace(level_map, reflection=reflection)
    else:
        angle = map_angles(field, coarse_field.frame, level_map, rule)
    coarse_level = MeshLevel(pos[coarse_sample], coarse_faces, coarse_field, num_mesh)
    return coarse_level, replace(level_map, angle=angle)


def mesh_hierarchy(pos: np.ndarray, faces: np.ndarray, num_levels: int = 3, factor: float = 4.0, *,
                   connection: str = "levi-civita", frames="default", seed: int | None = None,
                   rule: str = "path", field: FrameField | O2FrameField | None = None,
                   spacing: Sequence[float] | None = None, structure_group: str = "SO2") -> MeshHierarchy:
    """Build ``num_levels`` levels (the input mesh and ``num_levels - 1`` coarser ones).

    Args:
        pos, faces: A validated mesh (:func:`~gaugemesh.validate_mesh`).
        num_levels: Levels in all, the input included (``>= 1``).
        factor: About how many times fewer vertices each level has than the one before.
        connection: Connection of every level (``"levi-civita"`` or ``"projection"``).
        frames, seed: Frames of level 0 (see :func:`~gaugemesh.geometry.frame_field`); coarse
            levels get default frames.
        rule: Transport rule of the maps, ``"path"`` or ``"projection"`` (module docstring).
        field: Level 0's frame field when it is computed already (must match ``pos, faces``);
            an :class:`~gaugemesh.geometry.o2_frame_field.O2FrameField` makes an O(2) hierarchy.
        spacing: Grid cell size of each coarse level in the mesh's units (``num_levels - 1``
            numbers), instead of ``factor``: a metric scale, so that meshes of one surface at
            different resolutions get about the same coarse levels.
        structure_group: ``"SO2"`` or ``"O2"`` (O(2) frame fields at every level and maps with
            a ``reflection``; ``pos, faces`` may then be non-orientable); without ``field``
            it says which frame field level 0 gets, with one it must agree.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``.
    """
    if num_levels < 1:
        raise ValueError(f"num_levels must be at least 1, got {num_levels}.")
    if rule not in TRANSPORT_RULES:
        raise ValueError(f"unknown transport rule {rule!r}; use one of {TRANSPORT_RULES}.")
    pos, faces = np.asarray(pos, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    if structure_group not in ("SO2", "O2"):
        raise ValueError(f"structure_group must be 'SO2' or 'O2', got {structure_group!r}.")
    if field is None:
        field = (o2_frame_field(pos, faces, frames=frames, seed=seed) if structure_group == "O2"
                 else frame_field(pos, faces, connection=connection, frames=frames, seed=seed))
    if isinstance(field, O2FrameField) != (structure_group == "O2"):
        raise ValueError(f"structure_group {structure_group!r} does not match the given {type(field).__name__}.")
    if field.frame.shape[0] != len(pos):
        raise ValueError(f"field has {field.frame.shape[0]} vertices, the mesh {len(pos)}.")
    if spacing is not None and len(spacing) != num_levels - 1:
        raise ValueError(f"spacing needs one cell size per coarse level ({num_levels - 1}), got {len(spacing)}.")
    levels, maps = [MeshLevel(pos, faces, field, len(pos))], []
    for k in range(num_levels - 1):
        coarse, level_map = coarsen(levels[-1], factor, connection, rule, None if spacing is None else spacing[k])
        levels.append(coarse)
        maps.append(level_map)
    return MeshHierarchy(tuple(levels), tuple(maps))

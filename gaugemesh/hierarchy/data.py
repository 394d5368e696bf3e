"""A mesh hierarchy in a PyG ``Data``: coarse levels and the maps between them, batchable.

Level ``0`` is the ``Data`` itself (:func:`~gaugemesh.mesh_to_data`'s keys). Level ``k >= 1``
(a :class:`~gaugemesh.hierarchy.levels.MeshLevel`) is stored under prefixed keys, and the
map from level ``k - 1`` to level ``k`` (a :class:`~gaugemesh.hierarchy.levels.LevelMap`)
under ``pool{k}_``:

========================  =============  =====================================================
key                       shape          meaning
========================  =============  =====================================================
``level{k}_pos``          ``[Vk, 3]``    positions (each on a vertex of level ``k - 1``)
``level{k}_frame``        ``[Vk, 3, 3]`` frames, rows ``e1, e2, n``
``level{k}_area``         ``[Vk]``       vertex areas (defines ``Vk``)
``level{k}_edge_index``   ``[2, Ek]``    level ``k``'s graph (conventions of level 0)
``level{k}_theta``        ``[Ek]``       as ``theta``
``level{k}_transport``    ``[Ek]``       as ``transport``
``level{k}_edge_weight``  ``[Ek]``       as ``edge_weight``
``pool{k}_index``         ``[V{k-1}]``   the level-``k`` vertex of every level-``k-1`` vertex
``pool{k}_angle``         ``[V{k-1}]``   transport angle into that vertex's frame
``pool{k}_weight``        ``[V{k-1}]``   area weight; sums to one over each level-``k`` vertex
``level{k}_reflection``   ``[Ek]``       O(2) only: as ``reflection``
``pool{k}_reflection``    ``[V{k-1}]``   O(2) only: whether the map reflects (the map is the
                                         O(2) element ``(angle, reflection)``)
========================  =============  =====================================================

A ``data`` with ``reflection`` (``mesh_to_data(..., structure_group="O2")``) gets an O(2)
hierarchy (:mod:`gaugemesh.hierarchy.o2_levels`), on any surface, orientable or not.

:class:`HierarchyData` tells PyG how to batch these: level-``k`` indices are offset by the
level-``k`` vertex counts of the meshes before, so a batch is again one block-diagonal graph
per level. A cache that stores ``Data.to_dict()`` gets the class back with
:func:`as_hierarchy_data`.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from gaugemesh.geometry import FrameField, face_areas, frame_field
from gaugemesh.geometry.o2_frame_field import O2FrameField, o2_frame_field
from gaugemesh.hierarchy.levels import MeshHierarchy, mesh_hierarchy
from gaugemesh.graph import gauge_transform
from gaugemesh.o2 import o2_compose, o2_inverse
from gaugemesh.o2_gauge import o2_gauge_transform

__all__ = ["HierarchyData", "as_hierarchy_data", "add_hierarchy", "hierarchy_tensors", "num_levels",
           "level_data", "pool_map", "o2_pool_map", "gauge_transform_levels", "o2_gauge_transform_levels"]

_LEVEL_KEY = re.compile(r"^(level|pool)(\d+)_")
_EDGE_KEYS = ("edge_index", "theta", "transport", "edge_weight", "reflection")


class HierarchyData(Data):
    """A ``Data`` with coarse levels (module docstring): batching offsets ``level{k}_edge_index``
    and ``pool{k}_index`` by the level-``k`` vertex counts."""

    def __inc__(self, key: str, value, *args, **kwargs):
        match = _LEVEL_KEY.match(key)
        if match and key.endswith("index"):
            return self.num_level_nodes(int(match.group(2)))
        return super().__inc__(key, value, *args, **kwargs)

    def num_level_nodes(self, k: int) -> int:
        """``Vk``, the vertex count of level ``k`` (level 0: ``num_nodes``)."""
        return int(self.num_nodes) if k == 0 else int(self[f"level{k}_area"].size(0))


def as_hierarchy_data(data: Data) -> HierarchyData:
    """The same attributes as a :class:`HierarchyData` (e.g. after a cache gave a plain ``Data``)."""
    return data if isinstance(data, HierarchyData) else HierarchyData.from_dict(data.to_dict())


def num_levels(data: Data) -> int:
    """Levels stored in ``data``, level 0 included (1 when it holds none)."""
    k = 1
    while f"level{k}_area" in data:
        k += 1
    return k


def hierarchy_tensors(hierarchy: MeshHierarchy, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """The coarse levels and maps of ``hierarchy`` as the tensors of the module docstring."""
    out: dict[str, Tensor] = {}

    def real(array: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(dtype)

    for k, (level, level_map) in enumerate(zip(hierarchy.levels[1:], hierarchy.maps), start=1):
        f = level.field
        out.update({f"level{k}_pos": real(level.pos), f"level{k}_frame": real(f.frame),
                    f"level{k}_area": real(f.area), f"level{k}_edge_index": torch.from_numpy(f.edge_index.copy()),
                    f"level{k}_theta": real(f.theta), f"level{k}_transport": real(f.transport),
                    f"level{k}_edge_weight": real(f.edge_weight),
                    f"pool{k}_index": torch.from_numpy(level_map.coarse.copy()),
                    f"pool{k}_angle": real(level_map.angle), f"pool{k}_weight": real(level_map.weight)})
        if level_map.reflection is not None:
            out.update({f"level{k}_reflection": torch.from_numpy(f.reflection.copy()),
                        f"pool{k}_reflection": torch.from_numpy(level_map.reflection.copy())})
    return out


def _level0_field(data: Data, connection: str) -> FrameField | O2FrameField:
    """Level 0's frame field in float64, in ``data``'s own frames (whatever gauge it is in);
    the O(2) one where ``data`` has ``reflection``."""
    pos = data.pos.detach().cpu().double().numpy()
    faces = data.face.detach().cpu().T.numpy().astype(np.int64)
    frame = data.frame.detach().cpu().double().numpy()
    # float32 frames are orthonormal to rounding; re-orthonormalise so they pass check_frames.
    e1, n = frame[:, 0], frame[:, 2] / np.linalg.norm(frame[:, 2], axis=1, keepdims=True)
    e1 = e1 - np.einsum("vd,vd->v", e1, n)[:, None] * n
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    frames = np.stack([e1, np.cross(n, e1), n], 1)
    if getattr(data, "reflection", None) is not None:
        return o2_frame_field(pos, faces, frames=frames)
    return frame_field(pos, faces, connection=connection, frames=frames)


def add_hierarchy(data: Data, num_levels: int = 3, factor: float = 4.0, connection: str = "levi-civita",
                  rule: str = "path", spacing: Sequence[float] | None = None,
                  coarse_vertices: Sequence[int] | None = None) -> HierarchyData:
    """A copy of ``data`` (from :func:`~gaugemesh.mesh_to_data`) with ``num_levels - 1`` coarse
    levels (:func:`~gaugemesh.hierarchy.levels.mesh_hierarchy`), in ``data.pos``'s dtype.

    Reads ``pos``, ``face``, ``frame``; writes the keys of the module docstring. The maps'
    angles are computed in ``data``'s frames, so the result is right in any gauge.
    ``connection`` should be the one ``data`` was built with; ``spacing`` (cell sizes of the
    coarse levels in the mesh's units) replaces ``factor`` by a metric scale.
    ``coarse_vertices`` (about how many vertices each coarse level has) sets that scale from
    the surface instead: cells of side ``sqrt(area / n)``, so that a mesh refined 4x or 16x
    gets about the same coarse levels as the original, and a model trained on one resolution
    pools over the same surface patches on another.
    """
    pos = data.pos.detach().cpu().double().numpy()
    faces = data.face.detach().cpu().T.numpy().astype(np.int64)
    if coarse_vertices:
        if spacing is not None:
            raise ValueError("add_hierarchy takes spacing or coarse_vertices, not both.")
        if len(coarse_vertices) != num_levels - 1 or min(coarse_vertices) < 1:
            raise ValueError(f"coarse_vertices needs {num_levels - 1} positive counts (one per coarse level), "
                             f"got {list(coarse_vertices)}.")
        area = float(face_areas(pos, faces).sum())
        spacing = [float(np.sqrt(area / n)) for n in coarse_vertices]
    field = _level0_field(data, connection)
    hierarchy = mesh_hierarchy(pos, faces, num_levels, factor, connection=connection, rule=rule, field=field,
                               spacing=spacing, structure_group="O2" if isinstance(field, O2FrameField) else "SO2")
    out = as_hierarchy_data(data.clone())
    for key, value in hierarchy_tensors(hierarchy, data.pos.dtype).items():
        out[key] = value.to(data.pos.device)
    return out


def level_data(data: Data, k: int) -> Data:
    """Level ``k``'s graph as a plain ``Data`` (``edge_index``, ``theta``, ``transport``,
    ``edge_weight``, ``frame``, ``pos``, ``area``, ``num_nodes``); level 0 is ``data`` itself."""
    if k == 0:
        return data
    out = Data(num_nodes=data.num_level_nodes(k) if isinstance(data, HierarchyData) else data[f"level{k}_area"].size(0))
    for key in (*_EDGE_KEYS, "frame", "pos", "area"):
        if f"level{k}_{key}" in data:
            out[key] = data[f"level{k}_{key}"]
    return out


def pool_map(data: Data, k: int) -> tuple[Tensor, Tensor, Tensor, int]:
    """``(index, angle, weight, num_coarse)`` of the map from level ``k - 1`` to level ``k``."""
    return (data[f"pool{k}_index"], data[f"pool{k}_angle"], data[f"pool{k}_weight"],
            int(data[f"level{k}_area"].size(0)))


def o2_pool_map(data: Data, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """``(index, angle, reflection, weight, num_coarse)`` of the O(2) map from level ``k - 1`` to level ``k``."""
    return (data[f"pool{k}_index"], data[f"pool{k}_angle"], data[f"pool{k}_reflection"], data[f"pool{k}_weight"],
            int(data[f"level{k}_area"].size(0)))


def gauge_transform_levels(data: Data, phis: Sequence[Tensor]) -> Data:
    """Rotate the frames of every level: level ``k`` by ``phis[k]`` (see
    :func:`~gaugemesh.gauge_transform`), and the maps to match,
    ``pool{k}_angle' = pool{k}_angle - phis[k][pool{k}_index] + phis[k - 1]``.

    Shapes:
        phis: one ``[Vk]`` per level.
    """
    if len(phis) != num_levels(data):
        raise ValueError(f"gauge_transform_levels needs one gauge per level ({num_levels(data)}), got {len(phis)}.")
    out = gauge_transform(data, phis[0])
    for k in range(1, len(phis)):
        level = gauge_transform(level_data(data, k), phis[k])
        for key in ("theta", "transport", "frame"):
            if key in level:
                out[f"level{k}_{key}"] = level[key]
        index, angle = data[f"pool{k}_index"], data[f"pool{k}_angle"]
        moved = angle - phis[k].to(angle)[index] + phis[k - 1].to(angle)
        out[f"pool{k}_angle"] = torch.pi - torch.remainder(torch.pi - moved, 2 * torch.pi)  # (-pi, pi]
    return out


def o2_gauge_transform_levels(data: Data, gauges: Sequence[tuple[Tensor, Tensor]]) -> Data:
    """Change the frames of every level of an O(2) hierarchy: level ``k`` by ``gauges[k] =
    (phi, reflection)`` (see :func:`~gaugemesh.o2_gauge.o2_gauge_transform`), and the maps to
    match: ``g' = h_c^-1 g h_f`` for the map ``g = (pool{k}_angle, pool{k}_reflection)`` from
    fine vertex ``f`` (level ``k - 1``) to coarse vertex ``c`` (level ``k``).

    Shapes:
        gauges: one ``([Vk], [Vk])`` per level.
    """
    if len(gauges) != num_levels(data):
        raise ValueError(f"o2_gauge_transform_levels needs one gauge per level ({num_levels(data)}), got {len(gauges)}.")
    out = o2_gauge_transform(data, *gauges[0])
    for k in range(1, len(gauges)):
        moved = o2_gauge_transform(level_data(data, k), *gauges[k])
        for key in ("theta", "transport", "reflection", "frame"):
            out[f"level{k}_{key}"] = moved[key]
        index, angle, flip = data[f"pool{k}_index"], data[f"pool{k}_angle"], data[f"pool{k}_reflection"]
        (phi_c, s_c), (phi_f, s_f) = gauges[k], gauges[k - 1]
        inv_a, inv_s = o2_inverse(phi_c.to(angle)[index], s_c.to(flip.device)[index])
        a, s = o2_compose(*o2_compose(inv_a, inv_s, angle, flip), phi_f.to(angle), s_f.to(flip.device))
        out[f"pool{k}_angle"] = torch.pi - torch.remainder(torch.pi - a, 2 * torch.pi)  # (-pi, pi]
        out[f"pool{k}_reflection"] = s
    return out

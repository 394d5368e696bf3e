"""A mesh resampled to a fixed density of the surface, for networks that must not depend on
the resolution of their input.

A network whose finest convolutions count rings of neighbours sees less of the surface on a
finer mesh: a model trained on 750-vertex bodies and run on a 12k-vertex scan of the same body
sees a sixteenth of the area per ring. :func:`resample_mesh` takes such a mesh down to about
the density the model was trained on: one coarse level of :mod:`gaugemesh.hierarchy.levels`
with cells of side ``sqrt(area / vertices)`` (a mesh of its own, repaired, each of its vertices
on a vertex of the input), and for every input vertex the coarse vertex whose cell holds it.
The network then runs on the coarse mesh and its per-vertex outputs are read back through
that index: ``scores[index]``. Only scalars (logits, probabilities, labels) are carried back
this way; no tangent features leave the network, so no transport is needed.

Pure float64 numpy and scipy, like the rest of the hierarchy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from gaugemesh.geometry.frame_field import frame_field
from gaugemesh.geometry.measures import face_areas
from gaugemesh.hierarchy.levels import MeshLevel, coarsen
from gaugemesh.mesh import Mesh, validate_mesh

__all__ = ["Resampled", "resample_mesh", "needs_resampling"]


@dataclass(frozen=True)
class Resampled:
    """A mesh at a fixed surface density and the way back to the input mesh.

    Attributes:
        mesh: The resampled, validated mesh; its ``vertex_map`` names, for each of its
            vertices, the input mesh's vertex it sits on.
        index: For every input vertex, the resampled vertex that stands for it, ``[V_in]``.
    """

    mesh: Mesh
    index: np.ndarray


def needs_resampling(mesh: Mesh, vertices: int) -> bool:
    """Whether ``mesh`` is more than twice as dense as ``vertices`` vertices (``0``: never):
    below that, resampling would only blur labels without changing what a ring covers much."""
    return vertices > 0 and mesh.num_vertices > 2 * vertices


def resample_mesh(mesh: Mesh, vertices: int) -> Resampled:
    """``mesh`` resampled to about ``vertices`` vertices, evenly over its surface.

    Args:
        mesh: A validated SO(2) mesh.
        vertices: About how many vertices the result has (cells of side ``sqrt(area / vertices)``;
            the count comes out within about 30% of it).

    Returns:
        The :class:`Resampled` mesh and index. A component too small to keep a face of its
        own at this density maps to the nearest resampled vertex.

    Raises:
        ValueError: ``vertices`` below 4, or no face survives (a mesh smaller than one cell).
    """
    if vertices < 4:
        raise ValueError(f"resampling needs at least 4 vertices, got {vertices}.")
    area = float(face_areas(mesh.pos, mesh.faces).sum())
    level = MeshLevel(mesh.pos, mesh.faces, frame_field(mesh.pos, mesh.faces), mesh.num_vertices)
    coarse, level_map = coarsen(level, spacing=float(np.sqrt(area / vertices)))
    kept = coarse.num_mesh_vertices
    if kept == 0:
        raise ValueError(f"no face survives resampling a mesh of area {area:.3g} to {vertices} vertices.")
    # Coarse vertices sit on input vertices (level_map.sample): the vertex map goes to them.
    resampled = validate_mesh(coarse.pos[:kept], coarse.faces)
    resampled = Mesh(resampled.pos, resampled.faces, level_map.sample[:kept][resampled.vertex_map],
                     resampled.face_map, resampled.orientable)
    index = level_map.coarse.copy()
    orphans = index >= kept  # in a component whose coarse faces vanished
    if orphans.any():
        index[orphans] = cKDTree(coarse.pos[:kept]).query(mesh.pos[orphans])[1]
    return Resampled(resampled, index)

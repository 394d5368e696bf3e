"""Subsampling a mesh's vertices at a metric spacing: the seeds of a coarser level.

:func:`voxel_samples` clusters the vertices by a cubic grid of side ``h``, splits every
cluster into the pieces that the mesh's own edges join inside its cell (so that the two sides
of a thin part, or two components that come close, are never one cluster), and keeps from
each piece the vertex nearest to the piece's centroid. :func:`samples_by_factor` chooses
``h`` so that the count falls by a given factor.

Pure float64 numpy and scipy. The grid is axis-aligned, so the samples depend on how the
mesh is placed in space (not only on its shape); everything built on them (the coarse mesh,
its frames and connection) is intrinsic to the coarse mesh.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["voxel_samples", "samples_by_factor", "mesh_edges"]


def mesh_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both endpoints of every face side, once per face side (``[3F]`` each, duplicates kept)."""
    return faces.ravel(), faces[:, [1, 2, 0]].ravel()


def _pieces(pos: np.ndarray, edges: tuple[np.ndarray, np.ndarray], h: float) -> tuple[int, np.ndarray]:
    """Label the vertices by connected piece of (grid cell of side ``h``, mesh edges inside it)."""
    cell = np.floor((pos - pos.min(0)) / h).astype(np.int64)
    dims = cell.max(0) + 1
    key = (cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2]
    a, b = edges
    inside = key[a] == key[b]
    graph = sp.coo_matrix((np.ones(int(inside.sum()), dtype=np.int8), (a[inside], b[inside])),
                          shape=(len(pos), len(pos)))
    return connected_components(graph, directed=False)


def _nearest_to_centroid(pos: np.ndarray, count: int, label: np.ndarray) -> np.ndarray:
    """For each label, its vertex nearest to the label's centroid (ties: lowest index)."""
    size = np.bincount(label, minlength=count)
    centroid = np.stack([np.bincount(label, weights=pos[:, d], minlength=count) for d in range(3)], 1)
    centroid /= size[:, None]
    distance = np.einsum("vd,vd->v", pos - centroid[label], pos - centroid[label])
    order = np.lexsort((np.arange(len(pos)), distance, label))
    first = np.r_[0, np.cumsum(size)[:-1]]
    return np.sort(order[first])


def voxel_samples(pos: np.ndarray, faces: np.ndarray, h: float) -> np.ndarray:
    """One vertex per connected piece of every grid cell of side ``h`` (see module docstring).

    Every connected component keeps at least one vertex, and so does a vertex no face uses.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns sorted vertex indices ``[S]``.
    """
    if not h > 0:
        raise ValueError(f"voxel_samples needs a positive cell size, got {h}.")
    count, label = _pieces(pos, mesh_edges(faces), h)
    return _nearest_to_centroid(pos, count, label)


def samples_by_factor(pos: np.ndarray, faces: np.ndarray, factor: float = 4.0, tries: int = 8) -> tuple[np.ndarray, float]:
    """:func:`voxel_samples` with the cell size that keeps about ``1 / factor`` of the vertices.

    The count of samples falls about as ``h^-2`` on a surface; starting from ``sqrt(factor)``
    mean edge lengths, ``h`` is corrected by ``sqrt(count / target)`` until the count is within
    10% of the target (or after ``tries`` steps; the closest is returned).

    Returns:
        ``(samples, h)``: sorted vertex indices ``[S]`` and the cell size used.
    """
    if not factor > 1:
        raise ValueError(f"samples_by_factor needs factor > 1, got {factor}.")
    a, b = mesh_edges(faces)
    target = max(1.0, len(pos) / factor)
    lengths = np.linalg.norm(pos[a] - pos[b], axis=1)
    h = float(np.sqrt(factor) * lengths.mean()) if lengths.size and lengths.mean() > 0 else 1.0
    best = None
    for _ in range(tries):
        count, label = _pieces(pos, (a, b), h)
        if best is None or abs(np.log(count / target)) < abs(np.log(best[0] / target)):
            best = (count, label, h)
        if abs(count / target - 1) <= 0.1:
            break
        h *= float(np.clip(np.sqrt(count / target), 0.5, 2.0))
    count, label, h = best
    return _nearest_to_centroid(pos, count, label), h

"""Triangle meshes of the unit sphere: icospheres, latitude-longitude (UV) spheres and
icospheres with jittered vertices, at matching refinement levels.

Pure float64 numpy: every function returns ``(pos, faces)`` as the geometry layer takes
them (``docs/conventions.md``): vertices on the unit sphere, triangles counter-clockwise
seen from outside.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPHERE_FAMILIES", "icosphere", "jittered_icosphere", "mean_edge_length", "sphere_mesh", "uv_sphere"]

#: Mesh families :func:`sphere_mesh` builds.
SPHERE_FAMILIES = ("icosphere", "uv", "jittered")


def icosphere(level: int) -> tuple[np.ndarray, np.ndarray]:
    """The icosahedron subdivided ``level`` times (each triangle into four), projected to
    the unit sphere: ``10 * 4**level + 2`` vertices.

    Shapes:
        returns pos ``[V, 3]`` float64, faces ``[F, 3]`` int64.

    Raises:
        ValueError: ``level`` is negative.
    """
    import trimesh  # a dependency of the package; imported here to keep import time low

    _check_level(level)
    sphere = trimesh.creation.icosphere(subdivisions=level, radius=1.0)
    pos = np.asarray(sphere.vertices, dtype=np.float64)
    return pos / np.linalg.norm(pos, axis=1, keepdims=True), np.asarray(sphere.faces, dtype=np.int64)


def uv_sphere(rings: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """A latitude-longitude sphere: the two poles and ``rings - 1`` circles of latitude of
    ``segments`` vertices each, equally spaced in polar angle and longitude.

    Its triangles are far from equilateral: thin slivers fan out from the poles, and those
    near the equator are twice as wide as tall when ``segments = 2 rings``.

    Shapes:
        returns pos ``[2 + (rings - 1) * segments, 3]``, faces ``[2 * (rings - 1) * segments, 3]``.

    Raises:
        ValueError: ``rings < 2`` or ``segments < 3``.
    """
    if rings < 2 or segments < 3:
        raise ValueError(f"uv_sphere needs rings >= 2 and segments >= 3, got rings={rings}, segments={segments}.")
    polar = np.pi * np.arange(1, rings) / rings
    azimuth = 2 * np.pi * np.arange(segments) / segments
    p, a = np.meshgrid(polar, azimuth, indexing="ij")
    ring_pos = np.stack([np.sin(p) * np.cos(a), np.sin(p) * np.sin(a), np.cos(p)], -1).reshape(-1, 3)
    pos = np.concatenate([[[0.0, 0.0, 1.0]], ring_pos, [[0.0, 0.0, -1.0]]])
    south = len(pos) - 1
    ring = 1 + np.arange(rings - 1)[:, None] * segments + np.arange(segments)[None]  # [rings - 1, segments]
    nxt = np.roll(ring, -1, axis=1)
    top = np.stack([np.zeros(segments, dtype=np.int64), ring[0], nxt[0]], 1)
    bottom = np.stack([np.full(segments, south), nxt[-1], ring[-1]], 1)
    upper, lower = ring[:-1], ring[1:]
    quads_a = np.stack([upper, lower, nxt[1:]], -1).reshape(-1, 3)
    quads_b = np.stack([upper, nxt[1:], nxt[:-1]], -1).reshape(-1, 3)
    faces = np.concatenate([top, quads_a, quads_b, bottom]).astype(np.int64)
    return pos, faces


def jittered_icosphere(level: int, jitter: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An :func:`icosphere` whose vertices are moved along the sphere by up to ``jitter``
    times the mean edge length, uniformly in a tangent square, then projected back.

    Irregular valences are kept, but no two vertices see the same neighbourhood: a mesh
    with no symmetry at all. ``jitter <= 0.25`` flips no triangle.

    Shapes:
        returns pos ``[V, 3]``, faces ``[F, 3]`` as :func:`icosphere`.

    Raises:
        ValueError: ``level`` is negative or ``jitter`` outside ``[0, 0.25]``.
    """
    if not 0.0 <= jitter <= 0.25:
        raise ValueError(f"jitter must lie in [0, 0.25] (a fraction of the edge length), got {jitter}.")
    pos, faces = icosphere(level)
    rng = np.random.default_rng(seed)
    helper = np.where(np.abs(pos[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(pos, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(pos, u)
    step = jitter * mean_edge_length(pos, faces) * rng.uniform(-1.0, 1.0, (len(pos), 2))
    moved = pos + step[:, :1] * u + step[:, 1:] * v
    return moved / np.linalg.norm(moved, axis=1, keepdims=True), faces


def sphere_mesh(family: str, level: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A sphere mesh of ``family`` (one of :data:`SPHERE_FAMILIES`) at refinement ``level``.

    Levels of different families have mean edge lengths within 20% of each other, about
    ``1.2 / 2**level``, halving from one level to the next: the icosphere is subdivided
    ``level`` times, the UV sphere has ``3 * 2**level`` rings of ``6 * 2**level`` segments
    (meridian edges ``pi / (3 * 2**level)``), and ``"jittered"`` is
    :func:`jittered_icosphere` with the default jitter and ``seed``.

    Shapes:
        returns pos ``[V, 3]`` float64, faces ``[F, 3]`` int64.

    Raises:
        ValueError: unknown ``family`` or negative ``level``.
    """
    _check_level(level)
    if family == "icosphere":
        return icosphere(level)
    if family == "uv":
        return uv_sphere(3 * 2**level, 6 * 2**level)
    if family == "jittered":
        return jittered_icosphere(level, seed=seed)
    raise ValueError(f"unknown sphere family {family!r}; choose one of {SPHERE_FAMILIES}.")


def mean_edge_length(pos: np.ndarray, faces: np.ndarray) -> float:
    """Mean length of the (undirected) edges of the mesh.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``.
    """
    pairs = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    pairs = np.unique(pairs, axis=0)
    return float(np.linalg.norm(pos[pairs[:, 0]] - pos[pairs[:, 1]], axis=1).mean())


def _check_level(level: int) -> None:
    if int(level) != level or level < 0:
        raise ValueError(f"refinement level must be a non-negative integer, got {level!r}.")

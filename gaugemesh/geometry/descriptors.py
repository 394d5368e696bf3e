"""Intrinsic per-vertex descriptors: heat kernel signature and curvatures.

Pure float64 numpy functions of ``(pos, faces)``, evaluated on every connected component as
a mesh of its own (:func:`gaugemesh.geometry.components.per_component`). Lengths are measured
in units of ``sqrt(component area)``, so every descriptor is scale invariant: a mesh and a
scaled copy get the same numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gaugemesh.geometry.components import Spectrum, per_component, spectrum_of
from gaugemesh.geometry.laplacian import cotan_laplacian, lumped_mass
from gaugemesh.geometry.measures import corner_angles, face_areas, vertex_normals
from gaugemesh.geometry.topology import boundary_vertices

__all__ = ["HKS_TIMES", "FEATURELESS", "FEATURELESS_HKS", "hks_times", "heat_kernel_signature", "hks",
           "component_hks", "mean_curvature", "gaussian_curvature", "curvature_features",
           "diffused_curvature_features"]

#: Default range of diffusion times, in units of the component's area (``t = tau * A``): from
#: where 128 eigenpairs still resolve the kernel to where it has spread over a body-sized part.
HKS_TIMES = (5e-3, 0.5)

# The featureless values of a component too small or degenerate to evaluate. HKS 1: every
# HKS column has area-weighted mean 1, and 1 is exactly the HKS of a spectrum cut down to its
# constant mode (the t -> oo limit), so such a piece looks like an average point, not an
# outlier. Gradient 0: the gradient of that constant. Curvature 0 (arcsinh 0): flat.
FEATURELESS_HKS = 1.0
FEATURELESS = 0.0


def hks_times(count: int, t_range: tuple[float, float] = HKS_TIMES) -> np.ndarray:
    """``count`` log-spaced diffusion times ``tau`` (units of the component's area), ``[count]``."""
    if count < 1:
        raise ValueError(f"the number of HKS times must be positive, got {count}.")
    lo, hi = t_range
    if not 0 < lo <= hi:
        raise ValueError(f"HKS time range must satisfy 0 < t_min <= t_max, got {t_range}.")
    return np.geomspace(lo, hi, count)


def heat_kernel_signature(evals: np.ndarray, evecs: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``k_t(x, x) = sum_i exp(-lambda_i t) phi_i(x)^2`` from a spectrum.

    Shapes:
        evals: ``[K]``; evecs: ``[V, K]``; times: ``[T]``; returns ``[V, T]``.
    """
    return (evecs**2) @ np.exp(-np.outer(evals, times))


def hks(
    pos: np.ndarray,
    faces: np.ndarray,
    count: int = 16,
    k: int = 128,
    t_range: tuple[float, float] = HKS_TIMES,
    spectra: Sequence[Spectrum | None] | None = None,
) -> np.ndarray:
    """Scale-invariant heat kernel signature, normalised by the heat trace, per component.

    On every connected component: its spectrum is rescaled to a component of unit area and
    times are ``hks_times``; each column is divided by the component's (truncated) heat trace
    ``sum_i exp(-lambda_i t)``, so that its area-weighted mean over the component is one.
    Invariant to rigid motion, scale, vertex order and the other components. Components
    below :data:`MIN_COMPONENT_VERTICES` or without area get 1.

    Args:
        pos: Vertex positions.
        faces: Triangles.
        count: Number of diffusion times.
        k: Number of eigenpairs of the Laplacian, per component.
        t_range: Smallest and largest time, in units of the component's area.
        spectra: ``component_spectra(pos, faces, k)`` if already computed.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[V, count]``.
    """
    times = hks_times(count, t_range)
    return per_component(lambda c: component_hks(c.pos, c.faces, times, spectrum_of(c, k, spectra)),
                         pos, faces, (count,), fill=FEATURELESS_HKS)


def component_hks(pos: np.ndarray, faces: np.ndarray, times: np.ndarray, spectrum: Spectrum) -> np.ndarray:
    """:func:`hks` of a connected mesh, from its spectrum."""
    evals, evecs = spectrum
    area = float(face_areas(pos, faces).sum())
    # Unit-area units: lambda scales as 1/A, M-normalised eigenvectors as 1/sqrt(A).
    evals, evecs = evals * area, evecs * np.sqrt(area)
    trace = np.exp(-np.outer(evals, times)).sum(axis=0)
    return heat_kernel_signature(evals, evecs, times) / trace


def mean_curvature(pos: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """Mean curvature ``H`` from the cotan Laplacian of the positions: ``L x / (2 M) = H n``.

    Positive where the surface bends away from its normal (a sphere with outward normals).
    Boundary vertices carry the boundary's own curvature, as with any cotan formula.

    Args:
        pos: Vertex positions.
        faces: Triangles.
        normals: The normals whose side fixes the sign (unit, ``[V, 3]``); by default the
            angle-weighted normals of the faces' windings. A non-orientable mesh has no
            consistent windings: pass the normals of its O(2) frames (each vertex's local
            orientation), which makes ``H`` a pseudo-scalar. ``L x`` itself does not depend
            on the windings.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[V]`` (units 1 / length).
    """
    hn = cotan_laplacian(pos, faces) @ pos / (2.0 * lumped_mass(pos, faces))[:, None]
    return np.einsum("vd,vd->v", hn, vertex_normals(pos, faces) if normals is None else normals)


def gaussian_curvature(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Gaussian curvature from the angle defect: ``(2 pi - sum of angles) / vertex area``.

    Boundary vertices get zero (their defect measures the boundary's turning, not ``K``).

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[V]`` (units 1 / length^2).
    """
    angle_sum = np.bincount(faces.ravel(), weights=corner_angles(pos, faces).ravel(), minlength=len(pos))
    curvature = (2 * np.pi - angle_sum) / lumped_mass(pos, faces)
    curvature[boundary_vertices(faces, len(pos))] = 0.0
    return curvature


def curvature_features(pos: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """Scale-free mean and Gaussian curvature, compressed with ``arcsinh``, per component.

    Columns: ``arcsinh(H sqrt(A))`` and ``arcsinh(K A / (4 pi))`` with ``A`` the area of the
    vertex's connected component (a round sphere gives ``arcsinh(2 sqrt(pi))`` and
    ``arcsinh(1)``). ``arcsinh`` tames the heavy tails that sharp vertices of coarse meshes
    produce while keeping the sign. Components below :data:`MIN_COMPONENT_VERTICES` or
    without area get 0. ``normals`` sign the mean curvature (see :func:`mean_curvature`).

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; normals: ``[V, 3]``; returns ``[V, 2]``.
    """
    return per_component(lambda c: _component_curvature(c.pos, c.faces, None if normals is None else normals[c.vertices]),
                         pos, faces, (2,), fill=FEATURELESS)


def _component_curvature(pos: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """:func:`curvature_features` of a connected mesh."""
    return np.arcsinh(_scale_free_curvatures(pos, faces, normals))


def _scale_free_curvatures(pos: np.ndarray, faces: np.ndarray, normals: np.ndarray | None) -> np.ndarray:
    """``H sqrt(A)`` and ``K A / (4 pi)`` of a connected mesh of area ``A``, ``[V, 2]``."""
    area = float(face_areas(pos, faces).sum())
    h = mean_curvature(pos, faces, normals) * np.sqrt(area)
    k = gaussian_curvature(pos, faces) * area / (4 * np.pi)
    return np.stack([h, k], axis=1)


def diffused_curvature_features(
    pos: np.ndarray,
    faces: np.ndarray,
    time: float = HKS_TIMES[0],
    k: int = 128,
    normals: np.ndarray | None = None,
    spectra: Sequence[Spectrum | None] | None = None,
) -> np.ndarray:
    """:func:`curvature_features` diffused by heat for ``time``: curvature at a surface scale.

    Pointwise curvatures are as fine as the mesh: a staircase (marching cubes of a
    voxelisation) or noise puts large values of both signs at neighbouring vertices, and the
    same body meshed twice gets different numbers. Here the curvature measures ``H dA`` and
    ``K dA`` are diffused with the heat kernel of the component's first ``k`` eigenpairs, which
    averages them over a disc of radius about ``sqrt(4 time A)``; the total of each is kept
    (the total Gaussian curvature stays ``2 pi chi``), only resolved at the heat's scale. Same
    units, signs, compression and per-component handling as :func:`curvature_features`.

    Args:
        pos: Vertex positions.
        faces: Triangles.
        time: Diffusion time in units of the component's area; the default, the smallest HKS
            time, is the finest scale ``k = 128`` eigenpairs resolve.
        k: Number of eigenpairs, per component.
        normals: As in :func:`mean_curvature`.
        spectra: ``component_spectra(pos, faces, k)`` if already computed.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; normals: ``[V, 3]``; returns ``[V, 2]``.
    """
    if not time > 0:
        raise ValueError(f"the diffusion time must be positive, got {time}.")

    def component(c):
        c_normals = None if normals is None else normals[c.vertices]
        return _component_diffused_curvature(c.pos, c.faces, time, spectrum_of(c, k, spectra), c_normals)

    return per_component(component, pos, faces, (2,), fill=FEATURELESS)


def _component_diffused_curvature(pos: np.ndarray, faces: np.ndarray, time: float, spectrum: Spectrum,
                                  normals: np.ndarray | None) -> np.ndarray:
    """:func:`diffused_curvature_features` of a connected mesh, from its spectrum."""
    evals, evecs = spectrum
    area = float(face_areas(pos, faces).sum())
    density = _scale_free_curvatures(pos, faces, normals)
    # heat flow of a density f for time t: sum_i exp(-lambda_i t) phi_i <phi_i, f>_M
    coefficients = evecs.T @ (lumped_mass(pos, faces)[:, None] * density)
    return np.arcsinh(evecs @ (np.exp(-evals * time * area)[:, None] * coefficients))

"""Intrinsic input features of a mesh: heat kernel signature, curvatures, HKS gradients.

Pure float64 numpy functions of ``(pos, faces)`` (and, for tangent vectors, the vertex
frames). Every feature here is scale invariant: lengths are measured in units of
``sqrt(total area)``, so a mesh and a scaled copy get the same numbers.
"""

from __future__ import annotations

import numpy as np

from gaugemesh.geometry.laplacian import cotan_laplacian, laplace_spectrum, lumped_mass
from gaugemesh.geometry.measures import corner_angles, face_areas, face_normals, vertex_normals
from gaugemesh.topology import boundary_vertices

__all__ = [
    "HKS_TIMES",
    "hks_times",
    "heat_kernel_signature",
    "hks",
    "mean_curvature",
    "gaussian_curvature",
    "curvature_features",
    "face_gradients",
    "vertex_gradients",
    "hks_gradient",
]

#: Default range of diffusion times, in units of the total area (``t = tau * A``): from
#: where 128 eigenpairs still resolve the kernel to where it has spread over a body-sized part.
HKS_TIMES = (5e-3, 0.5)


def hks_times(count: int, t_range: tuple[float, float] = HKS_TIMES) -> np.ndarray:
    """``count`` log-spaced diffusion times ``tau`` (units of total area), ``[count]``."""
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
    spectrum: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Scale-invariant heat kernel signature, normalised by the heat trace.

    The spectrum is rescaled to a mesh of unit total area and times are ``hks_times``;
    each column is divided by the (truncated) heat trace ``sum_i exp(-lambda_i t)``, so that
    its area-weighted mean is one. Invariant to rigid motion, scale and vertex order.

    Args:
        pos: Vertex positions.
        faces: Triangles.
        count: Number of diffusion times.
        k: Number of eigenpairs of the Laplacian.
        t_range: Smallest and largest time, in units of the total area.
        spectrum: ``laplace_spectrum(pos, faces, k)`` if already computed.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[V, count]``.
    """
    evals, evecs = laplace_spectrum(pos, faces, k) if spectrum is None else spectrum
    area = float(face_areas(pos, faces).sum())
    # Unit-area units: lambda scales as 1/A, M-normalised eigenvectors as 1/sqrt(A).
    evals, evecs = evals * area, evecs * np.sqrt(area)
    times = hks_times(count, t_range)
    trace = np.exp(-np.outer(evals, times)).sum(axis=0)
    return heat_kernel_signature(evals, evecs, times) / trace


def mean_curvature(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Mean curvature ``H`` from the cotan Laplacian of the positions: ``L x / (2 M) = H n``.

    Positive where the surface bends away from its normal (a sphere with outward normals).
    Boundary vertices carry the boundary's own curvature, as with any cotan formula.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[V]`` (units 1 / length).
    """
    hn = cotan_laplacian(pos, faces) @ pos / (2.0 * lumped_mass(pos, faces))[:, None]
    return np.einsum("vd,vd->v", hn, vertex_normals(pos, faces))


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


def curvature_features(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Scale-free mean and Gaussian curvature, compressed with ``arcsinh``.

    Columns: ``arcsinh(H sqrt(A))`` and ``arcsinh(K A / (4 pi))`` with ``A`` the total area
    (a round sphere gives ``arcsinh(2 sqrt(pi))`` and ``arcsinh(1)``). ``arcsinh`` tames the
    heavy tails that sharp vertices of coarse meshes produce while keeping the sign.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[V, 2]``.
    """
    area = float(face_areas(pos, faces).sum())
    h = mean_curvature(pos, faces) * np.sqrt(area)
    k = gaussian_curvature(pos, faces) * area / (4 * np.pi)
    return np.arcsinh(np.stack([h, k], axis=1))


def face_gradients(pos: np.ndarray, faces: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Gradient of the piecewise-linear interpolant of vertex values, per face.

    ``grad f = sum_k f_k (n x e_k) / (2 area)`` with ``e_k`` the edge opposite corner ``k``,
    traversed counter-clockwise.

    Shapes:
        values: ``[V, C]``; returns ``[F, C, 3]`` (vectors in the face plane).
    """
    p = pos[faces]
    opposite = np.roll(p, -2, axis=1) - np.roll(p, -1, axis=1)  # e_k = p_{k+2} - p_{k+1}
    n = face_normals(pos, faces)
    rotated = np.cross(n[:, None, :], opposite)  # [F, 3, 3]
    twice_area = np.maximum(2.0 * face_areas(pos, faces), np.finfo(float).tiny)
    return np.einsum("fkc,fkd->fcd", values[faces], rotated) / twice_area[:, None, None]


def vertex_gradients(pos: np.ndarray, faces: np.ndarray, values: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Per-vertex gradients as order-1 tangent vectors in the vertex frames.

    Area-weighted average of the incident face gradients, projected to the tangent plane
    and written as ``(g . e1_i, g . e2_i)``. Rotating the frame at ``i`` by ``+phi`` turns
    the pair into ``rho(-phi)`` times itself.

    Shapes:
        values: ``[V, C]``; frame: ``[V, 3, 3]`` (rows ``e1, e2, n``); returns ``[V, C, 2]``.
    """
    grad = face_gradients(pos, faces, values) * face_areas(pos, faces)[:, None, None]
    total = np.zeros((len(pos),) + grad.shape[1:])
    for k in range(3):
        np.add.at(total, faces[:, k], grad)
    total /= 3.0 * lumped_mass(pos, faces)[:, None, None]
    # Dotting with e1 and e2 drops the normal component: the projection to the tangent plane.
    return np.einsum("vcd,vkd->vck", total, frame[:, :2, :])


def hks_gradient(
    pos: np.ndarray,
    faces: np.ndarray,
    frame: np.ndarray,
    count: int = 4,
    k: int = 128,
    t_range: tuple[float, float] = HKS_TIMES,
    spectrum: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Gradient of the HKS at ``count`` times, in the vertex frames, in units of ``sqrt(A)``.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; frame: ``[V, 3, 3]``; returns ``[V, count, 2]``.
    """
    signature = hks(pos, faces, count=count, k=k, t_range=t_range, spectrum=spectrum)
    area = float(face_areas(pos, faces).sum())
    return vertex_gradients(pos, faces, signature, frame) * np.sqrt(area)

"""The cotan Laplacian and the lumped mass matrix of a triangle mesh.

Pure float64 numpy / scipy functions of ``(pos, faces)``. Sign convention: ``L`` is positive
semidefinite, ``(L f)_i = sum_j w_ij (f_i - f_j)`` with ``w_ij = (cot a_ij + cot b_ij) / 2``,
the angles opposite edge ``ij``. The Laplace-Beltrami operator is then ``-M^{-1} L``, and its
eigenpairs solve ``L phi = lambda M phi`` with ``lambda >= 0``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

from gaugemesh.geometry.measures import vertex_areas

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # optional: without it ARPACK runs with the default number of BLAS threads
    threadpool_limits = None

__all__ = ["cotangents", "cotan_weights", "cotan_laplacian", "lumped_mass", "laplace_spectrum", "DENSE_EIGEN_BELOW"]

# Cotangents are clamped to this magnitude: a near-degenerate triangle (an angle of ~1e-6
# rad) would otherwise put a weight of 1e6 on one edge and wreck the conditioning of every
# eigensolve, while contributing nothing geometric that a clamp loses.
COT_CLAMP = 1e5

#: Meshes with fewer vertices use a dense generalized eigensolver: fast enough there,
#: and it cannot fail to converge.
DENSE_EIGEN_BELOW = 400

# The largest mesh the dense fallback takes on when ARPACK fails (memory grows as V^2).
_DENSE_FALLBACK_MAX = 8000

# Relative shift added to L (``L + eps M``) so that shift-invert at 0 factors a
# nonsingular matrix even with several components (one zero eigenvalue each).
_SHIFT = 1e-8


def cotangents(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Cotangent of the interior angle at every corner, clamped to ``[-COT_CLAMP, COT_CLAMP]``.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[F, 3]`` (corner ``k`` of face ``f``
        is at vertex ``faces[f, k]``).
    """
    p = pos[faces]
    a = np.roll(p, -1, axis=1) - p
    b = np.roll(p, -2, axis=1) - p
    dot = np.einsum("fkd,fkd->fk", a, b)
    cross = np.linalg.norm(np.cross(a, b), axis=2)
    # dot / cross, with the cross product floored relative to the edge lengths.
    floor = np.linalg.norm(a, axis=2) * np.linalg.norm(b, axis=2) / COT_CLAMP
    return np.clip(dot / np.maximum(cross, np.maximum(floor, np.finfo(float).tiny)), -COT_CLAMP, COT_CLAMP)


def cotan_weights(pos: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-corner contributions to the edge weights: ``(i, j, w)``.

    The corner at vertex ``k`` of a face contributes ``cot(angle_k) / 2`` to the edge opposite
    it, ``(i, j)``. Summing duplicates (as ``scipy.sparse`` does) gives ``w_ij``.

    Shapes:
        returns three ``[3 F]`` arrays.
    """
    half_cot = 0.5 * cotangents(pos, faces)
    i = faces[:, [1, 2, 0]].ravel()
    j = faces[:, [2, 0, 1]].ravel()
    return i, j, half_cot.ravel()


def cotan_laplacian(pos: np.ndarray, faces: np.ndarray) -> sp.csr_matrix:
    """The positive semidefinite cotan Laplacian ``L`` (stiffness matrix), float64 CSR.

    Symmetric, rows sum to zero, constants in its kernel (one per connected component).
    Unreferenced vertices get empty rows.

    Args:
        pos: Vertex positions.
        faces: Triangles (any orientation; the cotan weights do not depend on it).

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[V, V]``.
    """
    pos = np.asarray(pos, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    n = len(pos)
    i, j, w = cotan_weights(pos, faces)
    off = sp.coo_matrix((-w, (i, j)), shape=(n, n))
    off = off + off.T
    diag = -np.asarray(off.sum(axis=1)).ravel()
    return (off + sp.diags(diag)).tocsr()


def lumped_mass(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The lumped (barycentric) mass matrix diagonal: a third of each incident face's area.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; returns ``[V]``, summing to the total area.
    """
    return vertex_areas(np.asarray(pos, dtype=np.float64), np.asarray(faces, dtype=np.int64))


def _one_blas_thread():
    """ARPACK's Lanczos steps are many small BLAS-2 calls: threading them made a 15k-vertex
    eigensolve 7x slower on 2 cores (13.5 s vs 1.8 s). Results do not change."""
    return threadpool_limits(1, user_api="blas") if threadpool_limits is not None else contextlib.nullcontext()


def _dense_spectrum(stiff: sp.spmatrix, mass: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    return scipy.linalg.eigh(stiff.toarray(), np.diag(mass), subset_by_index=[0, k - 1])


def laplace_spectrum(pos: np.ndarray, faces: np.ndarray, k: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest eigenpairs of ``L phi = lambda M phi`` (cotan ``L``, lumped ``M``).

    ARPACK in shift-invert mode on ``L + eps M`` (nonsingular even with several components
    or a near-degenerate mesh); small meshes, and ARPACK failures on meshes up to
    ``8000`` vertices, use a dense solver instead.

    Args:
        pos: Vertex positions.
        faces: Triangles.
        k: Number of eigenpairs; capped at ``V``.

    Returns:
        ``(evals, evecs)``: ascending eigenvalues ``>= 0`` and ``M``-orthonormal eigenvectors.

    Raises:
        ValueError: a vertex without area (unreferenced), or ``k < 1``.
        RuntimeError: the sparse solver failed on a large mesh; the message says what to try.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; evals: ``[k]``; evecs: ``[V, k]``.
    """
    stiff = cotan_laplacian(pos, faces)
    mass = lumped_mass(pos, faces)
    n = len(mass)
    if k < 1:
        raise ValueError(f"k must be a positive number of eigenpairs, got {k}.")
    if np.any(mass <= 0):
        raise ValueError(f"{int(np.sum(mass <= 0))} vertices have no area (unreferenced?); "
                         "validate the mesh with gaugemesh.validate_mesh first.")
    k = min(k, n)
    eps = _SHIFT * float(stiff.diagonal().sum() / mass.sum())
    shifted = (stiff + sp.diags(eps * mass)).tocsc()
    if n < DENSE_EIGEN_BELOW or k >= n - 1:
        evals, evecs = _dense_spectrum(shifted, mass, k)
    else:
        try:
            with _one_blas_thread():
                evals, evecs = scipy.sparse.linalg.eigsh(shifted, k=k, M=sp.diags(mass).tocsc(), sigma=0.0, which="LM")
        except (RuntimeError, scipy.sparse.linalg.ArpackError) as exc:
            if n > _DENSE_FALLBACK_MAX:
                raise RuntimeError(
                    f"eigsh failed on a mesh with {n} vertices ({exc}). The mesh may be nearly "
                    "degenerate: load it with repair=True, remesh it, or ask for fewer eigenpairs."
                ) from exc
            evals, evecs = _dense_spectrum(shifted, mass, k)
    order = np.argsort(evals)
    return np.maximum(evals[order] - eps, 0.0), evecs[:, order]

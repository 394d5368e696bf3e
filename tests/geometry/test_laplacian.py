"""Cotan Laplacian and lumped mass: the algebraic laws, the flat-grid stencil, the spectrum."""

import numpy as np
import pytest

from gaugemesh.geometry import laplacian
from gaugemesh.geometry.laplacian import COT_CLAMP, cotan_laplacian, laplace_spectrum, lumped_mass
from gaugemesh.geometry.measures import face_areas
from tests.conftest import grid, icosphere


def _bumpy(mesh):
    pos, faces = mesh
    return pos * (1 + 0.2 * np.sin(3 * pos[:, [0]])), faces


def _meshes():
    yield "sphere", icosphere(2)
    yield "jittered grid", grid(7, jitter=0.3, seed=1)
    pos, faces = icosphere(1)
    yield "two spheres", (np.concatenate([pos, pos + 3.0]), np.concatenate([faces, faces + len(pos)]))


@pytest.mark.parametrize("name,mesh", list(_meshes()), ids=lambda v: v if isinstance(v, str) else "")
def test_symmetric_zero_row_sums_psd_constant_kernel(name, mesh):
    pos, faces = mesh
    L = cotan_laplacian(pos, faces).toarray()
    np.testing.assert_allclose(L, L.T, atol=1e-12)
    np.testing.assert_allclose(L.sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(L @ np.ones(len(pos)), 0.0, atol=1e-12)
    evals = np.linalg.eigvalsh(L)
    assert evals.min() > -1e-10 * evals.max()
    assert (np.diag(L) > 0).all()


def test_flat_right_triangle_grid_gives_the_five_point_stencil():
    n = 6
    pos, faces = grid(n)
    L = cotan_laplacian(pos, faces).toarray()
    idx = np.arange(n * n).reshape(n, n)
    for i in idx[1:-1, 1:-1].ravel():
        row = L[i]
        expected = np.zeros(n * n)
        expected[i] = 4.0
        expected[[i - 1, i + 1, i - n, i + n]] = -1.0  # the diagonals get cot(90 deg) = 0
        np.testing.assert_allclose(row, expected, atol=1e-12)


def test_linear_functions_are_harmonic_at_interior_vertices_of_a_jittered_plane():
    n = 7
    pos, faces = grid(n, jitter=0.3, seed=4)
    interior = np.arange(n * n).reshape(n, n)[1:-1, 1:-1].ravel()
    L = cotan_laplacian(pos, faces)
    np.testing.assert_allclose((L @ (pos @ [0.7, -1.3, 0.0]))[interior], 0.0, atol=1e-12)


def test_lumped_mass_sums_to_area():
    pos, faces = icosphere(2)
    np.testing.assert_allclose(lumped_mass(pos, faces).sum(), face_areas(pos, faces).sum(), rtol=1e-14)


def test_sphere_spectrum_multiplicities_and_scaling():
    pos, faces = icosphere(4)
    evals, evecs = laplace_spectrum(pos * 2.0, faces, k=9)
    # l(l+1)/R^2 with R = 2: 0, 0.5 (x3), 1.5 (x5), to discretisation error.
    np.testing.assert_allclose(evals, [0] + [0.5] * 3 + [1.5] * 5, atol=0.02)
    mass = lumped_mass(pos * 2.0, faces)
    np.testing.assert_allclose(evecs.T @ (mass[:, None] * evecs), np.eye(9), atol=1e-8)


def test_sparse_and_dense_solvers_agree(monkeypatch):
    pos, faces = _bumpy(icosphere(2))
    monkeypatch.setattr(laplacian, "DENSE_EIGEN_BELOW", 0)
    sparse = laplace_spectrum(pos, faces, k=12)[0]
    monkeypatch.setattr(laplacian, "DENSE_EIGEN_BELOW", 10**9)
    dense = laplace_spectrum(pos, faces, k=12)[0]
    np.testing.assert_allclose(sparse, dense, atol=1e-8)


def test_several_components_give_one_zero_eigenvalue_each():
    pos, faces = icosphere(3)
    both = np.concatenate([pos, 2 * pos + 5.0]), np.concatenate([faces, faces + len(pos)])
    evals = laplace_spectrum(*both, k=4)[0]
    assert np.all(np.abs(evals[:2]) < 1e-8) and evals[2] > 0.1


def test_near_degenerate_mesh_gives_a_finite_spectrum():
    pos, faces = icosphere(3)
    pos = pos.copy()
    # Move a vertex almost onto the segment between two neighbours: angles of ~1e-9 rad.
    a, b, c = faces[0]
    pos[c] = 0.5 * (pos[a] + pos[b]) + 1e-9 * (pos[c] - 0.5 * (pos[a] + pos[b]))
    evals, evecs = laplace_spectrum(pos, faces, k=10)
    assert np.all(np.isfinite(evals)) and np.all(np.isfinite(evecs))
    assert abs(evals[0]) < 1e-6 and evals[1] > 0


def test_bad_input_is_explained():
    pos, faces = icosphere(1)
    with pytest.raises(ValueError, match="no area"):
        laplace_spectrum(np.concatenate([pos, [[9.0, 9.0, 9.0]]]), faces, k=4)
    with pytest.raises(ValueError, match="positive"):
        laplace_spectrum(pos, faces, k=0)


def test_agrees_with_potpourri3d_and_clamps_what_it_does_not():
    """Kept beside potpourri3d for two measured reasons (docs/architecture.md): 1.3x faster at
    164k vertices, and needle triangles get clamped weights instead of 5e11."""
    pp3d = pytest.importorskip("potpourri3d")
    pos, faces = icosphere(3)
    pos = pos * (1 + 0.1 * np.random.default_rng(0).standard_normal((len(pos), 1)))
    assert abs(cotan_laplacian(pos, faces) - pp3d.cotan_laplacian(pos, faces)).max() < 1e-12
    np.testing.assert_allclose(lumped_mass(pos, faces), pp3d.vertex_areas(pos, faces), rtol=1e-12)
    needle = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0.5, -1e-12, 0]], dtype=float)
    faces = np.array([[0, 1, 2], [1, 3, 2], [0, 4, 1]])
    assert abs(pp3d.cotan_laplacian(needle, faces)).max() > 1e11
    assert abs(cotan_laplacian(needle, faces)).max() <= COT_CLAMP

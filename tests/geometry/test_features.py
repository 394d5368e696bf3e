"""HKS, curvatures and HKS gradients: invariances, exact cases, and the gauge law."""

import numpy as np
import pytest

from gaugemesh.geometry import frame_field, rotate_frames
from gaugemesh.geometry.features import (
    curvature_features,
    face_gradients,
    gaussian_curvature,
    hks,
    hks_gradient,
    mean_curvature,
    vertex_gradients,
)
from gaugemesh.geometry.laplacian import lumped_mass
from tests.conftest import grid, icosphere


def _bumpy_sphere(subdivisions=3, seed=0):
    pos, faces = icosphere(subdivisions)
    rng = np.random.default_rng(seed)
    # A smooth, non-symmetric deformation so the HKS is not constant.
    radial = 1.0 + 0.2 * np.sin(3 * pos[:, 0]) * np.cos(2 * pos[:, 1]) + 0.05 * rng.standard_normal(3).sum()
    return pos * radial[:, None] * [1.3, 1.0, 0.8], faces


def _rotation(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_hks_is_invariant_to_rigid_motion_and_scale():
    pos, faces = _bumpy_sphere()
    reference = hks(pos, faces, count=8, k=48)
    moved = 2.5 * pos @ _rotation(1).T + [3.0, -1.0, 7.0]
    np.testing.assert_allclose(hks(moved, faces, count=8, k=48), reference, atol=1e-7)
    assert reference.std(axis=0).max() > 1e-2  # not trivially constant


def test_hks_follows_a_vertex_permutation():
    pos, faces = _bumpy_sphere()
    perm = np.random.default_rng(2).permutation(len(pos))
    inverse = np.argsort(perm)
    # New vertex v is old vertex perm[v]; faces are renumbered and shuffled.
    permuted = hks(pos[perm], inverse[faces][np.random.default_rng(3).permutation(len(faces))], count=8, k=48)
    np.testing.assert_allclose(permuted[inverse], hks(pos, faces, count=8, k=48), atol=1e-7)


def test_hks_has_unit_area_weighted_mean():
    pos, faces = _bumpy_sphere()
    mass = lumped_mass(pos, faces)
    np.testing.assert_allclose(mass @ hks(pos, faces, count=5, k=48) / mass.sum(), 1.0, atol=1e-10)


def test_face_gradient_of_a_linear_function_is_its_tangential_part():
    pos, faces = _bumpy_sphere(2)
    a = np.array([0.3, -1.0, 0.5])
    grad = face_gradients(pos, faces, (pos @ a)[:, None])[:, 0]
    n = np.cross(pos[faces[:, 1]] - pos[faces[:, 0]], pos[faces[:, 2]] - pos[faces[:, 0]])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    np.testing.assert_allclose(grad, a - (n @ a)[:, None] * n, atol=1e-12)


def test_vertex_gradient_on_a_plane_is_exact_in_the_frame():
    pos, faces = grid(6, jitter=0.2, seed=5)
    frame = frame_field(pos, faces, frames="random", seed=1).frame
    a = np.array([0.7, -0.4, 0.0])
    got = vertex_gradients(pos, faces, (pos @ a)[:, None], frame)[:, 0]
    np.testing.assert_allclose(got, np.stack([frame[:, 0] @ a, frame[:, 1] @ a], axis=1), atol=1e-12)


def test_hks_gradient_transforms_as_a_tangent_vector_under_a_gauge_change():
    pos, faces = _bumpy_sphere()
    frame = frame_field(pos, faces).frame
    phi = np.random.default_rng(7).uniform(-np.pi, np.pi, len(pos))
    before = hks_gradient(pos, faces, frame, count=3, k=48)
    after = hks_gradient(pos, faces, rotate_frames(frame, phi), count=3, k=48)
    c, s = np.cos(-phi)[:, None], np.sin(-phi)[:, None]
    expected = np.stack([c * before[..., 0] - s * before[..., 1], s * before[..., 0] + c * before[..., 1]], -1)
    np.testing.assert_allclose(after, expected, atol=1e-12)
    assert np.abs(before).max() > 1e-2  # a nonzero field, so the check means something


def test_hks_gradient_is_scale_invariant():
    pos, faces = _bumpy_sphere()
    frame = frame_field(pos, faces).frame
    np.testing.assert_allclose(hks_gradient(3 * pos, faces, frame, k=48), hks_gradient(pos, faces, frame, k=48), atol=1e-7)


def test_sphere_curvatures():
    pos, faces = icosphere(4)
    h, k = mean_curvature(2 * pos, faces), gaussian_curvature(2 * pos, faces)
    # Barycentric areas are exact on average, up to 15% off at the 12 valence-5 vertices.
    np.testing.assert_allclose(np.median(h), 0.5, rtol=0.01)
    np.testing.assert_allclose(np.median(k), 0.25, rtol=0.01)
    np.testing.assert_allclose(h, 0.5, rtol=0.15)
    np.testing.assert_allclose(k, 0.25, rtol=0.15)


def test_gauss_bonnet_and_flat_plane():
    pos, faces = _bumpy_sphere()
    total = gaussian_curvature(pos, faces) @ lumped_mass(pos, faces)
    np.testing.assert_allclose(total, 4 * np.pi, rtol=1e-12)
    pos, faces = grid(6, jitter=0.2)
    interior = np.arange(36).reshape(6, 6)[1:-1, 1:-1].ravel()
    np.testing.assert_allclose(gaussian_curvature(pos, faces), 0.0, atol=1e-12)
    np.testing.assert_allclose(mean_curvature(pos, faces)[interior], 0.0, atol=1e-12)


def test_curvature_features_are_scale_and_rotation_invariant():
    pos, faces = _bumpy_sphere()
    reference = curvature_features(pos, faces)
    np.testing.assert_allclose(curvature_features(0.1 * pos @ _rotation(4).T, faces), reference, atol=1e-9)
    assert reference.std(axis=0).min() > 1e-2
    pos, faces = icosphere(3)
    assert np.all(curvature_features(pos, faces) > 0)  # a sphere bends away from its outward normal


def test_bad_time_ranges_are_explained():
    pos, faces = icosphere(1)
    with pytest.raises(ValueError, match="t_min"):
        hks(pos, faces, t_range=(1.0, 0.1))

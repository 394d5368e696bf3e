"""HKS, curvatures and HKS gradients: invariances, exact cases, and the gauge law."""

import numpy as np
import pytest

from gaugemesh.geometry import frame_field, rotate_frames
from gaugemesh.geometry.components import component_spectra, mesh_components
from gaugemesh.geometry.descriptors import (curvature_features, diffused_curvature_features, gaussian_curvature, hks,
                                            mean_curvature)
from gaugemesh.geometry.gradients import face_gradients, hks_gradient, vertex_gradients
from gaugemesh.geometry.laplacian import laplace_spectrum, lumped_mass
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


def test_diffused_curvature_keeps_the_total_gaussian_curvature():
    pos, faces = _bumpy_sphere()
    mass = lumped_mass(pos, faces)
    area = mass.sum()
    diffused = np.sinh(diffused_curvature_features(pos, faces, k=48))  # scale-free H sqrt(A), K A / (4 pi)
    # The heat flow keeps the constant mode: Gauss-Bonnet, 2 pi chi = 4 pi, survives it.
    np.testing.assert_allclose(mass @ diffused[:, 1] * 4 * np.pi / area, 4 * np.pi, rtol=1e-9)
    pointwise = np.sinh(curvature_features(pos, faces))
    np.testing.assert_allclose(mass @ diffused[:, 0], mass @ pointwise[:, 0], rtol=1e-9)
    assert diffused.std(axis=0).min() > 1e-2  # smoothed, not flattened to a constant


def test_diffused_curvature_is_scale_and_rotation_invariant_and_tends_to_the_pointwise_one():
    pos, faces = _bumpy_sphere()
    reference = diffused_curvature_features(pos, faces, k=48)
    moved = 0.1 * pos @ _rotation(5).T + [1.0, 2.0, -3.0]
    np.testing.assert_allclose(diffused_curvature_features(moved, faces, k=48), reference, atol=1e-9)
    # With every eigenpair and a vanishing time, the heat flow is the identity.
    exact = diffused_curvature_features(pos, faces, time=1e-12, k=len(pos))
    np.testing.assert_allclose(exact, curvature_features(pos, faces), atol=1e-6)


def test_diffused_curvature_shrugs_off_noise_that_pointwise_curvature_does_not():
    pos, faces = _bumpy_sphere(4)
    normals = pos / np.linalg.norm(pos, axis=1, keepdims=True)
    noisy = pos + 0.004 * np.random.default_rng(7).standard_normal(len(pos))[:, None] * normals

    def change(features):
        clean, rough = features(pos, faces), features(noisy, faces)
        return np.abs(rough - clean).mean(axis=0) / clean.std(axis=0)
    pointwise, diffused = change(curvature_features), change(lambda p, f: diffused_curvature_features(p, f, k=128))
    # Measured: the pointwise curvatures move by 2.5 of their standard deviations, the diffused
    # ones by 0.01.
    assert np.all(pointwise > 1.0) and np.all(diffused < 0.05), (pointwise, diffused)


def test_bad_diffusion_times_are_explained():
    pos, faces = icosphere(1)
    with pytest.raises(ValueError, match="diffusion time"):
        diffused_curvature_features(pos, faces, time=0.0)


def test_bad_time_ranges_are_explained():
    pos, faces = icosphere(1)
    with pytest.raises(ValueError, match="t_min"):
        hks(pos, faces, t_range=(1.0, 0.1))


# --- Connected components: every feature sees each one as a mesh of its own (issue 12) ---

_TETRAHEDRON = (np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float),
                np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]]))


def _tiny_pieces():
    """Small stray pieces, 0.02 across, for a body about 2 across."""
    tet_pos, tet_faces = _TETRAHEDRON
    yield "tetrahedron", (0.01 * tet_pos, tet_faces)
    yield "lone triangle", (0.01 * np.eye(3), np.array([[0, 1, 2]]))
    # All four vertices on a line: no area anywhere, so nothing can be normalised by it.
    yield "zero-area piece", (0.01 * np.outer(np.arange(4.0), [1, 1, 1]), np.array([[0, 1, 2], [0, 2, 3]]))
    yield "stray vertex", (np.zeros((1, 3)), np.zeros((0, 3), dtype=np.int64))


def _join(*meshes, offsets=None):
    """One mesh of several pieces, the i-th moved by ``offsets[i]``."""
    offsets = np.zeros(len(meshes)) if offsets is None else offsets
    pos = np.concatenate([p + o for (p, _), o in zip(meshes, offsets)])
    starts = np.cumsum([0] + [len(p) for p, _ in meshes[:-1]])
    return pos, np.concatenate([f + s for (_, f), s in zip(meshes, starts)])


def _all_features(pos, faces, frame):
    spectra = component_spectra(pos, faces, k=48)  # shared by the HKS and its gradient, as in the registry
    return (hks(pos, faces, count=5, k=48, spectra=spectra),
            hks_gradient(pos, faces, frame, count=3, k=48, spectra=spectra), curvature_features(pos, faces),
            diffused_curvature_features(pos, faces, k=48, spectra=spectra))


@pytest.fixture(scope="module")
def body():
    """A bumpy sphere, its frames and its features computed alone."""
    pos, faces = _bumpy_sphere(2)
    frame = frame_field(pos, faces).frame
    return pos, faces, frame, _all_features(pos, faces, frame)


@pytest.mark.parametrize("piece", [m for _, m in _tiny_pieces()], ids=[n for n, _ in _tiny_pieces()])
def test_a_far_away_tiny_piece_changes_nothing_on_the_rest(body, piece):
    pos, faces, frame, alone = body
    both_pos, both_faces = _join((pos, faces), piece, offsets=[0.0, 40.0])
    # The frames of the piece's vertices are inputs like any other; the body keeps its own.
    both_frame = np.concatenate([frame, np.tile(np.eye(3), (len(piece[0]), 1, 1))])
    joined = _all_features(both_pos, both_faces, both_frame)
    for a, b in zip(alone, joined):
        np.testing.assert_allclose(b[: len(pos)], a, rtol=0, atol=1e-10)
        assert np.all(np.isfinite(b[len(pos):]))


def test_too_small_or_degenerate_pieces_get_featureless_values(body):
    pos, faces = body[:2]
    pieces = [m for n, m in _tiny_pieces() if n != "tetrahedron"]
    all_pos, all_faces = _join((pos, faces), *pieces, offsets=[0.0, 10.0, 20.0, 30.0])
    frame = np.tile(np.eye(3), (len(all_pos), 1, 1))
    signature, gradient, curvature, diffused = _all_features(all_pos, all_faces, frame)
    # HKS 1 (the area-weighted mean of every HKS, its t -> oo limit), gradient and curvatures 0.
    assert np.all(signature[len(pos):] == 1.0)
    assert np.all(gradient[len(pos):] == 0.0) and np.all(curvature[len(pos):] == 0.0)
    assert np.all(diffused[len(pos):] == 0.0)


def test_each_of_two_components_equals_that_mesh_on_its_own():
    sphere = _bumpy_sphere(2)
    # A different size, so shared area units would show, and an open surface.
    sheet = grid(7, jitter=0.2, seed=3)
    sheet = (0.3 * sheet[0] + 0.1 * np.sin(sheet[0][:, [1, 0, 2]]), sheet[1])
    pos, faces = _join(sphere, sheet, offsets=[0.0, 5.0])
    # Interleave the two pieces' vertices and shuffle the faces: the split must not rely on order.
    perm = np.random.default_rng(11).permutation(len(pos))
    inverse = np.argsort(perm)
    shuffled_faces = inverse[faces][np.random.default_rng(12).permutation(len(faces))]
    frame = frame_field(pos, faces, frames="random", seed=4).frame
    joined = _all_features(pos[perm], shuffled_faces, frame[perm])
    v = len(sphere[0])
    for piece, vertices in ((sphere, np.arange(v)), ((pos[v:], sheet[1]), np.arange(v, len(pos)))):
        for a, b in zip(_all_features(*piece, frame[vertices]), joined):
            np.testing.assert_allclose(b[inverse][vertices], a, rtol=0, atol=1e-10)


def test_hks_has_unit_area_weighted_mean_on_every_component():
    pos, faces = _join(_bumpy_sphere(2), icosphere(1), offsets=[0.0, 4.0])
    label = np.r_[np.zeros(len(pos) - 42, int), np.ones(42, int)]
    weighted = lumped_mass(pos, faces)[:, None] * hks(pos, faces, count=5, k=48)
    means = np.stack([weighted[label == c].sum(0) for c in (0, 1)]) / np.bincount(
        label, weights=lumped_mass(pos, faces))[:, None]
    np.testing.assert_allclose(means, 1.0, atol=1e-10)


def test_components_are_split_whole_and_spectra_are_one_per_component():
    pos, faces = _join(icosphere(1), _TETRAHEDRON, offsets=[0.0, 5.0])
    perm = np.random.default_rng(5).permutation(len(pos))
    inverse = np.argsort(perm)
    pos, faces = pos[perm], inverse[faces]
    components = mesh_components(pos, faces)
    assert sorted(len(c.vertices) for c in components) == [4, 42]
    assert np.array_equal(np.sort(np.concatenate([c.vertices for c in components])), np.arange(len(pos)))
    # Renumbered faces address the same corners as the original ones.
    rebuilt = np.concatenate([c.pos[c.faces] for c in components])
    original = pos[faces]
    assert np.array_equal(np.sort(rebuilt.reshape(len(faces), -1), 0), np.sort(original.reshape(len(faces), -1), 0))
    # Each component has its own k eigenpairs, capped at what it can have.
    assert [len(s[0]) for s in component_spectra(pos, faces, k=10)] == [min(10, len(c.vertices)) for c in components]
    with pytest.raises(ValueError, match="one \\(evals, evecs\\) per connected component"):
        hks(pos, faces, k=10, spectra=laplace_spectrum(pos, faces, 10))

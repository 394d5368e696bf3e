"""gaugemesh.sphere: meshes, real spherical harmonics, interpolation, and measured SO(3)
equivariance; and the spherical digits' projection (experiments/sphere)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import scipy.special
import torch

from gaugemesh import GemResNet, mesh_to_data, validate_mesh
from gaugemesh.graph import gauge_transform
from gaugemesh.nn import ConvOperators
from gaugemesh.sphere import (
    SPHERE_FAMILIES,
    fit_spherical_harmonics,
    interpolate_on_sphere,
    locate_on_sphere,
    mean_edge_length,
    num_harmonics,
    one_ring_moments,
    random_rotations,
    random_sh_coefficients,
    real_spherical_harmonics,
    rotation_equivariance_errors,
    sh_index,
    sh_signal,
    sphere_data,
    sphere_mesh,
)
from gaugemesh.testing import random_gauge, randomize_parameters


def _points(count: int, seed: int = 0) -> np.ndarray:
    points = np.random.default_rng(seed).standard_normal((count, 3))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


# -- meshes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", SPHERE_FAMILIES)
def test_sphere_meshes_are_outward_unit_spheres(family):
    for level in (0, 1, 2):
        pos, faces = sphere_mesh(family, level)
        mesh = validate_mesh(pos, faces)
        assert mesh.euler_characteristic == 2
        np.testing.assert_array_equal(mesh.faces, faces)  # already wound consistently outward
        np.testing.assert_allclose(np.linalg.norm(pos, axis=1), 1.0, atol=1e-12)
        corners = pos[faces]
        assert (np.linalg.det(corners) > 0).all()  # every triangle faces away from the centre


@pytest.mark.parametrize("family", SPHERE_FAMILIES)
def test_refinement_levels_halve_the_edge_length(family):
    lengths = [mean_edge_length(*sphere_mesh(family, level)) for level in (1, 2, 3)]
    assert 0.45 < lengths[1] / lengths[0] < 0.56 and 0.45 < lengths[2] / lengths[1] < 0.56
    assert 0.8 < lengths[2] * 2**3 / 1.2 < 1.05  # about 1.2 / 2**level, within 20%


def test_sphere_mesh_refuses_unknown_family_and_negative_level():
    with pytest.raises(ValueError, match="family"):
        sphere_mesh("cube", 1)
    with pytest.raises(ValueError, match="level"):
        sphere_mesh("icosphere", -1)


# -- real spherical harmonics ---------------------------------------------------------------


@pytest.mark.skipif(not hasattr(scipy.special, "sph_harm_y"), reason="needs scipy >= 1.15 (scipy.special.sph_harm_y)")
def test_real_harmonics_match_scipy_complex_harmonics():
    points = np.concatenate([_points(40), [[0.0, 0.0, 1.0], [0.0, 0.0, -3.0]]])  # poles included
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    polar, azimuth = np.arccos(np.clip(unit[:, 2], -1, 1)), np.mod(np.arctan2(unit[:, 1], unit[:, 0]), 2 * np.pi)
    ours = real_spherical_harmonics(points, 10)
    for l in range(11):  # noqa: E741
        for m in range(-l, l + 1):
            complex_y = scipy.special.sph_harm_y(l, abs(m), polar, azimuth)  # Condon-Shortley phase included
            part = complex_y.real if m >= 0 else complex_y.imag
            expected = part if m == 0 else math.sqrt(2) * (-1) ** m * part
            np.testing.assert_allclose(ours[:, sh_index(l, m)], expected, atol=1e-12)


def test_real_harmonics_are_orthonormal_under_lumped_mass_more_so_when_refined():
    from gaugemesh.geometry.laplacian import lumped_mass

    errors = []
    for level in (2, 3, 4):
        pos, faces = sphere_mesh("icosphere", level)
        basis = real_spherical_harmonics(pos, 4)
        gram = basis.T @ (lumped_mass(pos, faces)[:, None] * basis)
        errors.append(np.abs(gram - np.eye(num_harmonics(4))).max())
    assert errors[1] < 0.5 * errors[0] and errors[2] < 0.5 * errors[1]  # O(h^2): about 4x per level
    assert errors[2] < 0.01


def test_addition_theorem():
    x, y = _points(30, seed=1), _points(30, seed=2)
    basis_x, basis_y = real_spherical_harmonics(x, 7), real_spherical_harmonics(y, 7)
    for l in range(8):  # noqa: E741
        block = slice(l * l, (l + 1) ** 2)
        total = (basis_x[:, block] * basis_y[:, block]).sum(1)
        expected = (2 * l + 1) / (4 * math.pi) * scipy.special.eval_legendre(l, (x * y).sum(1))
        np.testing.assert_allclose(total, expected, atol=1e-12)


def test_rotated_signal_keeps_its_degrees_and_their_power():
    rotation = random_rotations(1, seed=3)[0]
    coefficients = random_sh_coefficients(5, seed=4, l_min=2)
    points = _points(400, seed=5)
    rotated = fit_spherical_harmonics(sh_signal(coefficients, points, rotation), points, 6)
    assert np.abs(rotated[:4]).max() < 1e-10 and np.abs(rotated[num_harmonics(5):]).max() < 1e-10
    for l in range(2, 6):  # noqa: E741  # rotations act orthogonally on each degree
        block = slice(l * l, (l + 1) ** 2)
        assert np.linalg.norm(rotated[block]) == pytest.approx(np.linalg.norm(coefficients[block]), abs=1e-10)
    assert np.linalg.norm(coefficients) == pytest.approx(1.0)


def test_rotations_compose_and_are_uniform_rotations():
    first, second = random_rotations(2, seed=6)
    coefficients, points = random_sh_coefficients(4, channels=2, seed=7), _points(50, seed=8)
    twice = sh_signal(coefficients, points @ second, first)  # rotate by first, then by second
    np.testing.assert_allclose(sh_signal(coefficients, points, second @ first), twice, atol=1e-12)
    many = random_rotations(2000, seed=9)
    np.testing.assert_allclose(many @ many.transpose(0, 2, 1), np.broadcast_to(np.eye(3), many.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(many), 1.0)
    assert np.abs(many.mean(0)).max() < 0.05  # Haar: the mean rotation matrix is zero
    np.testing.assert_array_equal(random_rotations(3, seed=1), random_rotations(3, seed=1))
    with pytest.raises(ValueError, match="rotation"):
        sh_signal(coefficients, points, np.diag([1.0, 1.0, -1.0]))


# -- interpolation ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", SPHERE_FAMILIES)
def test_interpolation_is_exact_at_vertices_and_second_order(family):
    coefficients, points = random_sh_coefficients(4, seed=10), _points(500, seed=11)
    errors = []
    for level in (2, 3, 4):
        pos, faces = sphere_mesh(family, level)
        values = sh_signal(coefficients, pos)
        np.testing.assert_allclose(interpolate_on_sphere(pos, faces, values, pos), values, atol=1e-13)
        errors.append(np.abs(interpolate_on_sphere(pos, faces, values, points) - sh_signal(coefficients, points)).max())
        face, weights = locate_on_sphere(pos, faces, points)
        assert (weights >= 0).all() and np.allclose(weights.sum(1), 1.0)
        cone = np.linalg.solve(pos[faces[face]].transpose(0, 2, 1), points[..., None])[..., 0]
        np.testing.assert_allclose(cone / cone.sum(1, keepdims=True), weights, atol=1e-9)
    assert errors[1] < 0.4 * errors[0] and errors[2] < 0.4 * errors[1]


def test_locate_refuses_inward_triangles():
    pos, faces = sphere_mesh("icosphere", 1)
    with pytest.raises(ValueError, match="outward"):
        locate_on_sphere(pos, faces[:, ::-1], pos)


# -- measured equivariance --------------------------------------------------------------------


def _random_nets(count: int = 3, **kwargs) -> list[GemResNet]:
    nets = []
    for seed in range(count):
        torch.manual_seed(seed)
        net = GemResNet("1x0", 3, width=4, max_order=2, num_blocks=2, **kwargs).double()
        nets.append(randomize_parameters(net, generator=torch.Generator().manual_seed(seed)).eval())
    return nets


def _pooled_errors(nets: list[GemResNet], family: str, level: int) -> tuple[float, float]:
    """Mean over nets and 2 rotations of the invariant error of the area-weighted mean
    logits, and of the mean over the northern hemisphere only (not an invariant)."""
    data = sphere_data(family, level)
    geometry = ConvOperators.from_data(data)
    coefficients, rotations = random_sh_coefficients(4, channels=1, seed=1), random_rotations(2, seed=2)
    errors = {True: [], False: []}
    for net in nets:
        outputs = {}  # both poolings read the same forward passes

        def logits(x: torch.Tensor, net=net, outputs=outputs) -> torch.Tensor:
            key = x.numpy().tobytes()
            if key not in outputs:
                data.x = x
                outputs[key] = net(data, geometry)
            return outputs[key]

        for north_only in errors:
            weight = data.area * (data.pos[:, 2] > 0) if north_only else data.area

            def pooled(x: torch.Tensor, weight=weight) -> torch.Tensor:
                return (weight[:, None] * logits(x)).sum(0) / weight.sum()

            errors[north_only].append(rotation_equivariance_errors(
                pooled, data.pos.numpy(), data.face.T.numpy(), coefficients, rotations, output="invariant"))
    return float(np.mean(errors[False])), float(np.mean(errors[True]))


def test_network_equivariance_error_falls_when_the_mesh_is_refined():
    nets = _random_nets()
    (coarse, coarse_north), (fine, fine_north) = (_pooled_errors(nets, "icosphere", level) for level in (2, 3))
    assert fine < 0.6 * coarse, (coarse, fine)  # measured: 7.5e-3 -> 2.8e-3
    # the same measurement catches a readout that is not invariant: it stops improving
    assert fine_north > 0.6 * coarse_north, (coarse_north, fine_north)  # measured: 3.3e-2 -> 2.6e-2


@pytest.mark.parametrize("connection", ["levi-civita", "projection"])
def test_rotating_mesh_and_signal_together_changes_nothing(connection):
    """What the network reads is intrinsic or rotates with the mesh: only moving the signal
    relative to the mesh measures discretization error."""
    pos, faces = sphere_mesh("jittered", 2)
    rotation = random_rotations(1, seed=12)[0]
    x = torch.from_numpy(sh_signal(random_sh_coefficients(4, channels=1, seed=13), pos))
    outputs, net = [], _random_nets(1)[0]
    for points in (pos, pos @ rotation.T):  # the same values, now at R x_v
        data = mesh_to_data(validate_mesh(points, faces), connection, dtype=torch.float64)
        data.x = x
        with torch.no_grad():
            outputs.append(net(data))
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=1e-10 * float(outputs[0].abs().max()))


def test_equivariance_errors_of_the_identity_are_the_interpolation_error():
    pos, faces = sphere_mesh("icosphere", 3)
    coefficients, rotations = random_sh_coefficients(3, channels=2, seed=14), random_rotations(3, seed=15)
    floor = rotation_equivariance_errors(lambda x: x, pos, faces, coefficients, rotations)
    assert floor.shape == (3,) and (0 < floor).all() and (floor < 0.05).all()
    exact = rotation_equivariance_errors(lambda x: x.sum(0), pos, faces, coefficients, rotations, output="invariant")
    assert (exact < 0.2).all()  # vertex sums are not integrals, but close


def test_equivariance_errors_refuse_zero_outputs_and_wrong_shapes():
    pos, faces = sphere_mesh("icosphere", 1)
    coefficients, rotations = random_sh_coefficients(2, channels=1), random_rotations(1)
    with pytest.raises(ValueError, match="zeros"):
        rotation_equivariance_errors(lambda x: 0 * x, pos, faces, coefficients, rotations)
    with pytest.raises(ValueError, match="non-finite"):
        rotation_equivariance_errors(lambda x: x / 0 * 0, pos, faces, coefficients, rotations)
    with pytest.raises(ValueError, match="shape"):
        rotation_equivariance_errors(lambda x: x.sum(0), pos, faces, coefficients, rotations)
    with pytest.raises(ValueError, match="output"):
        rotation_equivariance_errors(lambda x: x, pos, faces, coefficients, rotations, output="global")


def test_one_ring_moments_are_gauge_invariant_and_expose_anisotropy():
    data = sphere_data("uv", 3)
    moments = one_ring_moments(data, (1, 2))
    turned = one_ring_moments(gauge_transform(data, random_gauge(data.num_nodes, torch.Generator().manual_seed(0))),
                              (1, 2))
    np.testing.assert_allclose(turned, moments, rtol=1e-12)
    assert moments[1] > 0.3  # a lat-long grid's one-rings are strongly anisotropic ...
    assert one_ring_moments(sphere_data("icosphere", 1), (1,))[0] < 1e-12  # ... a symmetric one's are not


# -- spherical digits (experiments/sphere) ---------------------------------------------------


def test_digit_projection_puts_the_image_centre_at_the_north_pole():
    from experiments.sphere.data import equirectangular_grid, image_on_sphere

    image = np.arange(64, dtype=float).reshape(1, 8, 8)
    centre = image[0, 3:5, 3:5].mean()
    poles = image_on_sphere(image, np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]))
    np.testing.assert_allclose(poles, [[centre, 0.0]])
    points = equirectangular_grid(12, 24)
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # +90 degrees about z
    turned = image_on_sphere(np.rot90(image, 1, axes=(1, 2)).copy(), points)
    np.testing.assert_allclose(image_on_sphere(image, points, rotations=quarter[None]), turned, atol=1e-12)
    rotation = random_rotations(1, seed=16)
    np.testing.assert_allclose(image_on_sphere(image, points, rotations=rotation),
                               image_on_sphere(image, points @ rotation[0]), atol=1e-12)


def test_digits_say_how_to_install_scikit_learn(monkeypatch):
    from experiments.sphere.data import load_digits

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ModuleNotFoundError, match="pip install scikit-learn"):
        load_digits()


def test_digits_load_and_split():
    pytest.importorskip("sklearn", reason="scikit-learn is an optional extra (the spherical digits only)")
    from experiments.sphere.data import load_digits, stratified_split

    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and 0 <= images.min() and images.max() == 1.0
    train, test = stratified_split(labels, 0.3, seed=0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 1797
    assert np.bincount(labels[test]).min() >= 50

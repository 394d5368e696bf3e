"""Geodesic discs: exact on flat meshes, close to great circles on a sphere, gauge covariant,
a quadrature that does not depend on the resolution."""

import numpy as np
import pytest

from gaugemesh.geometry import frame_field, wrap_angle
from gaugemesh.geometry.geodesic_discs import geodesic_discs, radial_basis
from tests.conftest import grid, icosphere


def discs_of(pos, faces, radius, field=None):
    field = field or frame_field(pos, faces)
    return field, geodesic_discs(pos, field.edge_index, field.theta, field.transport, field.area, radius)


def frame_coordinates(field, pos, i, j):
    """``x_j - x_i`` in ``i``'s frame, as complex numbers."""
    delta = pos[j] - pos[i]
    return (delta * field.frame[i, 0]).sum(1) + 1j * (delta * field.frame[i, 1]).sum(1)


@pytest.fixture(scope="module")
def flat():
    pos, faces = grid(16, jitter=0.25, seed=3)
    field, discs = discs_of(pos, faces, 2.5)
    interior = np.min(np.concatenate([pos[:, :2], 15 - pos[:, :2]], 1), axis=1) > 5  # discs away from the boundary
    return pos, field, discs, interior


def test_flat_mesh_coordinates_and_transport_are_exact(flat):
    """On a plane every path unfolds to the straight offset, and transport is the frames' angle."""
    pos, field, discs, interior = flat
    j, i = discs.edge_index
    inner = interior[i]
    u = discs.distance * np.exp(1j * discs.theta)
    np.testing.assert_allclose(u[inner], frame_coordinates(field, pos, i, j)[inner], atol=1e-12)
    frame_angle = np.arctan2(field.frame[:, 0, 1], field.frame[:, 0, 0])
    np.testing.assert_allclose(wrap_angle(discs.transport - frame_angle[j] + frame_angle[i])[inner], 0, atol=1e-12)


def test_flat_discs_hold_every_vertex_within_the_radius(flat):
    pos, _, discs, interior = flat
    j, i = discs.edge_index
    for centre in np.flatnonzero(interior)[:10]:
        near = np.linalg.norm(pos - pos[centre], axis=1) <= 2.5
        near[centre] = False
        assert set(j[i == centre]) == set(np.flatnonzero(near))


def test_a_tiny_radius_keeps_the_one_ring_exactly(flat):
    """Every mesh neighbour stays, with the frame field's own angles (the direct edge is the
    shortest path), sorted by target then source."""
    pos, field, _, _ = flat
    _, discs = discs_of(pos, None, 1e-3, field)
    order = np.lexsort(field.edge_index)
    np.testing.assert_array_equal(discs.edge_index, field.edge_index[:, order])
    np.testing.assert_allclose(discs.theta, field.theta[order], atol=1e-15)
    np.testing.assert_allclose(discs.transport, field.transport[order], atol=1e-15)


def test_sphere_distances_are_great_circles_and_paths_reverse():
    pos, faces = icosphere(3)
    _, discs = discs_of(pos, faces, 0.4)
    j, i = discs.edge_index
    great_circle = np.arccos(np.clip((pos[i] * pos[j]).sum(1), -1, 1))
    assert np.max(np.abs(discs.distance / great_circle - 1)) < 0.02
    assert np.median(np.bincount(i)) > 15  # several rings, not one
    # The shortest path from j to i is that from i to j reversed: opposite transports.
    key = i * len(pos) + j
    back = np.searchsorted(key, j * len(pos) + i)
    both = (back < len(key)) & (key[np.minimum(back, len(key) - 1)] == j * len(pos) + i)
    assert both.mean() > 0.9
    np.testing.assert_allclose(wrap_angle(discs.transport[both] + discs.transport[back[both]]), 0, atol=1e-9)


def test_gauge_change_moves_theta_and_transport_only():
    pos, faces = icosphere(2)
    pos = pos * (1 + 0.2 * np.random.default_rng(0).random(len(pos)))[:, None]
    field, discs = discs_of(pos, faces, 0.6)
    phi = np.random.default_rng(1).uniform(-np.pi, np.pi, len(pos))
    src, dst = field.edge_index
    moved = geodesic_discs(pos, field.edge_index, wrap_angle(field.theta - phi[dst]),
                           wrap_angle(field.transport - phi[dst] + phi[src]), field.area, 0.6)
    j, i = discs.edge_index
    np.testing.assert_array_equal(moved.edge_index, discs.edge_index)
    np.testing.assert_allclose(moved.distance, discs.distance, rtol=1e-12)
    np.testing.assert_allclose(moved.edge_weight, discs.edge_weight, rtol=1e-12)
    np.testing.assert_allclose(wrap_angle(moved.theta - discs.theta + phi[i]), 0, atol=1e-9)
    np.testing.assert_allclose(wrap_angle(moved.transport - discs.transport + phi[i] - phi[j]), 0, atol=1e-9)


def test_disc_mean_converges_to_the_cap_mean():
    """The weights are a quadrature of the geodesic disc: on the unit sphere the disc mean of
    ``z`` tends to the exact mean over the cap of radius ``r``, ``z (1 + cos r) / 2``, as the
    mesh is refined, the same surface patch at every resolution (a one-ring mean would tend
    to the centre value instead)."""
    radius, errors = 0.35, []
    for subdivisions in (3, 4):  # 642 and 2562 vertices
        pos, faces = icosphere(subdivisions)
        _, discs = discs_of(pos, faces, radius)
        j, i = discs.edge_index
        np.testing.assert_allclose(np.bincount(i, weights=discs.edge_weight), 1.0)
        mean = np.bincount(i, weights=discs.edge_weight * pos[j, 2], minlength=len(pos))
        errors.append(np.abs(mean - pos[:, 2] * (1 + np.cos(radius)) / 2).mean())
    assert errors[1] < 0.7 * errors[0] and errors[1] < 0.004  # measured: 0.0054, then 0.0030
    assert (1 - np.cos(radius)) / 2 > 10 * errors[1]  # the cap mean differs from the centre value


def test_radial_basis_is_a_partition_of_unity():
    t = np.linspace(0, 1.5, 31)
    basis = radial_basis(t, 1.0, 3)
    np.testing.assert_allclose(basis.sum(1), 1.0)
    np.testing.assert_allclose(basis[0], [1, 0, 0])
    np.testing.assert_allclose(basis[-1], [0, 0, 1])  # beyond the radius: the outer function
    np.testing.assert_allclose(radial_basis(t, 1.0, 1), 1.0)


@pytest.mark.parametrize("radius", [0.0, -1.0, float("nan"), float("inf")])
def test_refuses_a_radius_that_is_not_positive(radius):
    pos, faces = icosphere(1)
    with pytest.raises(ValueError, match="radius must be positive"):
        discs_of(pos, faces, radius)

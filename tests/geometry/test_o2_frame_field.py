"""The O(2) frame field: invariants of transport with reflections, on orientable and
non-orientable meshes."""

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from gaugemesh.geometry import frame_field, loop_holonomy, wrap_angle
from gaugemesh.geometry.o2_frame_field import o2_frame_field, o2_gauge_transform, o2_loop_holonomy, reflect_frames
from gaugemesh.geometry.orientation_cover import local_orientations, orientation_double_cover
from gaugemesh.geometry.topology import boundary_vertices, edge_adjacency, undirected_edges
from gaugemesh.mesh import validate_mesh
from tests.conftest import grid, icosphere
from tests.o2_meshes import klein_bottle, moebius_strip


def _random_gauge(num, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(-np.pi, np.pi, num), rng.random(num) < 0.5


def _balanced(field, num_vertices) -> bool:
    """Whether some choice of reflections per vertex removes every reflection from the
    transporters (r_ij = s_i xor s_j): the gauge-invariant meaning of "orientable"."""
    j, i = field.edge_index
    r = field.reflection
    a = np.r_[j, j + num_vertices]
    b = np.r_[np.where(r, i + num_vertices, i), np.where(r, i, i + num_vertices)]
    graph = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(2 * num_vertices,) * 2)
    _, label = connected_components(graph, directed=False)
    return not np.any(label[:num_vertices] == label[num_vertices:])


def _signed_face_holonomy(field, faces, num_vertices):
    """Face holonomies, each measured counter-clockwise in its base vertex's orientation."""
    angle, flipped = o2_loop_holonomy(field.edge_index, field.transport, field.reflection, faces, num_vertices)
    assert not flipped.any()  # a face is a contractible loop: it keeps the orientation
    against = local_orientations(faces)[0::3]  # the corner at faces[f, 0]
    return np.where(against, -angle, angle)


@pytest.mark.parametrize("frames", ["default", "random"])
@pytest.mark.parametrize("mesh", ["sphere", "grid"])
def test_orientable_mesh_equals_the_so2_field(mesh, frames):
    pos, faces = icosphere(2) if mesh == "sphere" else grid(6, jitter=0.2)
    m = validate_mesh(pos, faces)
    so2 = frame_field(m.pos, m.faces, frames=frames, seed=3)
    o2 = o2_frame_field(m.pos, m.faces, frames=frames, seed=3)
    assert not o2.reflection.any()
    np.testing.assert_array_equal(o2.edge_index, so2.edge_index)
    np.testing.assert_array_equal(o2.reverse, so2.reverse)
    for key in ("frame", "theta", "transport", "edge_weight", "area"):
        np.testing.assert_allclose(getattr(o2, key), getattr(so2, key), atol=1e-12, rtol=0, err_msg=key)


def test_local_orientations_and_the_double_cover():
    pos, faces = icosphere(1)
    assert not local_orientations(faces).any()  # consistently oriented: nothing flipped
    pos, faces, _ = moebius_strip()
    flip = local_orientations(faces)
    assert flip.any()
    cover = orientation_double_cover(faces, len(pos), flip)
    pairs = edge_adjacency(cover).pairs
    tail = cover.ravel()
    assert np.all(tail[pairs[:, 0]] != tail[pairs[:, 1]])  # every shared edge traversed both ways
    assert len(undirected_edges(cover)) == 2 * len(undirected_edges(faces))
    # The windings given do not matter: turning a face over changes the reflections only by
    # a gauge (r' = r xor s_i xor s_j for some s).
    turned = faces.copy()
    turned[5] = turned[5, [0, 2, 1]]
    before, after = o2_frame_field(pos, faces), o2_frame_field(pos, turned)
    assert np.array_equal(before.edge_index, after.edge_index)
    difference = replace(before, reflection=before.reflection ^ after.reflection)
    assert (before.reflection != after.reflection).any() and _balanced(difference, len(pos))


@pytest.mark.parametrize("surface", ["moebius", "klein"])
def test_non_orientable_fields(surface):
    pos, faces = (moebius_strip()[:2] if surface == "moebius" else klein_bottle())
    field = o2_frame_field(pos, faces)
    num = len(pos)
    j, i = field.edge_index
    assert np.all(np.diff(i * num + j) > 0)  # sorted by target then source, no duplicates
    assert not _balanced(field, num)  # no gauge removes the reflections
    # frames orthonormal, right-handed; g_ji = g_ij^-1
    np.testing.assert_allclose(np.einsum("vij,vkj->vik", field.frame, field.frame), np.eye(3)[None].repeat(num, 0), atol=1e-12)
    assert np.allclose(np.linalg.det(field.frame), 1)
    rev = field.reverse
    assert np.array_equal(field.reflection[rev], field.reflection)
    expected = np.where(field.reflection, field.transport, -field.transport)
    np.testing.assert_allclose(wrap_angle(field.transport[rev] - expected), 0, atol=1e-12)
    np.testing.assert_allclose(np.bincount(i, field.edge_weight), 1.0)
    # discrete Gauss-Bonnet: signed face holonomies add up to 2 pi chi (chi = 0 for both)
    chi = num - len(undirected_edges(faces)) + len(faces)
    assert chi == 0
    total = _signed_face_holonomy(field, faces, num).sum()
    assert total == pytest.approx(2 * np.pi * chi, abs=1e-9)


def test_moebius_core_loop_holonomy_is_a_reflection():
    pos, faces, core = moebius_strip()
    field = o2_frame_field(pos, faces)
    num = len(pos)
    angle, flipped = o2_loop_holonomy(field.edge_index, field.transport, field.reflection, core, num)
    assert flipped.all()
    # twice around is orientation preserving, and its rotation is that of the reflection squared: none
    angle2, flipped2 = o2_loop_holonomy(field.edge_index, field.transport, field.reflection, np.r_[core, core], num)
    assert not flipped2.any() and angle2 == pytest.approx(0, abs=1e-9)
    # the reflection is in every gauge (the angle of a reflection is not gauge invariant)
    for seed in range(3):
        moved = o2_gauge_transform(field, *_random_gauge(num, seed))
        assert o2_loop_holonomy(moved.edge_index, moved.transport, moved.reflection, core, num)[1].all()
    # the SO(2) path cannot even build this field: its orientation does not exist
    with pytest.raises(Exception, match="non-orientable"):
        validate_mesh(pos, faces)


def test_gauge_change_follows_the_convention_on_a_plane():
    """On a flat mesh everything is extrinsic and exact: after a random O(2) gauge change,
    theta is the polar angle of the edge in the new frame, and a constant vector field has
    coordinates that the transporters map onto each other, z_i = R(g) F^r z_j."""
    pos, faces = grid(7, jitter=0.25, seed=1)
    m = validate_mesh(pos, faces)
    num = m.num_vertices
    field = o2_gauge_transform(o2_frame_field(m.pos, m.faces), *_random_gauge(num, 0))
    assert 0.3 < field.reflection.mean() < 0.7
    j, i = field.edge_index
    e1, e2 = field.frame[:, 0], field.frame[:, 1]
    interior = ~boundary_vertices(m.faces, num)
    d = m.pos[j] - m.pos[i]
    polar = np.arctan2(np.einsum("ed,ed->e", d, e2[i]), np.einsum("ed,ed->e", d, e1[i]))
    np.testing.assert_allclose(wrap_angle(field.theta - polar)[interior[i]], 0, atol=1e-10)
    vector = np.array([0.3, -1.1, 0.0])
    z = (e1 @ vector) + 1j * (e2 @ vector)
    moved = np.exp(1j * field.transport) * np.where(field.reflection, np.conj(z[j]), z[j])
    both = interior[i] & interior[j]
    np.testing.assert_allclose(moved[both], z[i][both], atol=1e-10)
    # and the straight-line rule holds in every gauge, on every edge
    rule = field.theta + np.where(field.reflection, field.theta[field.reverse], -field.theta[field.reverse]) + np.pi
    np.testing.assert_allclose(wrap_angle(field.transport - rule), 0, atol=1e-10)


@pytest.mark.parametrize("surface", ["sphere", "moebius"])
def test_explicit_frames_are_a_gauge_change(surface):
    pos, faces = icosphere(1) if surface == "sphere" else moebius_strip()[:2]
    field = o2_frame_field(pos, faces)
    phi, s = _random_gauge(len(pos), 1)
    expected = o2_gauge_transform(field, phi, s)
    given = o2_frame_field(pos, faces, frames=reflect_frames(field.frame, phi, s))
    assert np.array_equal(given.reflection, expected.reflection)
    for key in ("theta", "transport"):
        np.testing.assert_allclose(wrap_angle(getattr(given, key) - getattr(expected, key)), 0, atol=1e-10)
    # face holonomies (rotations) keep their size; a reflected base vertex flips their sign
    a0 = o2_loop_holonomy(field.edge_index, field.transport, field.reflection, faces, len(pos))[0]
    a1 = o2_loop_holonomy(given.edge_index, given.transport, given.reflection, faces, len(pos))[0]
    np.testing.assert_allclose(a1, np.where(s[faces[:, 0]], -a0, a0), atol=1e-10)


def test_so2_holonomy_agrees_where_nothing_reflects():
    pos, faces = icosphere(2)
    field = o2_frame_field(pos, faces)
    angle, flipped = o2_loop_holonomy(field.edge_index, field.transport, field.reflection, faces, len(pos))
    np.testing.assert_allclose(angle, loop_holonomy(field.edge_index, field.transport, faces, len(pos)), atol=1e-12)
    assert not flipped.any()


def test_unknown_frames_are_refused():
    pos, faces = icosphere(1)
    with pytest.raises(ValueError, match="O\\(2\\)"):
        o2_frame_field(pos, faces, frames="potpourri3d")

"""The discrete connection: invariants, not shapes."""

import numpy as np
import pytest

from gaugemesh import load_mesh
from gaugemesh.geometry import (
    CONNECTIONS,
    face_holonomy,
    frame_field,
    loop_holonomy,
    rotate_frames,
    wrap_angle,
)
from gaugemesh.geometry.topology import boundary_vertices
from tests.conftest import grid, icosphere

CLOSED = {  # file: genus
    "odedstein/sphere.obj": 0,
    "odedstein/spot_low_resolution.obj": 0,
    "odedstein/torus.obj": 1,
    "geometry_central/bob_small.ply": 1,
    "libigl_tutorial_data/3holes.off": 3,
    "libigl_tutorial_data/fertility.off": 4,
}
WITH_BOUNDARY = ["odedstein/hand_lowres.obj", "libigl_tutorial_data/halftunnel.off", "geometry_central/cat_head.obj"]


def _load(test_meshes_dir, name):
    return load_mesh(test_meshes_dir / name)


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("name", ["odedstein/spot_low_resolution.obj", "odedstein/hand_lowres.obj"])
def test_graph_has_both_directions_of_every_edge_sorted_by_target(test_meshes_dir, name, connection):
    mesh = _load(test_meshes_dir, name)
    field = frame_field(mesh.pos, mesh.faces, connection=connection)
    j, i = field.edge_index
    assert np.all(i != j)
    assert np.all(np.diff(i * mesh.num_vertices + j) > 0)  # sorted, no duplicates
    assert len(i) == 2 * mesh.num_edges
    np.testing.assert_array_equal(field.edge_index[:, field.reverse], field.edge_index[::-1])
    for angles in (field.theta, field.transport):
        assert np.all((angles > -np.pi) & (angles <= np.pi))


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("name", list(CLOSED) + WITH_BOUNDARY)
def test_transport_back_is_minus_transport_forth(test_meshes_dir, name, connection):
    mesh = _load(test_meshes_dir, name)
    field = frame_field(mesh.pos, mesh.faces, connection=connection, frames="random", seed=0)
    np.testing.assert_allclose(wrap_angle(field.transport + field.transport[field.reverse]), 0, atol=1e-12)


def test_levi_civita_transports_the_edge_direction_onto_the_reverse_direction(test_meshes_dir):
    mesh = _load(test_meshes_dir, "odedstein/hand_lowres.obj")
    field = frame_field(mesh.pos, mesh.faces, frames="random", seed=5)
    # Direction i -> j at i is theta[e]; carried to j by transport[reverse e] it must point
    # away from i, i.e. opposite to j's direction toward i (theta[reverse e]).
    carried = field.theta + field.transport[field.reverse]
    np.testing.assert_allclose(wrap_angle(carried - field.theta[field.reverse] - np.pi), 0, atol=1e-12)


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_flat_mesh_has_zero_holonomy(connection):
    pos, faces = grid(9, jitter=0.3, seed=1)
    pos = pos @ np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0].T  # any plane in space
    field = frame_field(pos, faces, connection=connection, frames="random", seed=2)
    holonomy = face_holonomy(field.edge_index, field.transport, faces, len(pos))
    interior = ~boundary_vertices(faces, len(pos))[faces].any(axis=1)
    np.testing.assert_allclose(holonomy[interior], 0, atol=1e-12)
    if connection == "projection":
        np.testing.assert_allclose(holonomy, 0, atol=1e-12)
    # A loop around the inner vertices: v(1,1) ... along the square of side 6.
    n = 9
    ring = [(1, k) for k in range(1, 7)] + [(k, 7) for k in range(1, 7)] + [(7, k) for k in range(7, 1, -1)] + [(k, 1) for k in range(7, 1, -1)]
    loop = np.array([[r * n + c for r, c in ring]])
    np.testing.assert_allclose(loop_holonomy(field.edge_index, field.transport, loop, len(pos)), 0, atol=1e-11)


def test_levi_civita_agrees_with_projection_where_the_surface_is_flat():
    pos, faces = grid(7, jitter=0.3, seed=4)
    lc = frame_field(pos, faces, frames="random", seed=1)
    pr = frame_field(pos, faces, connection="projection", frames="random", seed=1)
    boundary = boundary_vertices(faces, len(pos))
    keep = ~boundary[lc.edge_index[1]] & ~boundary[lc.edge_index[0]]
    assert keep.sum() > 50
    np.testing.assert_allclose(wrap_angle(lc.theta - pr.theta)[keep], 0, atol=1e-12)
    np.testing.assert_allclose(wrap_angle(lc.transport - pr.transport)[keep], 0, atol=1e-12)


@pytest.mark.parametrize("name, genus", list(CLOSED.items()))
def test_discrete_gauss_bonnet_is_exact_for_levi_civita(test_meshes_dir, name, genus):
    mesh = _load(test_meshes_dir, name)
    assert mesh.euler_characteristic == 2 - 2 * genus
    field = frame_field(mesh.pos, mesh.faces, frames="random", seed=0)
    total = face_holonomy(field.edge_index, field.transport, mesh.faces, mesh.num_vertices).sum()
    assert abs(total - 2 * np.pi * mesh.euler_characteristic) < 1e-8


@pytest.mark.parametrize("name", WITH_BOUNDARY)
def test_gauss_bonnet_with_geodesic_boundary(test_meshes_dir, name):
    # Boundary angles are rescaled to pi, making the boundary geodesic, so the theorem
    # holds without a boundary term.
    mesh = _load(test_meshes_dir, name)
    field = frame_field(mesh.pos, mesh.faces)
    total = face_holonomy(field.edge_index, field.transport, mesh.faces, mesh.num_vertices).sum()
    assert abs(total - 2 * np.pi * mesh.euler_characteristic) < 1e-8


def _cap(pos, faces, z0):
    """The counter-clockwise boundary loop of the faces above height z0, and their area."""
    from gaugemesh.geometry.topology import edge_adjacency

    inside = pos[faces].mean(1)[:, 2] > z0
    sub = faces[inside]
    boundary = edge_adjacency(sub).boundary
    tail, head = sub.ravel()[boundary], sub[:, [1, 2, 0]].ravel()[boundary]
    step = dict(zip(tail.tolist(), head.tolist()))
    loop = [tail[0]]
    while step[loop[-1]] != loop[0]:
        loop.append(step[loop[-1]])
    assert len(loop) == len(tail)  # one simple loop
    # Area on the unit sphere: project each triangle radially (spherical excess).
    p = pos[sub] / np.linalg.norm(pos[sub], axis=2, keepdims=True)
    a, b, c = p[:, 0], p[:, 1], p[:, 2]
    excess = 2 * np.arctan2(np.einsum("fd,fd->f", a, np.cross(b, c)), 1 + np.einsum("fd,fd->f", a, b) + np.einsum("fd,fd->f", b, c) + np.einsum("fd,fd->f", c, a))
    return np.array([loop]), excess.sum()


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_latitude_loop_holonomy_converges_to_the_enclosed_area(connection):
    errors = []
    for subdivisions in (2, 3, 4, 5):
        pos, faces = icosphere(subdivisions)
        field = frame_field(pos, faces, connection=connection, frames="random", seed=subdivisions)
        loop, area = _cap(pos, faces, z0=0.55)
        holonomy = loop_holonomy(field.edge_index, field.transport, loop, len(pos))[0]
        errors.append(abs(holonomy - area))
    # The cap's outline changes shape with each refinement, so the error is not monotone,
    # but it must fall by an order of magnitude over three refinements.
    assert errors[-1] < 0.2 * errors[0] and errors[-1] < 5e-4, errors


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_another_frame_choice_is_exactly_a_gauge_transformation(test_meshes_dir, connection):
    mesh = _load(test_meshes_dir, "odedstein/hand_lowres.obj")
    base = frame_field(mesh.pos, mesh.faces, connection=connection)
    phi = np.random.default_rng(0).uniform(-np.pi, np.pi, mesh.num_vertices)
    moved = frame_field(mesh.pos, mesh.faces, connection=connection, frames=rotate_frames(base.frame, phi))
    j, i = base.edge_index
    np.testing.assert_allclose(wrap_angle(moved.theta - (base.theta - phi[i])), 0, atol=1e-10)
    np.testing.assert_allclose(wrap_angle(moved.transport - (base.transport - phi[i] + phi[j])), 0, atol=1e-10)
    # The seeded random gauge is such a change too.
    rand = frame_field(mesh.pos, mesh.faces, connection=connection, frames="random", seed=7)
    e1 = rand.frame[:, 0]
    phi = np.arctan2(np.einsum("vd,vd->v", e1, base.frame[:, 1]), np.einsum("vd,vd->v", e1, base.frame[:, 0]))
    np.testing.assert_allclose(wrap_angle(rand.theta - (base.theta - phi[i])), 0, atol=1e-10)


@pytest.mark.parametrize("name", ["odedstein/spot_low_resolution.obj", "odedstein/hand_lowres.obj", "odedstein/torus.obj"])
def test_levi_civita_agrees_with_potpourri3d(test_meshes_dir, name):
    """potpourri3d's vector heat solver builds its connection Laplacian on the intrinsic
    Delaunay triangulation: off-diagonal ``-w_ij r_ij`` with cotan weight ``w_ij`` and
    ``r_ij = exp(i g_ij)`` in its frames. Edges it flipped away get other weights, so we
    compare on the edges it kept, through the gauge-invariant face holonomy, and then edge
    by edge after expressing both in the same frames (fitted on a spanning tree)."""
    import potpourri3d as pp3d
    import scipy.sparse as sp
    from scipy.sparse.csgraph import breadth_first_order

    mesh = _load(test_meshes_dir, name)
    field = frame_field(mesh.pos, mesh.faces, frames="potpourri3d")
    j, i = field.edge_index
    connection = sp.csr_matrix(pp3d.MeshVectorHeatSolver(mesh.pos, mesh.faces).get_connection_laplacian())
    cotan = sp.csr_matrix(pp3d.cotan_laplacian(mesh.pos, mesh.faces))
    entry, weight = np.asarray(connection[i, j]).ravel(), -np.asarray(cotan[i, j]).ravel()
    kept = (np.abs(weight) > 1e-3 * np.abs(weight).max()) & np.isclose(np.abs(entry), np.abs(weight), rtol=1e-3)
    assert kept.mean() > 0.6
    theirs = np.angle(-entry / np.where(kept, weight, 1.0))
    gap = np.where(kept, wrap_angle(theirs - field.transport), 0.0)
    kept_faces = face_holonomy(field.edge_index, (~kept).astype(float), mesh.faces, mesh.num_vertices) == 0
    holonomy_gap = face_holonomy(field.edge_index, gap, mesh.faces, mesh.num_vertices)
    np.testing.assert_allclose(holonomy_gap[kept_faces], 0, atol=1e-8)
    # Same frames: rotate ours by a per-vertex offset fitted along a spanning tree of kept
    # edges; then every kept edge agrees.
    tree = sp.coo_matrix((np.ones(kept.sum()), (i[kept], j[kept])), shape=(mesh.num_vertices,) * 2).tocsr()
    lookup = dict(zip(zip(i.tolist(), j.tolist()), gap.tolist()))
    offset = np.zeros(mesh.num_vertices)
    seen = np.zeros(mesh.num_vertices, dtype=bool)
    for root in range(mesh.num_vertices):  # one tree per piece the kept edges connect
        if seen[root]:
            continue
        order, parent = breadth_first_order(tree, root, directed=False)
        seen[order] = True
        for v in order[1:]:
            offset[v] = offset[parent[v]] + lookup[(v, parent[v])]
    np.testing.assert_allclose(wrap_angle(gap - (offset[i] - offset[j]))[kept], 0, atol=1e-8)


def test_edge_weights_are_positive_and_a_partition_of_unity(test_meshes_dir):
    mesh = _load(test_meshes_dir, "odedstein/hand_lowres.obj")
    field = frame_field(mesh.pos, mesh.faces)
    assert field.edge_weight.min() > 0
    np.testing.assert_allclose(np.bincount(field.edge_index[1], field.edge_weight), 1.0, atol=1e-12)
    # On a regular flat grid interior vertex every incident face has the same area share.
    pos, faces = grid(5)
    flat = frame_field(pos, faces)
    centre = 2 * 5 + 2
    w = flat.edge_weight[flat.edge_index[1] == centre]
    np.testing.assert_allclose(w, np.full(6, 1 / 6), atol=1e-12)

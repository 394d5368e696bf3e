"""The mesh hierarchy: invariants of the coarse levels and of the maps between them."""

import numpy as np
import pytest

import gaugemesh
from gaugemesh.geometry import face_holonomy, frame_field, rotate_frames, wrap_angle
from gaugemesh.geometry.components import mesh_components
from gaugemesh.hierarchy.levels import TRANSPORT_RULES, map_angles, mesh_hierarchy
from gaugemesh.geometry.sampling import samples_by_factor, voxel_samples
from gaugemesh.geometry.topology import boundary_vertices, vertex_components
from tests.conftest import SHARED, grid, icosphere


def bumpy_sphere(subdivisions: int = 3):
    pos, faces = icosphere(subdivisions)
    bump = 1 + 0.1 * np.sin(3 * pos[:, [0]]) * np.cos(2 * pos[:, [1]])
    return pos * bump, faces


def several_components():
    """A sphere, a flat grid with boundary beside it, and a lone triangle far away."""
    sphere_pos, sphere_faces = bumpy_sphere(3)
    grid_pos, grid_faces = grid(12, jitter=0.2, seed=1)
    grid_pos = grid_pos / 5 + [3.0, 0.0, 0.0]
    tri_pos = np.array([[0.0, 5.0, 0.0], [0.05, 5.0, 0.0], [0.0, 5.05, 0.0]])
    pos = np.concatenate([sphere_pos, grid_pos, tri_pos])
    n1, n2 = len(sphere_pos), len(sphere_pos) + len(grid_pos)
    faces = np.concatenate([sphere_faces, grid_faces + n1, [[n2, n2 + 1, n2 + 2]]])
    mesh = gaugemesh.validate_mesh(pos, faces)
    return mesh.pos, mesh.faces


@pytest.fixture(scope="module")
def messy():
    pos, faces = several_components()
    return pos, faces, mesh_hierarchy(pos, faces, num_levels=4)


def test_every_fine_vertex_maps_to_a_coarse_vertex_of_its_own_component(messy):
    _, _, h = messy
    for k, m in enumerate(h.maps):
        fine, coarse = h.levels[k], h.levels[k + 1]
        _, component = vertex_components(fine.faces, fine.num_vertices)
        assert m.coarse.shape == (fine.num_vertices,)
        assert m.coarse.min() >= 0 and m.coarse.max() < coarse.num_vertices
        # the coarse vertex sits on a fine vertex of the same component
        np.testing.assert_array_equal(component[m.sample[m.coarse]], component)
        np.testing.assert_array_equal(coarse.pos, fine.pos[m.sample])
        # and every coarse vertex receives some fine vertex, with weights summing to one
        assert np.bincount(m.coarse, minlength=coarse.num_vertices).min() >= 1
        np.testing.assert_allclose(np.bincount(m.coarse, weights=m.weight), 1.0, atol=1e-12)
        assert np.all(m.weight > 0)


def test_the_lone_triangle_survives_as_a_vertex_without_edges(messy):
    _, _, h = messy
    last = h.levels[-1]
    assert last.num_vertices > last.num_mesh_vertices  # the triangle's component, at least
    assert last.field.edge_index.max() < last.num_mesh_vertices
    assert last.field.frame.shape == (last.num_vertices, 3, 3)
    assert np.all(last.field.area > 0)


def test_coarse_levels_are_valid_meshes_with_an_exact_connection(messy):
    """Each coarse mesh passes validate_mesh unchanged, its frame field follows the
    conventions, and on every component of 9 or more vertices its face holonomies add up to
    2 pi chi (Gauss-Bonnet, with boundary; smaller pieces such as a lone triangle have face
    holonomies that wrap, the caveat of docs/conventions.md, at level 0 as well)."""
    _, _, h = messy
    for level in h.levels[1:]:
        pos = level.pos[: level.num_mesh_vertices]
        mesh = gaugemesh.validate_mesh(pos, level.faces)
        np.testing.assert_array_equal(mesh.faces, level.faces)
        f = level.field
        np.testing.assert_allclose(wrap_angle(f.transport + f.transport[f.reverse]), 0, atol=1e-12)
        np.testing.assert_allclose(np.bincount(f.edge_index[1], weights=f.edge_weight), 1.0, atol=1e-12)
        holonomy = face_holonomy(f.edge_index, f.transport, level.faces, level.num_vertices)
        checked = 0
        for c in mesh_components(pos, level.faces):
            if len(c.vertices) >= 9:
                chi = gaugemesh.validate_mesh(c.pos, c.faces).euler_characteristic
                in_c = np.isin(level.faces[:, 0], c.vertices)
                np.testing.assert_allclose(holonomy[in_c].sum(), 2 * np.pi * chi, atol=1e-8)
                checked += 1
        assert checked >= 1  # the sphere at least


def test_vertex_count_falls_about_fourfold_per_level():
    pos, faces = icosphere(5)
    h = mesh_hierarchy(pos, faces, num_levels=4)
    counts = np.array([level.num_vertices for level in h.levels])
    ratios = counts[:-1] / counts[1:]
    assert np.all((ratios > 3.4) & (ratios < 4.6)), counts
    pos, faces = grid(40, jitter=0.3)
    counts = [level.num_vertices for level in mesh_hierarchy(pos, faces, num_levels=3, factor=4).levels]
    assert 3.4 < counts[0] / counts[1] < 4.6 and 3.4 < counts[1] / counts[2] < 4.6, counts


@pytest.mark.parametrize("rule", TRANSPORT_RULES)
def test_map_angles_transform_under_a_gauge_change_of_either_level(rule):
    """angle' = angle - psi[coarse] + phi for gauges phi (fine) and psi (coarse)."""
    pos, faces = several_components()
    h = mesh_hierarchy(pos, faces, num_levels=2, rule=rule)
    fine, coarse, m = h.levels[0], h.levels[1], h.maps[0]
    rng = np.random.default_rng(0)
    phi = rng.uniform(-np.pi, np.pi, fine.num_vertices)
    psi = rng.uniform(-np.pi, np.pi, coarse.num_vertices)
    turned = frame_field(pos, faces, frames=rotate_frames(fine.field.frame, phi))
    angle = map_angles(turned, rotate_frames(coarse.field.frame, psi), m, rule)
    np.testing.assert_allclose(wrap_angle(angle - (m.angle - psi[m.coarse] + phi)), 0, atol=1e-9)
    assert np.abs(wrap_angle(angle - m.angle)).max() > 1  # the gauges did change the angles


def _planar_polar(frame):
    return np.arctan2(frame[:, 0, 1], frame[:, 0, 0])


def test_on_a_plane_projection_angles_are_the_frame_rotation_difference():
    pos, faces = grid(20, jitter=0.3, seed=2)
    h = mesh_hierarchy(pos, faces, num_levels=3, rule="projection", frames="random", seed=3)
    for k, m in enumerate(h.maps):
        fine, coarse = h.levels[k].field.frame, h.levels[k + 1].field.frame
        exact = _planar_polar(fine) - _planar_polar(coarse)[m.coarse]
        np.testing.assert_allclose(wrap_angle(m.angle - exact), 0, atol=1e-12)


def test_on_a_plane_path_angles_are_exact_away_from_the_boundary():
    """The Levi-Civita transport of a flat mesh is exact between interior vertices (angle
    sums 2 pi); boundary angle sums are rescaled to pi (docs/conventions.md), so paths that
    avoid the boundary give the exact frame rotation difference."""
    pos, faces = grid(20, jitter=0.3, seed=2)
    h = mesh_hierarchy(pos, faces, num_levels=2, rule="path", frames="random", seed=3)
    fine, coarse, m = h.levels[0].field.frame, h.levels[1].field.frame, h.maps[0]
    boundary = boundary_vertices(faces, len(pos))
    exact = _planar_polar(fine) - _planar_polar(coarse)[m.coarse]
    checked = 0
    for f in range(len(pos)):
        path = [f]
        while m.parent[path[-1]] != path[-1]:
            path.append(m.parent[path[-1]])
        if not boundary[path].any():
            assert abs(wrap_angle(m.angle[f] - exact[f])) < 1e-12
            checked += 1
    assert checked > 0.6 * len(pos)


def test_path_angles_match_a_slow_walk_along_the_parents():
    pos, faces = bumpy_sphere(3)
    h = mesh_hierarchy(pos, faces, num_levels=2, rule="path")
    fine, m = h.levels[0].field, h.maps[0]
    key = {(int(j), int(i)): e for e, (j, i) in enumerate(fine.edge_index.T)}
    base = map_angles(fine, h.levels[1].field.frame, m, "projection")  # only for the last step below
    for f in range(0, len(pos), 7):
        total, v = 0.0, f
        while m.parent[v] != v:
            total += fine.transport[key[(v, int(m.parent[v]))]]
            v = int(m.parent[v])
        assert v == m.sample[m.coarse[f]] and np.isclose(m.distance[f] > 0, f != v)
        last = base[v] if m.coarse[v] == m.coarse[f] else None
        if last is not None:  # at the sample, projection and path agree: the path is empty
            assert abs(wrap_angle(m.angle[f] - (total + last))) < 1e-10


def test_path_rule_is_closer_to_the_vector_heat_method():
    """Against potpourri3d's vector heat transport from each coarse vertex's sample (the fine
    mesh's own parallel transport), for every fine vertex of 40 cells of a bumpy sphere:
    measured median / max error 7e-5 / 4e-4 rad for "path", 2.6e-4 / 1.7e-3 for "projection"."""
    import potpourri3d as pp3d

    pos, faces = bumpy_sphere(4)
    errors = {}
    for rule in TRANSPORT_RULES:
        h = mesh_hierarchy(pos, faces, num_levels=2, rule=rule)
        errors[rule] = _vector_heat_errors(pos, faces, h, pp3d)
    assert np.median(errors["path"]) < 0.5 * np.median(errors["projection"])
    assert errors["path"].max() < 2e-3 and errors["projection"].max() < 1e-2


def _vector_heat_errors(pos, faces, h, pp3d, cells: int = 40):
    from gaugemesh.hierarchy.levels import _rotated_polar

    fine, coarse, m = h.levels[0].field.frame, h.levels[1].field.frame, h.maps[0]
    solver = pp3d.MeshVectorHeatSolver(pos, faces)
    bx, by, _ = solver.get_tangent_frames()
    out = []
    for c in np.random.default_rng(0).choice(h.levels[1].num_vertices, cells, replace=False):
        s = m.sample[c]
        field = solver.transport_tangent_vector(s, [1.0, 0.0])
        vec = field[:, [0]] * bx + field[:, [1]] * by
        polar = np.arctan2(np.einsum("vd,vd->v", vec, fine[:, 1]), np.einsum("vd,vd->v", vec, fine[:, 0]))
        cell = np.flatnonzero(m.coarse == c)
        to_coarse = _rotated_polar(fine[[s], 0], fine[[s], 2], coarse[[c]])[0]
        out.append(np.abs(wrap_angle(m.angle[cell] - (polar[s] - polar[cell] + to_coarse))))
    return np.concatenate(out)


def test_a_metric_spacing_gives_two_resolutions_about_the_same_coarse_levels():
    """With cell sizes in the mesh's units, icospheres with 4x and 16x more vertices than the
    coarse level coarsen to within 15% of the same counts; a count factor would not."""
    counts = []
    for subdivisions in (4, 5):
        pos, faces = icosphere(subdivisions)
        h = mesh_hierarchy(pos, faces, num_levels=3, spacing=[0.15, 0.3])
        counts.append([level.num_vertices for level in h.levels])
    (fine4, a1, a2), (fine5, b1, b2) = counts
    assert fine5 > 3.5 * fine4
    assert abs(a1 / b1 - 1) < 0.15 and abs(a2 / b2 - 1) < 0.15, counts
    with pytest.raises(ValueError, match="spacing"):
        mesh_hierarchy(*icosphere(1), num_levels=3, spacing=[0.1])


def test_samples_respect_thin_parts_and_components():
    """Two parallel sheets closer than a cell are never one cluster: each keeps samples."""
    pos, faces = grid(10)
    top = pos + [0, 0, 0.01]
    both_pos = np.concatenate([pos, top])
    both_faces = np.concatenate([faces, faces + len(pos)])
    samples = voxel_samples(both_pos, both_faces, 3.0)
    assert np.any(samples < len(pos)) and np.any(samples >= len(pos))
    _, label = vertex_components(both_faces, len(both_pos))
    kept, _ = samples_by_factor(both_pos, both_faces, 4.0)
    assert set(label[kept]) == {0, 1}


def test_refuses_bad_arguments():
    pos, faces = icosphere(1)
    with pytest.raises(ValueError, match="num_levels"):
        mesh_hierarchy(pos, faces, num_levels=0)
    with pytest.raises(ValueError, match="rule"):
        mesh_hierarchy(pos, faces, rule="heat")
    with pytest.raises(ValueError, match="factor"):
        samples_by_factor(pos, faces, 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["1VY7_BB"])
def test_rna_meshes(name):
    """RNA surfaces (several components, non-manifold spots repaired at load)."""
    path = SHARED / "rna_seg" / "off" / f"{name}.off"
    if not path.exists():
        pytest.skip(f"shared dataset not found at {path}")
    mesh = gaugemesh.load_mesh(path, repair=True)
    h = mesh_hierarchy(mesh.pos, mesh.faces, num_levels=3)
    for k, m in enumerate(h.maps):
        _, component = vertex_components(h.levels[k].faces, h.levels[k].num_vertices)
        np.testing.assert_array_equal(component[m.sample[m.coarse]], component)
        assert 3.3 < h.levels[k].num_vertices / h.levels[k + 1].num_vertices < 4.7

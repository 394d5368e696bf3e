"""O(2) hierarchies: coarse levels with O(2) frame fields on non-orientable meshes, maps with a
reflection flag that are exactly gauge covariant (checked against a level-0 gauge change of
rotations and reflections), a fast path composition against a step-by-step walk, the SO(2)
hierarchy on an oriented mesh, and an O(2) hierarchy through add_hierarchy."""

import numpy as np
import pytest
import torch

import gaugemesh
from gaugemesh.geometry.measures import wrap_angle
from gaugemesh.geometry.o2_frame_field import o2_frame_field, o2_gauge_transform, reflect_frames
from gaugemesh.geometry.orientation_cover import local_orientations
from gaugemesh.hierarchy.data import add_hierarchy, num_levels
from gaugemesh.hierarchy.levels import mesh_hierarchy
from gaugemesh.hierarchy.o2_levels import o2_frame_step, o2_path_compose
from tests.conftest import icosphere
from tests.o2_meshes import klein_bottle, moebius_strip

NON_ORIENTABLE = {"moebius": lambda: moebius_strip(48, 9)[:2], "klein": lambda: klein_bottle(32, 16)}


def _mesh(make):
    return gaugemesh.validate_mesh(*make(), structure_group="O2")


@pytest.fixture(scope="module", params=sorted(NON_ORIENTABLE))
def strip_like(request):
    mesh = _mesh(NON_ORIENTABLE[request.param])
    return mesh, mesh_hierarchy(mesh.pos, mesh.faces, 3, structure_group="O2")


@pytest.mark.parametrize("rule", ["path", "projection"])
def test_maps_are_gauge_covariant_under_rotations_and_reflections(strip_like, rule):
    """Frames of level 0 changed by h = (phi, s): the coarse levels stay, every map becomes g h."""
    mesh, _ = strip_like
    base = mesh_hierarchy(mesh.pos, mesh.faces, 2, structure_group="O2", rule=rule)
    rng = np.random.default_rng(3)
    phi, s = rng.uniform(-np.pi, np.pi, mesh.num_vertices), rng.random(mesh.num_vertices) < 0.5
    moved = mesh_hierarchy(mesh.pos, mesh.faces, 2, structure_group="O2", rule=rule,
                           field=o2_gauge_transform(base.levels[0].field, phi, s))
    g, g2 = base.maps[0], moved.maps[0]
    assert np.array_equal(g.coarse, g2.coarse) and np.array_equal(base.levels[1].faces, moved.levels[1].faces)
    np.testing.assert_allclose(wrap_angle(g.angle + np.where(g.reflection, -phi, phi) - g2.angle), 0, atol=1e-12)
    assert np.array_equal(g.reflection ^ s, g2.reflection)
    assert s.any() and (g.reflection != g2.reflection).any()  # the flags did move


def test_coarse_levels_of_a_non_orientable_mesh_stay_non_orientable(strip_like):
    _, hierarchy = strip_like
    for level, level_map in zip(hierarchy.levels[1:], hierarchy.maps):
        assert local_orientations(level.faces).any()  # no consistent winding exists
        assert level.field.reflection.any() and level_map.reflection is not None
        assert level.num_mesh_vertices == level.num_vertices  # nothing fell apart
        np.testing.assert_allclose(np.bincount(level_map.coarse, weights=level_map.weight), 1.0)


def test_path_composition_matches_a_step_by_step_walk(strip_like):
    _, hierarchy = strip_like
    field, level_map = hierarchy.levels[0].field, hierarchy.maps[0]
    has_edge = level_map.parent_edge >= 0
    edge = np.maximum(level_map.parent_edge, 0)
    step_a, step_r = np.where(has_edge, field.transport[edge], 0.0), has_edge & field.reflection[edge]
    fast_a, fast_r = o2_path_compose(step_a, step_r, level_map.parent)
    for f in range(len(level_map.parent)):
        a, r, v = 0.0, False, f
        while level_map.parent[v] != v:  # walk: g <- step g
            a, r = step_a[v] + (-a if step_r[v] else a), bool(step_r[v]) ^ r
            v = level_map.parent[v]
        assert np.isclose(np.cos(a - fast_a[f]), 1.0) and r == fast_r[f]


def test_frame_step_reads_handedness_off_the_normals():
    rng = np.random.default_rng(0)
    frame = o2_frame_field(*icosphere(1)).frame
    angle, flipped = o2_frame_step(frame, frame)
    np.testing.assert_allclose(angle, 0, atol=1e-12)
    assert not flipped.any()
    phi, s = rng.uniform(-np.pi, np.pi, len(frame)), rng.random(len(frame)) < 0.5
    angle, flipped = o2_frame_step(reflect_frames(frame, phi, s), frame)  # = h, the gauge change
    assert np.array_equal(flipped, s)
    np.testing.assert_allclose(wrap_angle(angle - phi), 0, atol=1e-12)


def test_an_oriented_mesh_gets_the_so2_hierarchy_without_reflections():
    pos, faces = icosphere(3)
    mesh = gaugemesh.validate_mesh(pos, faces)
    o2 = mesh_hierarchy(mesh.pos, mesh.faces, 3, structure_group="O2")
    so2 = mesh_hierarchy(mesh.pos, mesh.faces, 3)
    for a, b in zip(o2.maps, so2.maps):
        assert np.array_equal(a.coarse, b.coarse) and not a.reflection.any() and b.reflection is None
        np.testing.assert_allclose(wrap_angle(a.angle - b.angle), 0, atol=1e-12)
    for a, b in zip(o2.levels, so2.levels):
        assert not a.field.reflection.any()
        np.testing.assert_allclose(a.field.transport, b.field.transport, atol=1e-12)


def test_add_hierarchy_builds_an_o2_hierarchy_from_o2_data():
    mesh = _mesh(NON_ORIENTABLE["moebius"])
    data = add_hierarchy(gaugemesh.mesh_to_data(mesh, dtype=torch.float64, structure_group="O2"), 3)
    assert num_levels(data) == 3
    for k in (1, 2):
        assert data[f"pool{k}_reflection"].dtype == torch.bool
        assert data[f"pool{k}_reflection"].shape == data[f"pool{k}_index"].shape
        assert data[f"level{k}_reflection"].shape == data[f"level{k}_theta"].shape
    with pytest.raises(ValueError, match="does not match"):
        mesh_hierarchy(mesh.pos, mesh.faces, 2, field=o2_frame_field(mesh.pos, mesh.faces))

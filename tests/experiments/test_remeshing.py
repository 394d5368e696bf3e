"""The remeshing study's pieces: points uniform by area, the nearest face of another meshing,
the topology of a meshing, and remeshers that return a valid mesh of about the asked size on
the same surface."""

import numpy as np
import pytest

from experiments.human_seg.remeshing import REMESHERS, nearest_face, surface_points, topology
from gaugemesh.geometry.measures import face_areas
from gaugemesh.mesh import validate_mesh
from tests.conftest import icosphere
from tests.datasets.helpers import sphere


def test_surface_points_are_uniform_by_area_and_lie_on_their_faces():
    pos = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [3, 0, 0], [3, 3, 0]])
    faces = np.array([[0, 1, 2], [1, 3, 4]])  # areas 0.5 and 3
    points, face = surface_points(pos, faces, 20000, np.random.default_rng(0))
    assert np.mean(face == 1) == pytest.approx(3 / 3.5, abs=0.01)
    first = points[face == 0]
    assert np.all(first[:, :2] >= -1e-12) and np.all(first[:, 0] + first[:, 1] <= 1 + 1e-12)


def test_nearest_face_finds_the_face_a_point_lies_on():
    pos, faces = sphere(0, subdivisions=2)
    rng = np.random.default_rng(1)
    points, face = surface_points(pos, faces, 500, rng)
    found = nearest_face(points, pos, faces, rng, samples_per_face=64)
    # Sampling finds a neighbour of the true face for points near an edge: compare centroids.
    centroid = pos[faces].mean(1)
    spacing = np.sqrt(face_areas(pos, faces).mean())
    assert np.mean(found == face) > 0.8
    assert np.all(np.linalg.norm(centroid[found] - centroid[face], axis=1) < 1.5 * spacing)


def test_topology_counts_handles_and_pieces_but_not_specks():
    pos, faces = icosphere(3)
    assert topology(pos, faces) == (2,)
    two = np.concatenate([pos, pos + 5.0]), np.concatenate([faces, faces + len(pos)])
    assert topology(*two) == (2, 2)
    # A speck of 4 vertices (a tetrahedron) beside 2 x 642 is under 1% of the vertices.
    speck = 0.01 * np.array([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) + 9.0
    with_speck = np.concatenate([two[0], speck]), np.concatenate([two[1], [[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]] +
                                                                    np.int64(len(two[0]))])
    assert topology(*with_speck) == (2, 2) and topology(*with_speck, min_share=0.0) == (2, 2, 2)
    # A torus of 8 x 6 quads, each cut in two: one handle, Euler characteristic 0.
    i, j = np.meshgrid(np.arange(8), np.arange(6), indexing="ij")
    u, v = 2 * np.pi * i.ravel() / 8, 2 * np.pi * j.ravel() / 6
    torus = np.stack([(2 + np.cos(v)) * np.cos(u), (2 + np.cos(v)) * np.sin(u), np.sin(v)], axis=1)
    a, b = (i * 6 + j).ravel(), (((i + 1) % 8) * 6 + j).ravel()
    c, d = (((i + 1) % 8) * 6 + (j + 1) % 6).ravel(), (i * 6 + (j + 1) % 6).ravel()
    assert topology(torus, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])) == (0,)


@pytest.mark.parametrize("name", sorted(REMESHERS))
def test_remeshers_give_a_valid_mesh_of_the_asked_size_on_the_same_surface(name):
    pytest.importorskip({"isotropic": "pymeshlab", "quadric": "fast_simplification",
                         "marching_cubes": "skimage", "signed_distance": "pymeshlab"}.get(name, "numpy"),
                        reason="the remesh extra is not installed (pip install -e .[remesh])")
    pos, faces = icosphere(2)  # the unit sphere, 162 vertices
    new_pos, new_faces = REMESHERS[name](pos, faces, 600, np.random.default_rng(0))
    mesh = validate_mesh(new_pos, new_faces, repair=True)
    assert 300 < mesh.num_vertices < 1200
    # A binary voxelisation's marching cubes is a staircase: about a third more area than the sphere.
    ratio = face_areas(mesh.pos, mesh.faces).sum() / face_areas(pos, faces).sum()
    assert 1 <= ratio < 1.45 if name == "marching_cubes" else abs(ratio - 1) < 0.05
    voxel = 0.25 if name == "marching_cubes" else 0.05  # the voxel size for 600 vertices is ~0.18
    assert np.all(np.abs(np.linalg.norm(mesh.pos, axis=1) - 1) < voxel)  # on the sphere

"""Frames: orthonormal, right-handed, normals that agree with the surface."""

import numpy as np
import pytest

from gaugemesh import load_mesh
from gaugemesh.geometry import face_normals, frame_field, rotate_frames, vertex_areas, face_areas, vertex_normals
from tests.conftest import icosphere

MESHES = ["odedstein/spot_low_resolution.obj", "odedstein/hand_lowres.obj", "odedstein/torus.obj"]


@pytest.fixture(params=MESHES)
def mesh(request, test_meshes_dir):
    return load_mesh(test_meshes_dir / request.param)


@pytest.mark.parametrize("frames", ["default", "potpourri3d", "random"])
def test_frames_are_orthonormal_and_right_handed(mesh, frames):
    frame = frame_field(mesh.pos, mesh.faces, frames=frames, seed=3).frame
    np.testing.assert_allclose(np.einsum("vij,vkj->vik", frame, frame), np.broadcast_to(np.eye(3), frame.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(frame), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.cross(frame[:, 2], frame[:, 0]), frame[:, 1], atol=1e-12)


def test_normals_agree_with_the_face_normals_around_them(mesh):
    normals = vertex_normals(mesh.pos, mesh.faces)
    face_n = np.repeat(face_normals(mesh.pos, mesh.faces), 3, axis=0)
    agreement = np.einsum("cd,cd->c", normals[mesh.faces.ravel()], face_n)
    # Every incident face of these smooth meshes lies on the normal's side.
    assert agreement.min() > 0.0
    # And on a sphere the normal is the radial direction.
    pos, faces = icosphere(3)
    radial = pos / np.linalg.norm(pos, axis=1, keepdims=True)
    assert np.einsum("vd,vd->v", vertex_normals(pos, faces), radial).min() > 1 - 1e-4


def test_random_gauge_is_seeded_and_differs_from_default(mesh):
    a = frame_field(mesh.pos, mesh.faces, frames="random", seed=1).frame
    b = frame_field(mesh.pos, mesh.faces, frames="random", seed=1).frame
    c = frame_field(mesh.pos, mesh.faces, frames="random", seed=2).frame
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1


def test_rotate_frames_turns_e1_counter_clockwise_about_n():
    frame = np.eye(3)[None]
    rotated = rotate_frames(frame, np.array([np.pi / 2]))
    np.testing.assert_allclose(rotated[0], [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-15)


def test_vertex_areas_sum_to_the_total_area(mesh):
    np.testing.assert_allclose(vertex_areas(mesh.pos, mesh.faces).sum(), face_areas(mesh.pos, mesh.faces).sum(), rtol=1e-12)


def test_explicit_frames_are_checked(mesh):
    with pytest.raises(ValueError, match="orthonormal"):
        frame_field(mesh.pos, mesh.faces, frames=2 * np.broadcast_to(np.eye(3), (mesh.num_vertices, 3, 3)))
    with pytest.raises(ValueError, match="unknown frames"):
        frame_field(mesh.pos, mesh.faces, frames="nope")

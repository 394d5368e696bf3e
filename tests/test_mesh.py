"""validate_mesh: every defect raises MeshError naming it; repair fixes what it safely can."""

import numpy as np
import pytest

from gaugemesh import Mesh, MeshError, validate_mesh
from tests.conftest import grid, icosphere


def test_valid_mesh_is_kept_as_is():
    pos, faces = icosphere(1)
    mesh = validate_mesh(pos, faces)
    assert isinstance(mesh, Mesh)
    np.testing.assert_array_equal(mesh.faces, faces)
    np.testing.assert_array_equal(mesh.vertex_map, np.arange(len(pos)))
    assert mesh.euler_characteristic == 2


@pytest.mark.parametrize(
    "corrupt, words",
    [
        (lambda p, f: (p, f[:0]), "no faces"),
        (lambda p, f: (np.where(np.arange(len(p))[:, None] == 3, np.nan, p), f), "NaN"),
        (lambda p, f: (p, np.vstack([f, [[0, 1, len(p)]]])), "out of range"),
        (lambda p, f: (p, np.vstack([f, [[0, 0, 1]]])), "degenerate"),
        (lambda p, f: (p, np.vstack([f, f[5:6, [1, 2, 0]]])), "duplicate"),
        (lambda p, f: (np.vstack([p, [[9.0, 9, 9]]]), f), "unreferenced"),
    ],
)
def test_defects_raise_mesh_error_naming_them(corrupt, words):
    pos, faces = icosphere(1)
    with pytest.raises(MeshError, match=words):
        validate_mesh(*corrupt(pos, faces))


def test_degenerate_and_duplicate_faces_are_dropped_by_repair():
    pos, faces = grid(4)
    bad = np.vstack([faces, [[0, 0, 1]], faces[2:3], [[0, 1, 2]]])  # [0,1,2] is collinear
    mesh = validate_mesh(pos, bad, repair=True)
    assert mesh.num_faces == len(faces)
    np.testing.assert_array_equal(mesh.face_map, np.arange(len(faces)))


def test_flipped_faces_are_reoriented_and_closed_meshes_face_outward():
    pos, faces = icosphere(1)
    flipped = faces.copy()
    flipped[::3] = flipped[::3, ::-1]
    mesh = validate_mesh(pos, flipped)
    centroids = pos[mesh.faces].mean(1)
    normals = np.cross(pos[mesh.faces[:, 1]] - pos[mesh.faces[:, 0]], pos[mesh.faces[:, 2]] - pos[mesh.faces[:, 0]])
    assert np.all(np.einsum("fd,fd->f", normals, centroids) > 0)
    inside_out = validate_mesh(pos, faces[:, ::-1])
    np.testing.assert_array_equal(np.sort(inside_out.faces, 1), np.sort(faces, 1))
    assert np.all(np.einsum("fd,fd->f", np.cross(pos[inside_out.faces[:, 1]] - pos[inside_out.faces[:, 0]],
                                                  pos[inside_out.faces[:, 2]] - pos[inside_out.faces[:, 0]]),
                            pos[inside_out.faces].mean(1)) > 0)


def _moebius(n=12):
    """A Moebius strip: rims a_k and b_k; past the last step the half twist swaps them."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rims = [np.stack([(1 + s * np.cos(t / 2)) * np.cos(t), (1 + s * np.cos(t / 2)) * np.sin(t), s * np.sin(t / 2)], 1)
            for s in (-0.3, 0.3)]
    pos = np.concatenate(rims)
    a, b = np.arange(n), np.arange(n) + n
    faces = [[a[k], a[k + 1], b[k + 1]] for k in range(n - 1)] + [[a[k], b[k + 1], b[k]] for k in range(n - 1)]
    faces += [[a[-1], b[0], a[0]], [a[-1], a[0], b[-1]]]
    return pos, np.array(faces)


def test_non_orientable_surface_is_reported_as_unsupported():
    pos, faces = _moebius()
    with pytest.raises(MeshError, match="non-orientable"):
        validate_mesh(pos, faces)
    with pytest.raises(MeshError, match="non-orientable"):
        validate_mesh(pos, faces, repair=True)


def test_non_manifold_edge_is_reported_then_cut_by_repair():
    pos = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]])
    faces = np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4]])
    with pytest.raises(MeshError, match="non-manifold edges"):
        validate_mesh(pos, faces)
    mesh = validate_mesh(pos, faces, repair=True)
    assert mesh.num_faces == 3
    # Every vertex of the repaired mesh stands where its file vertex stood.
    np.testing.assert_array_equal(mesh.pos, pos[mesh.vertex_map])
    edges = np.sort(np.concatenate([mesh.faces[:, [0, 1]], mesh.faces[:, [1, 2]], mesh.faces[:, [2, 0]]]), 1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert counts.max() <= 2


def test_non_manifold_vertex_is_reported_then_split_by_repair():
    # Two triangles touching at vertex 0 only (a bow tie).
    pos = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [-1, 0, 0], [-1, -1, 0]])
    faces = np.array([[0, 1, 2], [0, 3, 4]])
    with pytest.raises(MeshError, match="non-manifold vertices"):
        validate_mesh(pos, faces)
    mesh = validate_mesh(pos, faces, repair=True)
    assert mesh.num_vertices == 6
    assert np.sum(mesh.vertex_map == 0) == 2
    np.testing.assert_array_equal(mesh.pos, pos[mesh.vertex_map])


def test_unreferenced_vertices_are_dropped_by_repair_and_tracked():
    pos, faces = grid(3)
    pos = np.vstack([[[5.0, 5, 5]], pos])
    mesh = validate_mesh(pos, faces + 1, repair=True)
    np.testing.assert_array_equal(mesh.vertex_map, np.arange(1, len(pos)))
    np.testing.assert_array_equal(mesh.pos, pos[1:])


def test_error_message_says_where_and_what_to_do():
    pos, faces = icosphere(1)
    with pytest.raises(MeshError) as err:
        validate_mesh(pos, np.vstack([faces, faces[:7]]))
    message = str(err.value)
    assert "7 faces" in message and "repair=True" in message

"""Resampling a fine mesh to a fixed surface density (features.input_vertices): the result is a
valid mesh on the input's vertices, every input vertex has a stand-in nearby, and the samples,
predictions and scores built on it read back on every input vertex."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gaugemesh.datasets.sample import ProcessOptions, labels_to_resampled, mesh_sample
from gaugemesh.geometry.measures import face_areas
from gaugemesh.hierarchy.resample import needs_resampling, resample_mesh
from gaugemesh.mesh import validate_mesh
from tests.conftest import icosphere


def _fine_sphere():
    return validate_mesh(*icosphere(4))  # 2562 vertices


def test_resampled_mesh_is_valid_even_and_on_the_input_vertices():
    mesh = _fine_sphere()
    out = resample_mesh(mesh, 200)
    assert 140 < out.mesh.num_vertices < 280 and out.mesh.euler_characteristic == 2
    np.testing.assert_array_equal(out.mesh.pos, mesh.pos[out.mesh.vertex_map])  # samples sit on input vertices
    np.testing.assert_array_equal(out.index[out.mesh.vertex_map], np.arange(out.mesh.num_vertices))
    cell = np.sqrt(face_areas(mesh.pos, mesh.faces).sum() / 200)
    assert np.linalg.norm(mesh.pos - out.mesh.pos[out.index], axis=1).max() < 1.5 * cell  # a stand-in nearby
    assert np.bincount(out.index, minlength=out.mesh.num_vertices).min() >= 1  # every cell holds input vertices


def test_a_component_without_faces_at_this_density_maps_to_the_nearest_resampled_vertex():
    pos, faces = icosphere(4)
    speck = np.array([[1.2, 0.0, 0.0], [1.2001, 0.0, 0.0], [1.2, 0.0001, 0.0]])  # one triangle, far inside a cell
    mesh = validate_mesh(np.concatenate([pos, speck]), np.concatenate([faces, [[len(pos), len(pos) + 1, len(pos) + 2]]]))
    out = resample_mesh(mesh, 200)
    nearest = np.linalg.norm(out.mesh.pos - speck[0], axis=1).argmin()
    assert np.all(out.index[len(pos):] == nearest)
    assert np.linalg.norm(out.mesh.pos[nearest]) == pytest.approx(1.0)  # a vertex of the sphere: the speck kept none


def test_needs_resampling_only_above_twice_the_density():
    mesh = _fine_sphere()
    assert needs_resampling(mesh, 1000) and not needs_resampling(mesh, 1281) and not needs_resampling(mesh, 0)
    with pytest.raises(ValueError, match="at least 4"):
        resample_mesh(mesh, 3)
    with pytest.raises(ValueError, match="input_vertices"):
        ProcessOptions(input_vertices=2)


def test_resampled_sample_is_the_resampled_mesh_sample_with_the_way_back():
    mesh = _fine_sphere()
    options = ProcessOptions(features=("hks", "curvature"), input_vertices=200)
    data = mesh_sample(mesh, options)
    out = resample_mesh(mesh, 200)
    alone = mesh_sample(out.mesh, ProcessOptions(features=("hks", "curvature")))
    assert data.num_nodes == out.mesh.num_vertices
    torch.testing.assert_close(data.x, alone.x)
    np.testing.assert_array_equal(data.input_index.numpy(), out.index)
    np.testing.assert_array_equal(data.vertex_map.numpy(), mesh.vertex_map[out.mesh.vertex_map])
    assert not hasattr(mesh_sample(out.mesh, options), "input_index")  # coarse enough already: untouched


def test_labels_follow_to_the_resampled_sample():
    index = torch.tensor([0, 0, 0, 1, 1, 2])
    data = Data(num_nodes=3, input_index=index, y=torch.tensor([4, 4, 1, 2, -1, -1]),
                seg_edge_index=torch.tensor([[0, 3], [4, 5]]))
    labels_to_resampled(data)
    assert data.y.tolist() == [4, 2, -1]  # the majority of the cell; a cell of unlabelled vertices stays unlabelled
    assert data.seg_edge_index.tolist() == [[0, 1], [1, 2]]  # scored on the input's edges, through the stand-ins

"""mesh_to_data, gauge_transform and the PyG transforms."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gaugemesh import ComputeFrameField, RandomGauge, gauge_transform, mesh_to_data, validate_mesh
from gaugemesh.geometry import rotate_frames
from tests.conftest import grid, icosphere


@pytest.fixture
def mesh():
    pos, faces = icosphere(2)
    return validate_mesh(pos * [1.0, 0.7, 1.3], faces)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mesh_to_data_fields(mesh, dtype):
    data = mesh_to_data(mesh, dtype=dtype)
    V, F, E = mesh.num_vertices, mesh.num_faces, 2 * mesh.num_edges
    shapes = {"pos": (V, 3), "face": (3, F), "frame": (V, 3, 3), "edge_index": (2, E), "theta": (E,),
              "transport": (E,), "edge_weight": (E,), "area": (V,)}
    for key, shape in shapes.items():
        assert tuple(data[key].shape) == shape, key
    for key in ("pos", "frame", "theta", "transport", "edge_weight", "area"):
        assert data[key].dtype == dtype
    assert data.edge_index.dtype == torch.long and data.face.dtype == torch.long
    assert data.num_nodes == V
    assert not data.has_self_loops() and data.is_undirected()


def test_mesh_to_data_rejects_raw_arrays(mesh):
    with pytest.raises(TypeError, match="load_mesh"):
        mesh_to_data((mesh.pos, mesh.faces))


@pytest.mark.parametrize("connection", ["levi-civita", "projection"])
def test_gauge_transform_equals_recomputing_in_rotated_frames(mesh, connection):
    data = mesh_to_data(mesh, connection=connection, dtype=torch.float64)
    phi = np.random.default_rng(1).uniform(-np.pi, np.pi, mesh.num_vertices)
    moved = gauge_transform(data, torch.from_numpy(phi))
    recomputed = mesh_to_data(mesh, connection=connection, frames=rotate_frames(data.frame.numpy(), phi), dtype=torch.float64)
    for key in ("theta", "transport"):
        diff = torch.remainder(moved[key] - recomputed[key] + torch.pi, 2 * torch.pi) - torch.pi
        assert diff.abs().max() < 1e-10, key
    torch.testing.assert_close(moved.frame, recomputed.frame, atol=1e-12, rtol=0)
    assert data.theta.data_ptr() != moved.theta.data_ptr()  # the input is not modified


def test_geometry_transform_and_random_gauge():
    pos, faces = grid(5)
    raw = Data(pos=torch.tensor(pos, dtype=torch.float32), face=torch.tensor(faces.T), y=torch.arange(25))
    data = ComputeFrameField()(raw)
    assert data.theta.shape[0] == data.edge_index.shape[1] and torch.equal(data.y, raw.y)
    gen = torch.Generator().manual_seed(0)
    moved = RandomGauge(generator=gen)(data)
    # theta changes by the same angle on every edge into a vertex: a gauge change.
    j, i = data.edge_index
    shift = torch.remainder(moved.theta - data.theta, 2 * torch.pi)
    per_vertex = torch.zeros(25).index_reduce_(0, i, shift, "amax", include_self=False)
    assert torch.allclose(shift, per_vertex[i], atol=1e-5) or torch.allclose(
        torch.cos(shift), torch.cos(per_vertex[i]), atol=1e-5)
    assert not torch.allclose(moved.theta, data.theta)

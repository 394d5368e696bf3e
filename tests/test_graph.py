"""mesh_to_data, gauge_transform and the PyG transforms."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gaugemesh import ComputeFrameField, MeshError, RandomGauge, gauge_transform, mesh_to_data, validate_mesh
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


def _wrapped(angle: torch.Tensor) -> torch.Tensor:
    """The angle in (-pi, pi], by the definition (independent of graph.py's wrap)."""
    return torch.atan2(torch.sin(angle), torch.cos(angle))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_geometry_transform_is_mesh_to_data_and_keeps_other_attributes(dtype):
    pos, faces = grid(5)  # integer coordinates: the same in both dtypes
    raw = Data(pos=torch.tensor(pos, dtype=dtype), face=torch.tensor(faces.T), y=torch.arange(25))
    data = ComputeFrameField()(raw)
    direct = mesh_to_data(validate_mesh(pos, faces), dtype=dtype)
    for key in ("frame", "edge_index", "theta", "transport", "edge_weight", "area"):
        assert torch.equal(data[key], direct[key]), key
    assert torch.equal(data.y, raw.y) and torch.equal(data.vertex_map, torch.arange(25))


def test_random_gauge_applies_one_rotation_per_vertex_as_the_conventions_say():
    """docs/conventions.md: the frame turns by +phi_i about n_i, theta' = theta - phi_i,
    transport' = transport - phi_i + phi_j (edge j -> i), both wrapped to (-pi, pi], and a
    feature becomes rho(-phi_i) f_i. phi is read back from the frames, so the check does not
    repeat how RandomGauge draws it; the vector feature must stay the same tangent vector."""
    mesh = validate_mesh(*icosphere(1))
    data = mesh_to_data(mesh, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    data.x = torch.randn(data.num_nodes, 3, generator=g, dtype=torch.float64)  # "1x0 + 1x1"
    moved = RandomGauge(x_type="1x0 + 1x1", generator=g)(data)
    e1, e2, n = data.frame.unbind(1)
    e1_new, e2_new, n_new = moved.frame.unbind(1)
    phi = torch.atan2((e1_new * e2).sum(1), (e1_new * e1).sum(1))
    assert phi.std() > 1.0  # spread over the circle, not a near-identity
    torch.testing.assert_close(e1_new, torch.cos(phi)[:, None] * e1 + torch.sin(phi)[:, None] * e2, rtol=0, atol=1e-12)
    torch.testing.assert_close(e2_new, torch.linalg.cross(n, e1_new), rtol=0, atol=1e-12)  # right-handed
    assert torch.equal(n_new, n)
    j, i = data.edge_index
    torch.testing.assert_close(moved.theta, _wrapped(data.theta - phi[i]), rtol=0, atol=1e-12)
    torch.testing.assert_close(moved.transport, _wrapped(data.transport - phi[i] + phi[j]), rtol=0, atol=1e-12)
    for angle in (moved.theta, moved.transport):
        assert bool((angle > -torch.pi).all() and (angle <= torch.pi).all())
    assert torch.equal(moved.x[:, 0], data.x[:, 0])  # the scalar is invariant
    z, z_new = torch.complex(data.x[:, 1], data.x[:, 2]), torch.complex(moved.x[:, 1], moved.x[:, 2])
    torch.testing.assert_close(z_new, torch.exp(-1j * phi) * z, rtol=0, atol=1e-12)
    tangent = data.x[:, 1:2] * e1 + data.x[:, 2:3] * e2
    torch.testing.assert_close(moved.x[:, 1:2] * e1_new + moved.x[:, 2:3] * e2_new, tangent, rtol=0, atol=1e-12)
    assert torch.equal(data.theta, mesh_to_data(mesh, dtype=torch.float64).theta)  # the input is untouched


def test_geometry_transform_repairs_and_carries_vertex_attributes_along_vertex_map():
    """Two grids pinched at one vertex (non-manifold: it is split in two) and a stray vertex
    (no face: dropped). Without repair it is refused; with it, every per-vertex attribute is
    the raw one at vertex_map, and the frame field is that of the repaired mesh."""
    pos, faces = grid(3)
    pos2 = pos + [2.0, 2.0, 0.0]  # its corner 0 lands on corner 8 of the first
    faces2 = np.where(faces == 0, 8, faces + 9)
    all_pos = np.concatenate([pos, pos2, [[10.0, 10.0, 10.0]]])  # vertex 9 (pos2's corner 0) unused too
    raw = Data(pos=torch.tensor(all_pos), face=torch.tensor(np.concatenate([faces, faces2]).T),
               y=torch.arange(len(all_pos)) * 10, colour=torch.rand(len(all_pos), 3, dtype=torch.float64),
               label=torch.tensor([7]))
    with pytest.raises(MeshError):
        ComputeFrameField()(raw)
    data = ComputeFrameField(repair=True)(raw)
    vmap = data.vertex_map
    assert data.num_nodes == len(vmap) == 19 - 2 + 1  # 19 raw, 2 unused dropped, the pinch split in two
    assert sorted(set(range(len(all_pos))) - set(vmap.tolist())) == [9, 18]
    assert int((vmap == 8).sum()) == 2
    assert torch.equal(data.pos, raw.pos[vmap])
    assert torch.equal(data.y, raw.y[vmap]) and torch.equal(data.colour, raw.colour[vmap])
    assert torch.equal(data.label, raw.label)  # not per vertex: untouched
    repaired = validate_mesh(all_pos, np.concatenate([faces, faces2]), repair=True)
    direct = mesh_to_data(repaired, dtype=torch.float64)
    for key in ("face", "frame", "edge_index", "theta", "transport", "edge_weight"):
        assert torch.equal(data[key], direct[key]), key

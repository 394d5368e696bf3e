"""load_mesh / validate_mesh / mesh_to_data with structure_group="O2": non-orientable meshes
are accepted for an O(2) frame field, and the SO(2) path still refuses them clearly."""

import numpy as np
import pytest
import torch

from gaugemesh import MeshError, load_mesh, mesh_to_data, validate_mesh
from gaugemesh.geometry.o2_frame_field import o2_loop_holonomy
from tests.conftest import TEST_MESHES, icosphere, require
from tests.o2_meshes import moebius_strip


def _write_obj(path, pos, faces):
    lines = [f"v {x:.17g} {y:.17g} {z:.17g}" for x, y, z in pos] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_moebius_strip_from_a_file(tmp_path, dtype):
    pos, faces, core = moebius_strip()
    path = _write_obj(tmp_path / "moebius.obj", pos, faces)
    with pytest.raises(MeshError, match='non-orientable.*structure_group="O2"'):
        load_mesh(path)  # the default, SO(2), says what to do
    mesh = load_mesh(path, structure_group="O2")
    assert not mesh.orientable and np.array_equal(mesh.faces, faces)  # windings as given
    with pytest.raises(MeshError, match="non-orientable"):
        mesh_to_data(mesh)  # an SO(2) field of a non-orientable mesh does not exist
    data = mesh_to_data(mesh, dtype=dtype, structure_group="O2")
    assert data.reflection.dtype == torch.bool and data.reflection.shape == data.theta.shape
    assert data.theta.dtype == dtype and data.reflection.any()
    edge_index = data.edge_index.numpy()
    _, flipped = o2_loop_holonomy(edge_index, data.transport.double().numpy(), data.reflection.numpy(), core, len(pos))
    assert flipped.all()


def test_orientable_mesh_gets_the_so2_field_and_no_reflections():
    pos, faces = icosphere(2)
    mesh = validate_mesh(pos, faces, structure_group="O2")
    assert mesh.orientable
    so2 = mesh_to_data(validate_mesh(pos, faces), dtype=torch.float64)
    o2 = mesh_to_data(mesh, dtype=torch.float64, structure_group="O2")
    assert not o2.reflection.any() and "reflection" not in so2
    for key in ("edge_index", "theta", "transport", "edge_weight", "frame", "area"):
        torch.testing.assert_close(o2[key], so2[key], atol=1e-12, rtol=0, msg=key)


def test_options_o2_does_not_take_are_refused():
    pos, faces = icosphere(1)
    mesh = validate_mesh(pos, faces)
    with pytest.raises(ValueError, match="structure_group"):
        validate_mesh(pos, faces, structure_group="SO3")
    with pytest.raises(ValueError, match="structure_group"):
        mesh_to_data(mesh, structure_group="so2")
    with pytest.raises(ValueError, match="levi-civita"):
        mesh_to_data(mesh, connection="projection", structure_group="O2")


def test_shared_moebius_mesh(test_meshes_dir):
    path = require(TEST_MESHES / "geometry_central" / "moebius.obj")
    with pytest.raises(MeshError, match="non-orientable"):
        load_mesh(path)
    mesh = load_mesh(path, structure_group="O2")
    data = mesh_to_data(mesh, dtype=torch.float64, structure_group="O2")
    assert not mesh.orientable and mesh.euler_characteristic == 0
    assert data.reflection.any() and torch.isfinite(data.transport).all()
    torch.testing.assert_close(torch.zeros(mesh.num_vertices, dtype=torch.float64).index_add_(0, data.edge_index[1], data.edge_weight),
                               torch.ones(mesh.num_vertices, dtype=torch.float64))

"""mesh_to_data(features=...): the sample crosses into torch once, with its features."""

import pytest
import torch

from gaugemesh import ComputeFrameField, add_features, mesh_to_data, validate_mesh
from gaugemesh.features import FeatureOptions
from tests.conftest import icosphere

OPTIONS = FeatureOptions(hks_count=4, grad_count=2, eigs=24)
NAMES = ("hks", "curvature", "hks_grad", "xyz")


@pytest.fixture(scope="module")
def mesh():
    pos, faces = icosphere(2)
    return validate_mesh(pos * [1.2, 1.0, 0.8], faces)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_features_in_one_crossing_equal_the_two_step_path(mesh, dtype):
    once = mesh_to_data(mesh, dtype=dtype, features=NAMES, feature_options=OPTIONS)
    # The old path: float64 Data, features added from it, cast at the end.
    twice = add_features(mesh_to_data(mesh, dtype=torch.float64), NAMES, OPTIONS)
    assert once.x.dtype == dtype and once.x_type == twice.x_type == "9x0 + 2x1"  # 4 hks + 2 curvature + 3 xyz; 2 gradients
    torch.testing.assert_close(once.x, twice.x.to(dtype), rtol=0, atol=0)


def test_without_features_no_x_is_written(mesh):
    data = mesh_to_data(mesh)
    assert "x" not in data and "x_type" not in data


def test_unknown_feature_fails_before_the_frame_field(mesh, monkeypatch):
    import gaugemesh.graph as graph

    monkeypatch.setattr(graph, "frame_field", lambda *a, **k: pytest.fail("frame field computed"))
    with pytest.raises(ValueError, match="unknown input feature"):
        mesh_to_data(mesh, features=["hks", "shot"])


def test_add_features_never_guesses_a_frame_field(mesh):
    data = mesh_to_data(mesh)
    del data.frame
    with pytest.raises(ValueError, match="needs data.frame"):
        add_features(data, ["hks"], OPTIONS)


def test_compute_frame_field_then_add_features_matches_mesh_to_data(mesh):
    from torch_geometric.data import Data

    raw = Data(pos=torch.from_numpy(mesh.pos), face=torch.from_numpy(mesh.faces.T.copy()))
    piped = add_features(ComputeFrameField()(raw), ["hks_grad"], OPTIONS)
    direct = mesh_to_data(mesh, dtype=torch.float64, features=["hks_grad"], feature_options=OPTIONS)
    torch.testing.assert_close(piped.x, direct.x, rtol=0, atol=1e-12)

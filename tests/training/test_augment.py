"""Training-time augmentation: a random gauge for the nonlinearities, rotations of xyz inputs."""

import math

import torch

from gaugemesh.testing import random_mesh_data
from gaugemesh.training.augment import make_augment

CONFIG = {"augment": {"gauge": True, "rotate": True},
          "features": {"names": ["hks", "xyz"], "hks_count": 2, "eigs": 8}}


def _batch():
    data = random_mesh_data(1, dtype=torch.float32)
    data.x = torch.randn(data.num_nodes, 5, generator=torch.Generator().manual_seed(0))
    return data


def test_random_gauge_leaves_the_connection_and_features_alone():
    data = _batch()
    torch.manual_seed(0)
    out = make_augment(CONFIG, "5x0")(data)
    phi = out.nonlinearity_gauge
    assert phi.shape == (data.num_nodes,) and phi.abs().max() <= math.pi and phi.std() > 1
    assert out.theta is data.theta and out.transport is data.transport  # the kept operators stay valid
    assert not hasattr(data, "nonlinearity_gauge")  # the caller's batch is not changed


def test_xyz_channels_are_rotated_rigidly_and_reproducibly():
    data = _batch()
    augment = make_augment({**CONFIG, "augment": {"gauge": False, "rotate": True}}, "5x0")
    torch.manual_seed(1)
    first = augment(data)
    torch.manual_seed(1)
    again = augment(data)
    xyz = slice(2, 5)  # two HKS columns first
    torch.testing.assert_close(first.x[:, :2], data.x[:, :2])
    torch.testing.assert_close(first.x[:, xyz].norm(dim=1), data.x[:, xyz].norm(dim=1))
    rotation = torch.linalg.lstsq(data.x[:, xyz].double(), first.x[:, xyz].double()).solution
    torch.testing.assert_close(rotation.T @ rotation, torch.eye(3, dtype=torch.float64), atol=1e-5, rtol=0)
    assert torch.det(rotation) > 0 and not torch.allclose(rotation, torch.eye(3, dtype=torch.float64), atol=0.1)
    torch.testing.assert_close(again.x, first.x, rtol=0, atol=0)  # seeded by torch's checkpointed generator


def test_nothing_to_do_gives_no_augment():
    assert make_augment({**CONFIG, "augment": {"gauge": False, "rotate": False}}, "5x0") is None

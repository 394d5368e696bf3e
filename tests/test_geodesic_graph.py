"""Geodesic-disc graphs in samples: every level replaced, radial weights, and the networks on
them equivariant to gauge changes at every level and to renumbering; the options that ask
for them."""

import pytest
import torch
from torch_geometric.data import Batch

import gaugemesh
from gaugemesh.datasets.sample import ProcessOptions, cast_floats, mesh_sample
from gaugemesh.geodesic_graph import with_geodesic_discs
from gaugemesh.hierarchy.data import level_data, num_levels
from gaugemesh.hierarchy.testing import assert_hierarchy_gauge_equivariant, assert_hierarchy_permutation_equivariant
from gaugemesh.models import GemResNet
from gaugemesh.models.gem_unet import GemUNet
from gaugemesh.testing import assert_gauge_equivariant, on_data, randomize_parameters
from gaugemesh.training.config import ConfigError
from gaugemesh.training.recipe import check_radial_basis
from tests.conftest import icosphere

SHARE, RADIAL = 0.15, 3


def with_discs_and_x(data, dtype, seed=0):
    data = with_geodesic_discs(data, SHARE, RADIAL)
    data.x = torch.randn(data.num_nodes, 4, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    return data


@pytest.fixture(scope="module")
def discs64(meshes64):
    return [with_discs_and_x(d, torch.float64, seed=i) for i, d in enumerate(meshes64)]


def test_every_level_gets_wider_discs_with_radial_weights(meshes64, discs64):
    for before, after in zip(meshes64, discs64):
        assert num_levels(after) == num_levels(before) == 3
        for k in range(3):
            old, new = level_data(before, k), level_data(after, k)
            assert new.edge_index.size(1) >= old.edge_index.size(1)  # the one-ring and more
            assert new.edge_weight.shape == (new.edge_index.size(1), RADIAL)
            total = torch.zeros(new.num_nodes, dtype=torch.float64).index_add_(0, new.edge_index[1], new.edge_weight.sum(1))
            torch.testing.assert_close(total, torch.ones_like(total))
        for key in ("pool1_index", "pool1_angle", "level1_frame", "frame"):  # maps and frames unchanged
            torch.testing.assert_close(after[key], before[key])
    assert sum(d.edge_index.size(1) for d in discs64) > 1.5 * sum(d.edge_index.size(1) for d in meshes64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("train", [True, False])
def test_unet_on_discs_is_gauge_equivariant_at_every_level(meshes32, discs64, dtype, train):
    data = discs64[1] if dtype == torch.float64 else with_discs_and_x(meshes32[1], dtype, seed=1)
    net = GemUNet("2x0 + 1x1", 5, width=2, max_order=2, num_levels=3, num_radial=RADIAL, dropout=0.2, nonlinearity="norm")
    net = randomize_parameters(net.to(dtype), scale=0.5).train(train)
    assert_hierarchy_gauge_equivariant(on_data(net), data, data.x, net.in_type, net.out_type, seed=3)
    assert_hierarchy_permutation_equivariant(on_data(net.eval()), data, data.x)


def test_the_check_fails_for_a_network_that_ignores_the_disc_transport(discs64):
    """Transport along the disc paths is what makes far neighbours' features comparable; a
    network reading zeros instead is not equivariant, and the check sees it."""
    data = discs64[0]
    net = GemResNet("2x0 + 1x1", 5, width=2, num_blocks=1, num_radial=RADIAL, nonlinearity="norm")
    net = randomize_parameters(net.double()).eval()

    def without_transport(x, graph):
        graph = graph.clone()
        graph.transport = torch.zeros_like(graph.transport)
        return on_data(net)(x, graph)

    with pytest.raises(AssertionError, match="not gauge equivariant"):
        assert_gauge_equivariant(without_transport, data, data.x, net.in_type, net.out_type)


@pytest.mark.parametrize("train", [True, False])
def test_resnet_on_discs_is_gauge_equivariant(discs64, train):
    data = discs64[2]
    for dtype in (torch.float32, torch.float64):
        net = GemResNet("2x0 + 1x1", 5, width=2, num_blocks=2, num_radial=RADIAL, dropout=0.2, nonlinearity="norm")
        net = randomize_parameters(net.to(dtype)).train(train)
        graph = cast_floats(data.clone(), dtype)
        assert_gauge_equivariant(on_data(net), graph, graph.x, net.in_type, net.out_type, seed=2)


def test_a_batch_of_disc_graphs_equals_each_alone(discs64):
    net = randomize_parameters(GemUNet("2x0 + 1x1", 5, width=2, num_levels=3, num_radial=RADIAL, nonlinearity="norm").double()).eval()
    torch.testing.assert_close(net(Batch.from_data_list(discs64)), torch.cat([net(d) for d in discs64]))


def test_mesh_sample_builds_discs_and_keys_them():
    mesh = gaugemesh.validate_mesh(*icosphere(2))
    options = ProcessOptions(kernel_radius=0.2, radial_basis=2, hierarchy_levels=2)
    data = mesh_sample(mesh, options)
    plain = mesh_sample(mesh, ProcessOptions(hierarchy_levels=2))
    assert data.edge_weight.shape == (data.edge_index.size(1), 2) and data.edge_index.size(1) > plain.edge_index.size(1)
    assert data.level1_edge_weight.shape[1] == 2
    layout = type("Layout", (), {"default_repair": False, "key": lambda self: "layout"})()
    assert options.key(layout)["options"]["kernel_radius"] == 0.2
    assert "kernel_radius" not in ProcessOptions().key(layout)["options"]  # older caches stay valid


@pytest.mark.parametrize("options, message", [
    (dict(kernel_radius=-0.1), "kernel_radius must be 0"),
    (dict(kernel_radius=float("nan")), "kernel_radius must be 0"),
    (dict(radial_basis=3), "needs kernel_radius"),
    (dict(radial_basis=0, kernel_radius=0.1), "radial_basis must be a positive integer"),
    (dict(kernel_radius=0.1, structure_group="O2"), "SO.2. meshes only"),
])
def test_options_refuse_discs_they_cannot_build(options, message):
    with pytest.raises(ValueError, match=message):
        ProcessOptions(**options)


def test_a_model_reading_other_radial_weights_is_refused():
    config = {"model": {"kind": "gem", "num_radial": 1}, "features": {"radial_basis": 3}}
    with pytest.raises(ConfigError, match="set model.num_radial=3"):
        check_radial_basis(config)
    check_radial_basis({"model": {"kind": "gem", "num_radial": 3}, "features": {"radial_basis": 3}})
    check_radial_basis({"model": {"kind": "gcn"}, "features": {"radial_basis": 3}})  # reads no kernel weights

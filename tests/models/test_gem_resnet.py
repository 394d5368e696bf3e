"""GemResNet: gauge equivariance, invariance to rigid motions, batching, DataLoader, compile."""

import math

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

import gaugemesh
from gaugemesh.models import GemResNet
from gaugemesh.testing import assert_gauge_equivariant, assert_permutation_equivariant, on_data, random_mesh_data, randomize_parameters


def small_net(nonlinearity="norm", dropout=0.2, **kwargs):
    return GemResNet("2x0 + 1x1", 5, width=3, max_order=2, num_blocks=2, dropout=dropout, nonlinearity=nonlinearity, **kwargs)


@pytest.mark.parametrize("nonlinearity", ["norm", "gated", "regular"])
@pytest.mark.parametrize("train", [True, False])
def test_gauge_equivariant(dtype, nonlinearity, train):
    data = random_mesh_data(1, dtype=dtype)
    net = randomize_parameters(small_net(nonlinearity).to(dtype)).train(train)
    data.x = torch.randn(data.num_nodes, net.in_type.dim, dtype=dtype)
    phi = None
    if nonlinearity == "regular":  # exact only for multiples of 2 pi / N
        n = net.blocks[0].act1.num_samples
        steps = torch.randint(0, n, (data.num_nodes,), generator=torch.Generator().manual_seed(0))
        phi = (steps.double() * 2 * math.pi / n).to(dtype)
    assert_gauge_equivariant(on_data(net), data, data.x, net.in_type, net.out_type, phi=phi, seed=3)


@pytest.mark.parametrize("train", [True, False])
def test_a_hidden_layer_head_keeps_the_logits_invariant(dtype, train):
    data = random_mesh_data(1, dtype=dtype)
    net = randomize_parameters(small_net(head_hidden=6).to(dtype)).train(train)
    assert isinstance(net.classifier, torch.nn.Sequential) and net.classifier[0].out_features == 6
    data.x = torch.randn(data.num_nodes, net.in_type.dim, dtype=dtype)
    assert_gauge_equivariant(on_data(net), data, data.x, net.in_type, net.out_type, seed=3)


def rotation(seed):
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)))
    return q * torch.sign(torch.det(q))


def invariant_features(data):
    centred = data.pos - data.pos.mean(0)
    return torch.stack([torch.ones(data.num_nodes, dtype=data.pos.dtype), centred.norm(dim=1)], 1)


def test_logits_invariant_under_rigid_motion(real_mesh):
    """Scalar, rotation-invariant inputs: rotating the mesh in 3D and recomputing the frames
    (a different gauge) leaves the logits unchanged."""
    net = randomize_parameters(GemResNet("2x0", 4, width=3, max_order=2, num_blocks=2, nonlinearity="norm").double()).eval()
    logits = []
    for seed in (None, 1):
        pos = real_mesh.pos if seed is None else real_mesh.pos @ rotation(seed).numpy().T + [1.0, -2.0, 0.5]
        data = gaugemesh.mesh_to_data(gaugemesh.validate_mesh(pos, real_mesh.faces), dtype=torch.float64)
        data.x = invariant_features(data)
        logits.append(net(data))
    scale = logits[0].abs().max()
    assert float((logits[0] - logits[1]).abs().max() / scale) < 1e-8


def two_meshes(dtype=torch.float64):
    a, b = random_mesh_data(1, dtype=dtype, seed=1), random_mesh_data(2, dtype=dtype, seed=2)
    for d in (a, b):
        d.x = torch.randn(d.num_nodes, 4, dtype=dtype)
        d.y = (d.x[:, 0] > 0).long() + 2 * (d.x[:, 1] > 0).long()  # learnable from the scalars
    return a, b


def test_batch_equals_one_at_a_time():
    a, b = two_meshes()
    net = randomize_parameters(small_net().double()).eval()
    batched = net(Batch.from_data_list([a, b]))
    torch.testing.assert_close(batched, torch.cat([net(a), net(b)]))


def test_trains_in_a_pyg_pipeline():
    a, b = two_meshes(torch.float32)
    loader = DataLoader([a, b] * 2, batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net = small_net("regular", dropout=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        for batch in loader:
            loss = torch.nn.functional.cross_entropy(net(batch), batch.y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses


def test_torch_compile():
    """torch.compile works on what a training step runs: dynamic shapes (vertex counts traced
    as symbols, so that meshes of other sizes can reuse the graph), field dropout in training mode, and a batch's operators assembled from
    its meshes' kept ones (eagerly: assembly and sparse products are graph breaks). The
    inductor backend also works but compiles for ~30 s on 2 CPU cores, so the test uses
    aot_eager, which traces forward and backward through AOTAutograd."""
    torch.manual_seed(0)
    meshes = [random_mesh_data(seed, dtype=torch.float32) for seed in (1, 2)]
    for data in meshes:
        data.x = torch.randn(data.num_nodes, 4)
    batch = Batch.from_data_list(meshes)
    kept = [gaugemesh.nn.ConvOperators.from_data(data) for data in meshes]
    operators = gaugemesh.nn.ConvOperators.from_data(batch, parts=kept)
    net = small_net("regular", dropout=0.3).train()
    compiled = torch.compile(net, backend="aot_eager", dynamic=True)
    torch.manual_seed(1)
    logits = compiled(batch, operators=operators)
    torch.manual_seed(1)  # the same dropout masks: aot_eager draws them from the same generator
    torch.testing.assert_close(logits, net(batch))
    logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_checks_input():
    net = small_net()
    data = random_mesh_data(0, dtype=torch.float32)
    with pytest.raises(ValueError, match="no x"):
        net(data)
    data.x = torch.randn(data.num_nodes, 3)
    with pytest.raises(ValueError, match="data.x"):
        net(data)


@pytest.mark.parametrize("train", [True, False])
def test_nonlinearity_gauge_is_a_gauge_change_of_the_whole_input(train):
    """Evaluating the (regular, only approximately equivariant) nonlinearities in frames
    rotated by phi computes what the network computes on the mesh and features in gauge
    phi: the random gauge augmentation without touching the geometry or its operators."""
    from gaugemesh.graph import gauge_transform
    from gaugemesh.testing import random_gauge

    data = random_mesh_data(1, dtype=torch.float64)
    net = randomize_parameters(small_net("regular").double(), generator=torch.Generator().manual_seed(0)).train(train)
    data.x = torch.randn(data.num_nodes, net.in_type.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    phi = random_gauge(data.num_nodes, torch.Generator().manual_seed(2))
    moved = gauge_transform(data, phi)
    moved.x = net.in_type.transform(data.x, -phi)
    rotated = data.clone()
    rotated.nonlinearity_gauge = phi
    outputs = []
    for sample in (moved, rotated, data):
        with torch.random.fork_rng():
            torch.manual_seed(3)
            outputs.append(net(sample))
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=1e-10 * float(outputs[0].abs().max()))
    assert (outputs[2] - outputs[0]).abs().max() > 1e-3 * outputs[0].abs().max()  # the gauge does matter


def test_given_geometry_assembled_from_meshes_gives_the_same_logits():
    from gaugemesh.nn import ConvOperators

    meshes = [random_mesh_data(s, dtype=torch.float64, seed=s) for s in (1, 0)]
    for m in meshes:
        m.x = torch.randn(m.num_nodes, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(m.num_nodes))
    batch = Batch.from_data_list(meshes)
    net = randomize_parameters(small_net("regular", dropout=0.0).double()).eval()
    parts = [ConvOperators.from_data(m) for m in meshes]
    given = net(batch, operators=ConvOperators.from_data(batch, parts=parts))
    torch.testing.assert_close(given, net(batch), rtol=0, atol=1e-12)


@pytest.mark.parametrize("model", ["gem", "gcn"])
def test_declared_input_type_must_be_the_models_not_just_as_wide(model):
    from gaugemesh.models import GCNBaseline

    net = GemResNet("4x0", 3, width=2, num_blocks=1) if model == "gem" else GCNBaseline("4x0", 3, hidden=4, num_layers=1)
    data = random_mesh_data(0)
    data.x = torch.randn(data.num_nodes, 4, dtype=torch.float64)
    net = net.double()
    data.x_type = "2x1"  # as wide as 4x0
    with pytest.raises(ValueError, match="'2x1'.*4x0"):
        net(data)
    data.x_type = "4x0"
    batch = Batch.from_data_list([data, data])
    assert isinstance(batch.x_type, list) and net(batch).shape == (2 * data.num_nodes, 3)
    batch.x_type = ["4x0", "2x1"]
    with pytest.raises(ValueError, match="2x1"):
        net(batch)


@pytest.mark.parametrize("model", ["regular", "norm", "gated", "gcn", "head"])
def test_every_model_is_permutation_equivariant(model, dtype):
    """Renumbering vertices and reordering edges reorders the logits, nothing else (eval
    mode: a dropout mask drawn in another vertex order is another mask)."""
    from gaugemesh.models import GCNBaseline

    data = random_mesh_data(1, dtype=dtype, seed=2)
    nets = {"gcn": lambda: GCNBaseline("2x0 + 1x1", 5, hidden=8, num_layers=2), "head": lambda: small_net(head_hidden=6)}
    net = nets.get(model, lambda: small_net(model))()
    net = randomize_parameters(net.to(dtype), scale=0.5, generator=torch.Generator().manual_seed(0)).eval()
    x = torch.randn(data.num_nodes, 4, dtype=dtype, generator=torch.Generator().manual_seed(1))
    assert_permutation_equivariant(on_data(net), data, x)

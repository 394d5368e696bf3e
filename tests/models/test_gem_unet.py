"""GemUNet: gauge equivariance with a gauge per level, permutations, batching, training."""

import math

import pytest
import torch
from torch_geometric.data import Batch

from gaugemesh.hierarchy.testing import assert_hierarchy_gauge_equivariant, assert_hierarchy_permutation_equivariant
from gaugemesh.models.gem_unet import GemUNet
from gaugemesh.nn import ConvOperators
from gaugemesh.testing import on_data, randomize_parameters


def small_unet(nonlinearity="norm", dropout=0.2, **kwargs):
    return GemUNet("2x0 + 1x1", 5, width=2, max_order=2, num_levels=3, dropout=dropout, nonlinearity=nonlinearity, **kwargs)


def with_x(data, dim, dtype, seed=0):
    data = data.clone()
    data.x = torch.randn(data.num_nodes, dim, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    return data


@pytest.mark.parametrize("nonlinearity", ["norm", "gated", "regular"])
@pytest.mark.parametrize("train", [True, False])
def test_gauge_equivariant_with_a_gauge_per_level(meshes32, meshes64, dtype, nonlinearity, train):
    data = with_x((meshes64 if dtype == torch.float64 else meshes32)[1], 4, dtype)
    # 11 blocks deep: with unit-scale random weights and random eval-mode statistics the float32
    # outputs reach 1e6 and rounding reached 7e-4 relative (float64: 2e-15, exact); half scale
    # keeps float32 near 4e-6.
    net = randomize_parameters(small_unet(nonlinearity, blocks_per_level=2).to(dtype), scale=0.5).train(train)
    g = torch.Generator().manual_seed(1)
    phis = None
    if nonlinearity == "regular":  # exact only for multiples of 2 pi / N, at every level
        n = net.down[0][0].act1.num_samples
        counts = [data.num_nodes] + [data.num_level_nodes(k) for k in (1, 2)]
        phis = [(torch.randint(0, n, (c,), generator=g).double() * 2 * math.pi / n).to(dtype) for c in counts]
    assert_hierarchy_gauge_equivariant(on_data(net), data, data.x, net.in_type, net.out_type, phis=phis, seed=3)


@pytest.mark.parametrize("train", [True, False])
def test_a_hypercolumn_head_is_gauge_invariant(meshes32, meshes64, dtype, train):
    """Invariants of every level read out at the finest vertices, through a hidden layer."""
    data = with_x((meshes64 if dtype == torch.float64 else meshes32)[1], 4, dtype)
    net = randomize_parameters(small_unet(head_hidden=7, readout_levels=3).to(dtype), scale=0.5).train(train)
    assert net.classifier[0].in_features == sum(t.num_fields for t in net.level_types)  # a scalar or a norm each
    assert_hierarchy_gauge_equivariant(on_data(net), data, data.x, net.in_type, net.out_type, seed=3)


def test_a_hypercolumn_reads_each_fine_vertex_its_coarse_vertex(meshes64):
    """The coarse vertex of every level-0 vertex, through both maps: checked against a loop."""
    from gaugemesh.models.gem_unet import _finest_indices

    data = meshes64[1]
    level1, level2 = _finest_indices(data, 2)
    for v in range(0, data.num_nodes, 7):
        coarse = int(data.pool1_index[v])
        assert int(level1[v]) == coarse
        assert int(level2[v]) == int(data.pool2_index[coarse])


def test_the_check_fails_for_a_unet_that_ignores_the_pool_angles(meshes64):
    """Zeroing the maps' angles breaks equivariance across levels, and the check sees it."""
    data = with_x(meshes64[0], 4, torch.float64)
    net = randomize_parameters(small_unet(dropout=0.0).double()).eval()

    def without_angles(x, data):
        data = data.clone()
        for k in (1, 2):
            data[f"pool{k}_angle"] = torch.zeros_like(data[f"pool{k}_angle"])
        return on_data(net)(x, data)

    with pytest.raises(AssertionError, match="not gauge equivariant"):
        assert_hierarchy_gauge_equivariant(without_angles, data, data.x, net.in_type, net.out_type)


@pytest.mark.parametrize("head", [{}, {"head_hidden": 5, "readout_levels": 3}], ids=["linear", "hypercolumn"])
def test_permutation_equivariant(meshes64, head):
    data = with_x(meshes64[0], 4, torch.float64)
    net = randomize_parameters(small_unet(**head).double()).eval()
    assert_hierarchy_permutation_equivariant(on_data(net), data, data.x)


@pytest.mark.parametrize("head", [{}, {"head_hidden": 5, "readout_levels": 3}], ids=["linear", "hypercolumn"])
def test_batch_of_three_sizes_equals_one_at_a_time(meshes64, head):
    datas = [with_x(d, 4, torch.float64, seed=i) for i, d in enumerate(meshes64)]
    net = randomize_parameters(small_unet(**head).double()).eval()
    batched = net(Batch.from_data_list(datas))
    torch.testing.assert_close(batched, torch.cat([net(d) for d in datas]))


def test_takes_the_callers_geometry(meshes64):
    data = with_x(meshes64[1], 4, torch.float64)
    net = randomize_parameters(small_unet().double()).eval()
    given = ConvOperators.from_data(data)
    torch.testing.assert_close(net(data, operators=given), net(data))


@pytest.mark.slow
def test_trains(meshes32):
    datas = [with_x(d, 4, torch.float32, seed=i) for i, d in enumerate(meshes32[:2])]
    for d in datas:
        d.y = (d.x[:, 0] > 0).long() + 2 * (d.x[:, 1] > 0).long()
    batch = Batch.from_data_list(datas)
    net = small_unet("regular", dropout=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(net(batch), batch.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_refuses_data_without_enough_levels(meshes64):
    net = GemUNet("4x0", 3, width=2, max_order=1, num_levels=4)
    with pytest.raises(ValueError, match="levels"):
        net(with_x(meshes64[0], 4, torch.float32))
    with pytest.raises(ValueError, match="width"):
        GemUNet("4x0", 3, width=[2, 2], max_order=2)
    with pytest.raises(ValueError, match="readout_levels"):
        GemUNet("4x0", 3, width=2, num_levels=3, readout_levels=4)
    with pytest.raises(ValueError, match="head_hidden"):
        GemUNet("4x0", 3, width=2, head_hidden=-1)


@pytest.mark.parametrize("nonlinearity", ["norm", "gated", "regular"])
@pytest.mark.parametrize("reduced", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_autocast_close_to_float32(meshes32, nonlinearity, reduced):
    """Under CPU autocast: logits and gradients finite and within the tolerances of
    tests/models/test_precision.py (the fused layers stay in float32)."""
    from gaugemesh.nn import NormNonlinearity
    from tests.models.test_precision import CLOSE, GRAD_CLOSE, relative

    data = with_x(meshes32[1], 4, torch.float32)
    net = randomize_parameters(small_unet(nonlinearity, dropout=0.0), scale=0.3,
                               generator=torch.Generator().manual_seed(3)).eval()
    with torch.no_grad():  # negative norm thresholds jump at f = 0 in any precision (see test_precision)
        for module in net.modules():
            if isinstance(module, NormNonlinearity) and module.bias is not None:
                module.bias.abs_()

    def step(dtype):
        net.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            logits = net(data)
        logits.float().square().mean().backward()
        return logits.detach().float(), torch.cat([p.grad.flatten() for p in net.parameters()])

    (reference, reference_grads), (logits, grads) = step(None), step(reduced)
    assert torch.isfinite(logits).all() and torch.isfinite(grads).all()
    assert relative(logits, reference) < CLOSE[reduced]
    assert relative(grads, reference_grads) < GRAD_CLOSE[reduced]


@pytest.mark.parametrize("reduced", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_a_hypercolumn_head_runs_under_autocast(meshes32, reduced):
    """Each level's share of the first layer, multiplied and gathered in the autocast dtype,
    keeps the logits within test_precision's tolerance of float32."""
    from tests.models.test_precision import CLOSE, relative

    data = with_x(meshes32[1], 4, torch.float32)
    net = randomize_parameters(small_unet(dropout=0.0, head_hidden=7, readout_levels=3), scale=0.3,
                               generator=torch.Generator().manual_seed(3)).eval()
    with torch.no_grad():
        reference = net(data)
        with torch.autocast("cpu", dtype=reduced):
            logits = net(data)
    assert torch.isfinite(logits).all()
    assert relative(logits.float(), reference) < CLOSE[reduced]

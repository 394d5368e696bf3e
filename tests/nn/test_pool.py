"""ParallelTransportPool / Unpool: slow reference, gauge equivariance with a gauge per level,
permutations, batching meshes of different sizes, autocast."""

import pytest
import torch

from gaugemesh.hierarchy.data import pool_map
from gaugemesh.hierarchy.testing import assert_hierarchy_gauge_equivariant, assert_hierarchy_permutation_equivariant
from gaugemesh.nn.pool import ParallelTransportPool, ParallelTransportUnpool
from gaugemesh.so2 import FieldType
from tests.hierarchy.helpers import assert_down_and_up_as_each_mesh_alone

TYPES = ["2x0 + 3x1 + 2x2", "1x1 + 2x0 + 1x3"]  # the second unsorted


def pool_call(layer, k):
    return lambda x, data: layer(x, *pool_map(data, k)[:3], pool_map(data, k)[3])


def unpool_call(layer, k):
    return lambda y, data: layer(y, data[f"pool{k}_index"], data[f"pool{k}_angle"])


def slow_pool(ftype, x, index, angle, weight, num_coarse, mean):
    out = torch.zeros(num_coarse, ftype.dim, dtype=x.dtype)
    count = torch.bincount(index, minlength=num_coarse)
    for f in range(x.size(0)):
        w = 1.0 / count[index[f]] if mean else weight[f]
        out[index[f]] += w * (ftype.rho(angle[f]) @ x[f])
    return out


@pytest.mark.parametrize("spec", TYPES)
@pytest.mark.parametrize("weighting", ["area", "mean"])
def test_pool_and_unpool_match_slow_references(meshes64, spec, weighting):
    data, ftype = meshes64[1], FieldType(spec)
    index, angle, weight, num_coarse = pool_map(data, 1)
    x = ftype.randn(data.num_nodes, dtype=torch.float64)
    pooled = ParallelTransportPool(ftype, weighting)(x, index, angle, weight, num_coarse)
    torch.testing.assert_close(pooled, slow_pool(ftype, x, index, angle, weight, num_coarse, weighting == "mean"))
    y = ftype.randn(num_coarse, dtype=torch.float64)
    back = ParallelTransportUnpool(ftype)(y, index, angle)
    slow = torch.stack([ftype.rho(-angle[f]) @ y[index[f]] for f in range(data.num_nodes)])
    torch.testing.assert_close(back, slow)


def test_pooling_a_constant_scalar_gives_the_constant(meshes64):
    """Area weights sum to one over each cell: a constant scalar field pools to itself."""
    data = meshes64[2]
    for k in (1, 2):
        index, angle, weight, num_coarse = pool_map(data, k)
        x = torch.full((index.numel(), 1), 3.0, dtype=torch.float64)
        torch.testing.assert_close(ParallelTransportPool("1x0")(x, index, angle, weight, num_coarse),
                                   torch.full((num_coarse, 1), 3.0, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("spec", TYPES)
def test_gauge_equivariant_with_a_random_gauge_at_every_level(meshes32, meshes64, dtype, train, spec):
    data = (meshes64 if dtype == torch.float64 else meshes32)[2]
    ftype = FieldType(spec)
    for k in (1, 2):
        pool = ParallelTransportPool(ftype).train(train)
        x = ftype.randn(data.num_level_nodes(k - 1), dtype=dtype)
        assert_hierarchy_gauge_equivariant(pool_call(pool, k), data, x, ftype, ftype, in_level=k - 1, out_level=k)
        unpool = ParallelTransportUnpool(ftype).train(train)
        y = ftype.randn(data.num_level_nodes(k), dtype=dtype)
        assert_hierarchy_gauge_equivariant(unpool_call(unpool, k), data, y, ftype, ftype, in_level=k, out_level=k - 1)


def test_the_gauge_check_catches_a_missing_transport(meshes64):
    """Pooling without the angle (a plain mean of coordinates) is not equivariant, and the
    check says so: it can fail."""
    data, ftype = meshes64[0], FieldType("2x1")
    x = ftype.randn(data.num_nodes, dtype=torch.float64)

    def wrong(x, data):
        index, angle, weight, num_coarse = pool_map(data, 1)
        return ParallelTransportPool(ftype)(x, index, torch.zeros_like(angle), weight, num_coarse)

    with pytest.raises(AssertionError, match="not gauge equivariant"):
        assert_hierarchy_gauge_equivariant(wrong, data, x, ftype, ftype, in_level=0, out_level=1)


def test_permutation_equivariant(meshes64):
    data, ftype = meshes64[2], FieldType(TYPES[0])
    x = ftype.randn(data.num_nodes, dtype=torch.float64)
    assert_hierarchy_permutation_equivariant(pool_call(ParallelTransportPool(ftype), 1), data, x, in_level=0, out_level=1)
    y = ftype.randn(data.num_level_nodes(1), dtype=torch.float64)
    assert_hierarchy_permutation_equivariant(unpool_call(ParallelTransportUnpool(ftype), 1), data, y, in_level=1, out_level=0)


def test_batch_of_three_sizes_pools_as_each_mesh_alone(meshes64):
    ftype = FieldType(TYPES[0])
    pool, unpool = ParallelTransportPool(ftype), ParallelTransportUnpool(ftype)
    xs = [ftype.randn(d.num_nodes, dtype=torch.float64) for d in meshes64]
    assert_down_and_up_as_each_mesh_alone(lambda k: pool_call(pool, k), lambda k: unpool_call(unpool, k), xs, meshes64)


@pytest.mark.parametrize("reduced", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_autocast(meshes32, reduced):
    """Under autocast both layers compute in float32 (sums over cells, cos/sin of angles) and
    return float32; reduced-precision inputs are promoted and given back in their dtype."""
    data, ftype = meshes32[2], FieldType(TYPES[0])
    index, angle, weight, num_coarse = pool_map(data, 1)
    x = ftype.randn(data.num_nodes).requires_grad_()
    pool, unpool = ParallelTransportPool(ftype), ParallelTransportUnpool(ftype)
    with torch.autocast("cpu", dtype=reduced):
        pooled = pool(x, index, angle, weight, num_coarse)
        back = unpool(pooled, index, angle)
    assert pooled.dtype == back.dtype == torch.float32
    torch.testing.assert_close(back, unpool(pool(x, index, angle, weight, num_coarse), index, angle))
    back.sum().backward()
    assert torch.isfinite(x.grad).all()
    low = pool(x.detach().to(reduced), index, angle, weight, num_coarse)
    assert low.dtype == reduced
    expected = pool(x.detach().to(reduced).float(), index, angle, weight, num_coarse)
    assert float((low.float() - expected).abs().max() / expected.abs().max()) < 1e-2


def test_checks_inputs(meshes64):
    data = meshes64[0]
    index, angle, weight, num_coarse = pool_map(data, 1)
    with pytest.raises(ValueError, match="weighting"):
        ParallelTransportPool("1x0", "max")
    with pytest.raises(ValueError, match="vertices"):
        ParallelTransportPool("1x0")(torch.zeros(3, 1, dtype=torch.float64), index, angle, weight, num_coarse)
    with pytest.raises(ValueError, match="type"):
        ParallelTransportPool("1x1")(torch.zeros(data.num_nodes, 1, dtype=torch.float64), index, angle, weight, num_coarse)

"""O2ParallelTransportPool / Unpool: slow reference with O(2) matrices, equivariance with an
independent random O(2) gauge (rotations and reflections) at every level on a Moebius strip and
a sphere, a check that can fail, permutations, batching, autocast."""

import pytest
import torch

import gaugemesh
from gaugemesh.datasets.sample import cast_floats
from gaugemesh.hierarchy.data import add_hierarchy, o2_pool_map
from gaugemesh.hierarchy.o2_testing import assert_o2_hierarchy_gauge_equivariant
from gaugemesh.hierarchy.testing import assert_hierarchy_permutation_equivariant
from gaugemesh.nn.o2_pool import O2ParallelTransportPool, O2ParallelTransportUnpool
from gaugemesh.o2 import O2FieldType, o2_inverse
from tests.hierarchy.helpers import assert_down_and_up_as_each_mesh_alone
from tests.conftest import icosphere
from tests.o2_meshes import moebius_strip

TYPES = ["2x0 + 1x0- + 2x1 + 1x2", "1x1 + 1x0- + 2x0 + 1x3"]  # the second unsorted


def _o2_hierarchies(dtype):
    """A Moebius strip and a sphere (orientable) with three O(2) levels, and a small strip."""
    meshes = [moebius_strip(48, 9)[:2], icosphere(2), moebius_strip(24, 5)[:2]]
    out = []
    for pos, faces in meshes:
        mesh = gaugemesh.validate_mesh(pos, faces, structure_group="O2")
        data = add_hierarchy(gaugemesh.mesh_to_data(mesh, dtype=torch.float64, structure_group="O2"), 3)
        out.append(cast_floats(data, dtype))
    return out


@pytest.fixture(scope="module")
def o2_meshes64():
    return _o2_hierarchies(torch.float64)


@pytest.fixture(scope="module")
def o2_meshes32():
    return _o2_hierarchies(torch.float32)


def pool_call(layer, k):
    return lambda x, data: layer(x, *o2_pool_map(data, k))


def unpool_call(layer, k):
    return lambda y, data: layer(y, *o2_pool_map(data, k)[:3])


@pytest.mark.parametrize("spec", TYPES)
@pytest.mark.parametrize("weighting", ["area", "mean"])
def test_pool_and_unpool_match_slow_references(o2_meshes64, spec, weighting):
    data, ftype = o2_meshes64[0], O2FieldType(spec)
    index, angle, reflection, weight, num_coarse = o2_pool_map(data, 1)
    assert reflection.any() and not reflection.all()  # the strip's map reflects somewhere
    x = ftype.randn(data.num_nodes, dtype=torch.float64)
    pooled = O2ParallelTransportPool(ftype, weighting)(x, index, angle, reflection, weight, num_coarse)
    slow = torch.zeros(num_coarse, ftype.dim, dtype=torch.float64)
    count = torch.bincount(index, minlength=num_coarse)
    for f in range(data.num_nodes):
        w = 1.0 / count[index[f]] if weighting == "mean" else weight[f]
        slow[index[f]] += w * (ftype.rho(angle[f], reflection[f]) @ x[f])
    torch.testing.assert_close(pooled, slow)
    y = ftype.randn(num_coarse, dtype=torch.float64)
    back = O2ParallelTransportUnpool(ftype)(y, index, angle, reflection)
    slow = torch.stack([torch.linalg.inv(ftype.rho(angle[f], reflection[f])) @ y[index[f]]
                        for f in range(data.num_nodes)])
    torch.testing.assert_close(back, slow)
    ftype_inverse = torch.stack([ftype.rho(*o2_inverse(angle[f], reflection[f])) @ y[index[f]] for f in range(5)])
    torch.testing.assert_close(back[:5], ftype_inverse)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("mesh", [0, 1], ids=["moebius", "sphere"])
def test_gauge_equivariant_with_a_random_o2_gauge_at_every_level(o2_meshes32, o2_meshes64, dtype, train, mesh):
    data = (o2_meshes64 if dtype == torch.float64 else o2_meshes32)[mesh]
    for spec in TYPES:
        ftype = O2FieldType(spec)
        for k in (1, 2):
            pool = O2ParallelTransportPool(ftype).train(train)
            x = ftype.randn(data.num_level_nodes(k - 1), dtype=dtype)
            assert_o2_hierarchy_gauge_equivariant(pool_call(pool, k), data, x, ftype, ftype, in_level=k - 1,
                                                  out_level=k)
            unpool = O2ParallelTransportUnpool(ftype).train(train)
            y = ftype.randn(data.num_level_nodes(k), dtype=dtype)
            assert_o2_hierarchy_gauge_equivariant(unpool_call(unpool, k), data, y, ftype, ftype, in_level=k,
                                                  out_level=k - 1)


def test_the_check_catches_a_missing_reflection(o2_meshes64):
    """Pooling with the angle but without the reflection flags is not O(2) equivariant (the SO(2)
    layer on O(2) features), and the check says so: it can fail."""
    data, ftype = o2_meshes64[1], O2FieldType("1x0- + 2x1")

    def wrong(x, data):
        index, angle, reflection, weight, num_coarse = o2_pool_map(data, 1)
        return O2ParallelTransportPool(ftype)(x, index, angle, torch.zeros_like(reflection), weight, num_coarse)

    x = ftype.randn(data.num_nodes, dtype=torch.float64)
    with pytest.raises(AssertionError, match="not O\\(2\\) gauge equivariant"):
        assert_o2_hierarchy_gauge_equivariant(wrong, data, x, ftype, ftype, in_level=0, out_level=1)


def test_permutation_equivariant(o2_meshes64):
    data, ftype = o2_meshes64[0], O2FieldType(TYPES[0])
    x = ftype.randn(data.num_nodes, dtype=torch.float64)
    assert_hierarchy_permutation_equivariant(pool_call(O2ParallelTransportPool(ftype), 1), data, x, in_level=0,
                                             out_level=1)
    y = ftype.randn(data.num_level_nodes(1), dtype=torch.float64)
    assert_hierarchy_permutation_equivariant(unpool_call(O2ParallelTransportUnpool(ftype), 1), data, y, in_level=1,
                                             out_level=0)


def test_batch_of_three_pools_as_each_mesh_alone(o2_meshes64):
    ftype = O2FieldType(TYPES[0])
    pool, unpool = O2ParallelTransportPool(ftype), O2ParallelTransportUnpool(ftype)
    xs = [ftype.randn(d.num_nodes, dtype=torch.float64) for d in o2_meshes64]
    assert_down_and_up_as_each_mesh_alone(lambda k: pool_call(pool, k), lambda k: unpool_call(unpool, k), xs, o2_meshes64)


def test_a_pseudo_scalar_pools_to_its_sign_on_a_strip(o2_meshes64):
    """A constant pseudo-scalar in the strip's frames, pooled: each coarse value is a signed
    mean of the constant (the flags tell which fine frames arrive mirrored), so |y| <= c, and
    a constant true scalar pools to itself."""
    data = o2_meshes64[0]
    index, angle, reflection, weight, num_coarse = o2_pool_map(data, 1)
    x = torch.full((data.num_nodes, 2), 3.0, dtype=torch.float64)
    y = O2ParallelTransportPool("1x0 + 1x0-")(x, index, angle, reflection, weight, num_coarse)
    torch.testing.assert_close(y[:, 0], torch.full((num_coarse,), 3.0, dtype=torch.float64))
    sign = 1 - 2 * reflection.double()
    expected = torch.zeros(num_coarse, dtype=torch.float64).index_add_(0, index, 3.0 * sign * weight)
    torch.testing.assert_close(y[:, 1], expected)


@pytest.mark.parametrize("reduced", [torch.bfloat16], ids=["bf16"])
def test_autocast(o2_meshes32, reduced):
    data, ftype = o2_meshes32[0], O2FieldType(TYPES[0])
    index, angle, reflection, weight, num_coarse = o2_pool_map(data, 1)
    x = ftype.randn(data.num_nodes).requires_grad_()
    pool, unpool = O2ParallelTransportPool(ftype), O2ParallelTransportUnpool(ftype)
    with torch.autocast("cpu", dtype=reduced):
        back = unpool(pool(x, index, angle, reflection, weight, num_coarse), index, angle, reflection)
    assert back.dtype == torch.float32
    torch.testing.assert_close(back, unpool(pool(x, index, angle, reflection, weight, num_coarse), index, angle,
                                            reflection))
    back.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert pool(x.detach().to(reduced), index, angle, reflection, weight, num_coarse).dtype == reduced

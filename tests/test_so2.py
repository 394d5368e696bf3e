"""FieldType and the SO(2) irreps: parsing, layout, and the representation laws."""

import math

import pytest
import torch

from gaugemesh.so2 import FieldType, rho_irrep

TYPES = ["16x0 + 16x1 + 8x2", "3x1 + 2x0 + 1x3", "2x2", "1x0"]


def test_parse_and_structure():
    t = FieldType("16x0 + 16x1 + 8x2")
    assert t.blocks == ((16, 0), (16, 1), (8, 2))
    assert t.dim == 16 + 32 + 16 and t.orders == (0, 1, 2) and t.num_fields == 40 and t.max_order == 2
    assert repr(t) == "FieldType('16x0 + 16x1 + 8x2')"
    assert FieldType("1") == FieldType("1x1")
    assert FieldType.band(3, 2) == FieldType("3x0 + 3x1 + 3x2")
    assert FieldType("8x0 + 8x0") == FieldType("16x0")  # same layout
    assert FieldType("1x0 + 1x1") != FieldType("1x1 + 1x0")  # different layout
    assert len({FieldType("2x0 + 1x1"), FieldType("2x0+1x1"), FieldType("1x1")}) == 2
    assert FieldType("2x0") + "1x1" == FieldType("2x0 + 1x1")


@pytest.mark.parametrize("bad", ["16y0", "x1", "1x-1", "a"])
def test_parse_errors(bad):
    with pytest.raises(ValueError, match="MULTxORDER|>= 0"):
        FieldType(bad)


def test_layout_of_components():
    t = FieldType("1x1 + 2x0 + 1x2")
    assert t.component_orders().tolist() == [1, 1, 0, 0, 2, 2]
    assert t.field_index().tolist() == [0, 0, 1, 2, 3, 3]
    assert t.indices(0).tolist() == [2, 3]
    assert not t.is_sorted and FieldType("2x0 + 1x2").is_sorted


@pytest.mark.parametrize("spec", TYPES)
def test_representation_laws(spec):
    t = FieldType(spec)
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(2, 7, generator=g, dtype=torch.float64) * 4 * math.pi - 2 * math.pi).unbind()
    ra, rb = t.rho(a), t.rho(b)
    eye = torch.eye(t.dim, dtype=torch.float64)
    torch.testing.assert_close(ra @ rb, t.rho(a + b), atol=1e-13, rtol=0)  # homomorphism
    torch.testing.assert_close(t.rho(torch.zeros(3, dtype=torch.float64)), eye.expand(3, -1, -1))  # identity
    torch.testing.assert_close(ra @ ra.transpose(-1, -2), eye.expand(7, -1, -1), atol=1e-13, rtol=0)  # orthogonal
    torch.testing.assert_close(t.rho(a + 2 * math.pi), ra, atol=1e-12, rtol=0)  # periodic


def test_irrep_convention():
    """rho_n(a) multiplies w = f0 + i f1 by exp(i n a) (CONVENTIONS.md)."""
    a = torch.tensor(0.3, dtype=torch.float64)
    f = torch.tensor([1.0, 2.0], dtype=torch.float64)
    out = rho_irrep(2, a) @ f
    w = complex(1, 2) * complex(math.cos(0.6), math.sin(0.6))
    assert out.tolist() == pytest.approx([w.real, w.imag])


@pytest.mark.parametrize("spec", TYPES)
def test_transform_matches_matrix(spec):
    t = FieldType(spec)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, t.dim, generator=g, dtype=torch.float64)
    a = torch.randn(5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(t.transform(x, a), (t.rho(a) @ x[..., None])[..., 0])
    # invariant norms
    torch.testing.assert_close(t.squared_norms(t.transform(x, a)), t.squared_norms(x))


def test_follows_dtype_and_checks_shape():
    t = FieldType("2x0 + 1x1")
    assert t.rho(torch.tensor([0.1], dtype=torch.float32)).dtype == torch.float32
    assert t.transform(torch.zeros(2, 4, dtype=torch.float64), 0.5).dtype == torch.float64
    with pytest.raises(ValueError, match="needs \\[..., 4\\]"):
        t.check(torch.zeros(3, 5))


def test_split_join_roundtrip():
    for spec in TYPES:
        t = FieldType(spec)
        x = torch.randn(3, t.dim)
        assert torch.equal(t.join(t.split(x)), x)


def test_parts_of_an_unsorted_type_are_its_components_by_order():
    # orders per component: 1 1 0 1 1 2 2; part and join are index_selects, checked here
    # against the components written out, values and gradients
    t = FieldType("1x1 + 1x0 + 1x1 + 1x2")
    where = {0: [2], 1: [0, 1, 3, 4], 2: [5, 6]}
    x = torch.randn(4, t.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    parts = {n: t.part(x, n) for n in t.orders}
    for n, columns in where.items():
        assert torch.equal(parts[n], x[:, columns])
    weights = torch.randn(4, t.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    (t.join({n: 2 * p for n, p in parts.items()}) * weights).sum().backward()
    torch.testing.assert_close(x.grad, 2 * weights)
    joined = t.join({n: torch.full((1, len(c)), float(n)) for n, c in where.items()})
    assert joined.tolist() == [[1.0, 1.0, 0.0, 1.0, 1.0, 2.0, 2.0]]


def test_sorted_type_and_its_permutation():
    t = FieldType("2x1 + 1x0 + 1x2 + 1x1")
    ordered, perm = t.sorted()
    assert ordered == FieldType("1x0 + 3x1 + 1x2") and ordered.is_sorted
    x = t.randn(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, t.dim)
    # the same fields, rotated alike: sorting commutes with the representation
    angle = torch.linspace(0, 3, 5)
    torch.testing.assert_close(t.transform(x, angle)[:, perm], ordered.transform(x[:, perm], angle))
    torch.testing.assert_close(x[:, perm][:, torch.argsort(perm)], x)


def test_slices_of_the_sorted_layout_and_vector_field_index():
    t = FieldType("2x0 + 1x1 + 3x0 + 2x2")
    assert t.sorted()[0].slices() == t.slices() == {0: slice(0, 5), 1: slice(5, 7), 2: slice(7, 11)}
    assert t.vector_field_index().tolist() == [0, 0, 0, 0, 0, 0, 1, 2]  # fields 2, 6, 7 are vectors

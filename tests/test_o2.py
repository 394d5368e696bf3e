"""O2FieldType and the O(2) irreps: parsing, layout, and the representation laws."""

import math

import pytest
import torch

from gaugemesh.o2 import O2FieldType, O2Irrep, o2_compose, o2_inverse, o2_matrix
from gaugemesh.so2 import FieldType

TYPES = ["2x0 + 1x0- + 3x1", "1x2 + 2x0- + 1x0 + 1x1", "1x0-", "2x3"]


def _elements(count, seed):
    g = torch.Generator().manual_seed(seed)
    angle = torch.rand(count, generator=g, dtype=torch.float64) * 4 * math.pi - 2 * math.pi
    reflection = torch.rand(count, generator=g) < 0.5
    reflection[0], reflection[1] = True, False  # both kinds, whatever the draw
    return angle, reflection


def test_parse_and_structure():
    t = O2FieldType("2x0 + 1x0- + 3x1")
    assert t.blocks == ((2, O2Irrep(0)), (1, O2Irrep(0, True)), (3, O2Irrep(1)))
    assert t.dim == 2 + 1 + 6 and t.num_fields == 6
    assert str(t) == "2x0 + 1x0- + 3x1" and repr(t) == "O2FieldType('2x0 + 1x0- + 3x1')"
    assert t.so2 == FieldType("3x0 + 3x1")
    assert t.multiplicity("0-") == 1 and t.multiplicity(0) == 2 and t.multiplicity(1) == 3
    assert O2FieldType("1") == O2FieldType("1x1")
    assert O2FieldType("1x0 + 1x0") == O2FieldType("2x0")
    assert O2FieldType("1x0 + 1x0-") != O2FieldType("1x0- + 1x0")  # layouts differ
    assert O2FieldType("1x0 + 1x0-") != O2FieldType("2x0")  # same SO(2) type, different O(2) type
    assert O2FieldType("2x0") + "1x0-" == O2FieldType("2x0 + 1x0-")
    assert O2FieldType(str(t)) == t and len({t, O2FieldType(str(t))}) == 1


@pytest.mark.parametrize("bad", ["2x1-", "1x0--", "x1", "1y0", "-1x0", ""])
def test_parse_errors(bad):
    with pytest.raises(ValueError, match="O\\(2\\)|sign irrep|Empty"):
        O2FieldType(bad)


def test_layout_of_components():
    t = O2FieldType("1x1 + 1x0- + 1x0 + 1x2")
    assert t.field_index().tolist() == [0, 0, 1, 2, 3, 3]
    assert t.trivial_mask().tolist() == [False, False, False, True, False, False]
    assert t.reflection_mask().tolist() == [False, True, True, False, False, True]


@pytest.mark.parametrize("spec", TYPES)
def test_representation_laws(spec):
    t = O2FieldType(spec)
    a, s = _elements(9, 0)
    b, u = _elements(9, 1)
    eye = torch.eye(t.dim, dtype=torch.float64)
    ra, rb = t.rho(a, s), t.rho(b, u)
    ab = o2_compose(a, s, b, u)
    torch.testing.assert_close(ra @ rb, t.rho(*ab), atol=1e-13, rtol=0)  # homomorphism
    torch.testing.assert_close(ra @ ra.transpose(-1, -2), eye.expand(9, -1, -1), atol=1e-13, rtol=0)  # orthogonal
    torch.testing.assert_close(t.rho(*o2_inverse(a, s)), ra.transpose(-1, -2), atol=1e-13, rtol=0)  # inverse
    flip = t.rho(0.0, True).to(torch.float64)
    torch.testing.assert_close(flip @ flip, eye)  # F^2 = 1
    rot = t.rho(a)
    torch.testing.assert_close(rot @ flip @ rot, flip.expand(9, -1, -1), atol=1e-13, rtol=0)  # r F r = F
    torch.testing.assert_close(t.rho(a, False), t.so2.rho(a))  # rotations: the SO(2) type's
    # transform agrees with the matrix
    x = t.randn(9, dtype=torch.float64)
    torch.testing.assert_close(t.transform(x, a, s), (ra @ x[..., None])[..., 0], atol=1e-13, rtol=0)
    torch.testing.assert_close(t.reflect(x), x @ flip.t())


def test_irrep_conventions():
    """The reflection acts as diag(1, -1) on every pair and as -1 on the sign irrep; the
    defining representation is R(a) F^s, and its products follow (a, s)(b, t) = (a + (-1)^s b, s ^ t)."""
    t = O2FieldType("1x0 + 1x0- + 1x2")
    assert t.rho(0.0, True).diagonal().tolist() == [1.0, -1.0, 1.0, -1.0]
    assert t.rho(0.3, False)[1, 1].item() == pytest.approx(1.0)
    m = o2_matrix(torch.tensor(0.4, dtype=torch.float64), True)
    c, s = math.cos(0.4), math.sin(0.4)
    torch.testing.assert_close(m, torch.tensor([[c, s], [s, -c]], dtype=torch.float64))
    a, r = o2_compose(torch.tensor(0.4), torch.tensor(True), torch.tensor(0.1), torch.tensor(False))
    assert a.item() == pytest.approx(0.3) and r.item() is True


def test_pairs_are_complex_conjugated_by_the_reflection():
    """On w = f0 + i f1 of order n, (a, True) maps w to exp(i n a) conj(w)."""
    t = O2FieldType("1x3")
    f = torch.tensor([0.7, -1.2], dtype=torch.float64)
    out = t.transform(f, torch.tensor(0.5, dtype=torch.float64), True)
    w = complex(0.7, 1.2) * complex(math.cos(1.5), math.sin(1.5))
    assert out.tolist() == pytest.approx([w.real, w.imag])


def test_check_refuses_wrong_width():
    with pytest.raises(ValueError, match="O\\(2\\) type"):
        O2FieldType("1x1").transform(torch.zeros(3), 0.0)

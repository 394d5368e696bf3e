"""ConvTerms: the one order of GemConv's stacked terms, read by the kernel, the operators and
the fused function alike. Any valid order gives the same layer; layouts the fused function
would misread, and operators stacked in another order than the layer's, are refused."""

import copy
import dataclasses
import random

import pytest
import torch

from gaugemesh.nn import ConvOperators, ConvTerms, GemConv
from gaugemesh.nn.conv_function import ConvPlan, GemConvFunction
from gaugemesh.so2 import FieldType
from gaugemesh.testing import random_mesh_data, randomize_parameters
from tests.nn.test_conv import slow_reference

PAIRS = [("2x0 + 3x1 + 2x2", "3x0 + 2x1 + 1x2"), ("1x1 + 2x0 + 1x3", "2x2 + 1x0 + 2x1")]


def single_term(geometry: ConvOperators, order: int, k: int, r: int) -> torch.Tensor:
    """The operator of one term (k, r), ``[V, rows, V cols]``: ``w^r exp(i (k theta + n g))`` at
    (i, re/im) x j for order 0 and at i x (j, re/im) above (as tests/nn/test_conv_operators.py's
    loop, vectorised)."""
    v, (j, i) = geometry.num_nodes, geometry.edge_index
    phase = k * geometry.theta + order * geometry.transport
    s = geometry.edge_weight[:, r, None] * torch.stack([torch.cos(phase), torch.sin(phase)], -1)
    out = torch.zeros(v, v, 2, dtype=s.dtype).index_put_((i, j), s, accumulate=True)  # [i, j, re/im]
    return out.permute(0, 2, 1) if order == 0 else out.reshape(v, 1, 2 * v)


def shuffled_keys(terms: ConvTerms, seed: int) -> list[tuple[int, int, int, int]]:
    """Another valid order: the runs of each (n, m) shuffled among all input orders, and the
    terms inside each run shuffled (radial weights and the conjugate term included)."""
    rng = random.Random(seed)
    runs = [[t.key for t in group] for n in terms.in_type.orders for group in terms.groups(n)]
    for run in runs:
        rng.shuffle(run)
    rng.shuffle(runs)
    return [key for run in runs for key in run]


def rearranged(conv: GemConv, seed: int) -> GemConv:
    """A copy of ``conv``, same parameters, with its terms in a shuffled order."""
    twin = copy.deepcopy(conv)
    terms = conv.neighbour.terms
    twin.neighbour.terms = ConvTerms.arrange(terms.in_type, terms.out_type, terms.num_radial, shuffled_keys(terms, seed))
    twin._plan_terms()
    return twin


def test_the_canonical_order():
    """By input order, output order, frequency (plain before conjugate), radial weight; rows and
    offsets follow one another."""
    terms = ConvTerms.build(FieldType("1x0 + 2x1"), FieldType("1x0 + 1x2"), 2)
    assert [t.key for t in terms.terms] == [
        (0, 0, 0, 0), (0, 0, 0, 1), (0, 2, 2, 0), (0, 2, 2, 1),
        (1, 0, -1, 0), (1, 0, -1, 1), (1, 2, 1, 0), (1, 2, 1, 1), (1, 2, -3, 0), (1, 2, -3, 1),
    ]  # fmt: skip
    assert [t.conjugate for t in terms.terms] == [False] * 8 + [True] * 2
    assert [t.row for t in terms.terms] == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5]
    assert [(t.rows, t.cols) for t in terms.terms] == [(2, 1)] * 2 + [(2, 2)] * 2 + [(4, 1)] * 2 + [(4, 2)] * 4
    assert [t.offset for t in terms.terms] == [0, 2, 4, 8, 12, 16, 20, 28, 36, 44]
    assert terms.weight_size == 52
    assert [(s.order, s.frequencies, s.radials, s.group_sizes) for s in terms.operators] == [
        (0, (0, 0, 2, 2), (0, 1, 0, 1), (2, 2)),
        (1, (-1, -1, 1, 1, -3, -3), (0, 1, 0, 1, 0, 1), (2, 4)),
    ]


@pytest.mark.parametrize("in_spec,out_spec", PAIRS)
@pytest.mark.parametrize("seed", [None, 0, 1])
def test_kernel_operators_and_plan_read_the_same_terms(in_spec, out_spec, seed):
    """For every term, in the canonical and in shuffled orders: its block of the flat weight is
    the kernel's matrix of that term, its stacked row of the operator is the dense operator of
    its (k, r), and the fused function's block reads exactly that row and that block."""
    data = random_mesh_data(0, dtype=torch.float64, seed=5)
    conv = randomize_parameters(GemConv(in_spec, out_spec, num_radial=2).double())
    conv = conv if seed is None else rearranged(conv, seed)
    terms = conv.neighbour.terms
    geometry = ConvOperators(data.edge_index, data.theta, data.transport, torch.rand(data.theta.numel(), 2, dtype=torch.float64))
    operators = geometry.edge_operators(terms.operators, torch.float64, "cpu")
    weight = conv.weight().detach()
    v = data.num_nodes
    for term in terms.terms:
        block = weight[term.offset : term.offset + term.size]
        torch.testing.assert_close(block, conv.neighbour.term_weight(term).detach().flatten(), rtol=0, atol=0)
        # the operator's rows of term q: (i, q) for n >= 1, (i, q, re/im) for n = 0
        per_vertex = 2 if term.in_order == 0 else 1
        q = operators[term.in_order].terms
        stacked = operators[term.in_order].matrix.to_dense().view(v, q, per_vertex, -1)[:, term.row]
        expected = single_term(geometry, term.in_order, term.frequency, term.radial)
        torch.testing.assert_close(stacked, expected, rtol=0, atol=1e-15)
    for n in terms.in_type.orders:
        for group, block in zip(terms.groups(n), conv.plan.groups[n]):
            assert block.out_order == group[0].out_order
            assert (block.offset, block.start) == (group[0].offset, group[0].row * group[0].rows)
            assert block.rows * block.cols == sum(t.size for t in group)
    assert conv.plan.weight_size == terms.weight_size + sum(b.rows * b.cols for b in conv.plan.self_blocks.values())


@pytest.mark.parametrize("in_spec,out_spec", PAIRS)
def test_any_valid_order_gives_the_same_layer(in_spec, out_spec):
    """Output and gradients do not depend on the order: each side follows the one list."""
    data = random_mesh_data(0, dtype=torch.float64, seed=3)
    conv = randomize_parameters(GemConv(in_spec, out_spec, num_radial=2).double())
    twin = rearranged(conv, seed=0)
    assert [t.key for t in twin.neighbour.terms.terms] != [t.key for t in conv.neighbour.terms.terms]
    w = torch.rand(data.theta.numel(), 2, dtype=torch.float64)
    x = torch.randn(data.num_nodes, conv.in_type.dim, dtype=torch.float64)
    results = []
    for layer in (conv, twin):
        x_in = x.clone().requires_grad_()
        out = layer(x_in, data.edge_index, data.theta, data.transport, w)
        out.backward(torch.cos(torch.arange(out.numel(), dtype=torch.float64)).view_as(out))
        results.append([out.detach(), x_in.grad] + [p.grad for p in layer.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(results[0][0], slow_reference(conv, x, data.edge_index, data.theta, data.transport, w))


def test_operators_stacked_in_another_order_are_refused(monkeypatch):
    """A plan and operators that disagree on the order are caught at the call; unchecked, they
    would give a wrong result, so the check is what stands between them."""
    data = random_mesh_data(0, dtype=torch.float64, seed=3)
    conv = randomize_parameters(GemConv("2x0 + 2x1 + 1x2", "1x0 + 2x1 + 1x2").double())
    twin = rearranged(conv, seed=1)
    geometry = ConvOperators.from_data(data)
    x = torch.randn(data.num_nodes, conv.in_type.dim, dtype=torch.float64)
    canonical = geometry.edge_operators(conv.neighbour.terms.operators, torch.float64, "cpu")
    args = (x, twin.weight(), twin.self_interaction.bias, twin.plan, canonical)
    with pytest.raises(ValueError, match="stacks"):
        GemConvFunction.apply(*args)
    monkeypatch.setattr(ConvPlan, "check", lambda self, operators: None)
    wrong = GemConvFunction.apply(*args)
    assert not torch.allclose(wrong, conv(x, operators=geometry))


def test_layouts_the_fused_function_would_misread_are_refused():
    terms = ConvTerms.build(FieldType("1x0 + 1x1"), FieldType("1x0 + 1x1"), 2)
    swapped = list(terms.terms)
    swapped[0], swapped[1] = swapped[1], swapped[0]  # the order changed, rows and offsets not
    with pytest.raises(ValueError, match="out of place"):
        dataclasses.replace(terms, terms=tuple(swapped))
    with pytest.raises(ValueError, match="once"):
        dataclasses.replace(terms, terms=terms.terms[:-1])
    keys = [t.key for t in terms.terms]
    split = [keys[0], keys[2], keys[1]] + keys[3:]  # (0, 0) interrupted by (0, 1)
    with pytest.raises(ValueError, match="consecutive"):
        ConvTerms.arrange(terms.in_type, terms.out_type, 2, split)
    with pytest.raises(ValueError, match="once"):
        ConvTerms.arrange(terms.in_type, terms.out_type, 2, keys[:1] + keys)

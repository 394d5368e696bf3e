"""The neighbour kernel on its own, for every pair of irreps: the gauge constraint at random
angles, its closed form, and that every W is reachable (so it is not the zero solution)."""

import itertools

import pytest
import torch
from torch import nn

from gaugemesh.nn import NeighbourKernel
from gaugemesh.so2 import FieldType
from gaugemesh.testing import random_gauge, randomize_parameters

ORDERS = range(4)


class KernelAtZero(nn.Module):
    """``K(0)`` of every radial weight, flat, as a module's output (for functional_call)."""

    def __init__(self, kernel: NeighbourKernel):
        super().__init__()
        self.kernel = kernel

    def forward(self) -> torch.Tensor:
        return self.kernel.kernel(torch.zeros((), dtype=torch.float64)).flatten()


@pytest.mark.parametrize("n,m", list(itertools.product(ORDERS, ORDERS)))
def test_kernel_constraint_for_every_pair_of_irreps(n, m):
    """K(theta - phi_i, g - phi_i + phi_j) = rho_m(-phi_i) K(theta, g) rho_n(phi_j): a gauge
    change at the target and at the source, transport included."""
    kernel = randomize_parameters(NeighbourKernel(FieldType(f"2x{n}"), FieldType(f"2x{m}"), num_radial=2).double())
    g = torch.Generator().manual_seed(10 * n + m)
    theta, transport, phi_i, phi_j = random_gauge(4 * 8, g).view(4, 8).unbind()
    rho_in, rho_out = kernel.in_type.rho, kernel.out_type.rho
    lhs = kernel.kernel(theta - phi_i, transport - phi_i + phi_j)
    rhs = rho_out(-phi_i)[:, None] @ kernel.kernel(theta, transport) @ rho_in(phi_j)[:, None]
    assert lhs.abs().max() > 0.1  # not the zero solution
    torch.testing.assert_close(lhs, rhs, atol=1e-12, rtol=0)
    # the closed form rho_m(theta) W rho_n(g - theta), W = K(0, 0)
    w = kernel.kernel(torch.zeros((), dtype=torch.float64))
    closed = rho_out(theta)[:, None] @ w @ rho_in(transport - theta)[:, None]
    torch.testing.assert_close(kernel.kernel(theta, transport), closed, atol=1e-12, rtol=0)


@pytest.mark.parametrize("n,m", list(itertools.product(ORDERS, ORDERS)))
def test_every_w_is_reachable_for_every_pair_of_irreps(n, m):
    """The parameters span every real W = K(0) of each radial weight, and no more: exactly as
    many parameters as entries of W (the general solution of the constraint, not a subspace)."""
    at_zero = KernelAtZero(NeighbourKernel(FieldType(f"1x{n}"), FieldType(f"1x{m}"), num_radial=2).double())
    names, params = zip(*at_zero.named_parameters())
    flat = torch.cat([p.detach().flatten() for p in params])

    def w_of(v):
        state = {name: part.view_as(p) for name, part, p in zip(names, v.split([p.numel() for p in params]), params)}
        return torch.func.functional_call(at_zero, state, ())

    jac = torch.autograd.functional.jacobian(w_of, flat)
    entries = 2 * at_zero.kernel.out_type.dim * at_zero.kernel.in_type.dim
    assert flat.numel() == entries
    assert torch.linalg.matrix_rank(jac) == entries

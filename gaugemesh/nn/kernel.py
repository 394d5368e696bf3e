"""The general gauge-equivariant neighbour kernel, in the factorised form GemConv uses.

The neighbour kernel ``K(theta) = rho_out(theta) W rho_in(-theta)`` (CONVENTIONS.md), with
transport ``g``, sends ``f_j`` to ``rho_out(theta) W rho_in(g - theta) f_j``. Write the real
block of ``W`` from an input field of order ``n`` to an output field of order ``m`` in
complex form, on ``u = exp(i n g) w_j`` (the input, transported):

- ``n, m >= 1``: ``z -> c z + d conj(z)`` (4 real numbers), so the message is
  ``c exp(i (m - n) theta) u + d exp(i (m + n) theta) conj(u)``;
- ``n = 0, m >= 1``: ``c exp(i m theta) u`` (``u`` real; 2 real numbers);
- ``n >= 1, m = 0``: ``Re(a exp(-i n theta) u)`` (2 real numbers);
- ``n = m = 0``: ``W u`` (1 real number).

Since ``exp(i (m + n) theta) conj(u) = conj(exp(-i (m + n) theta) u)``, every term is a fixed
real-linear function of ``B_k = sum_j w_ij exp(i k theta_ij) u_j`` for the few relative
frequencies ``k`` of :func:`~gaugemesh.nn.conv_terms.neighbour_frequencies`. So
:class:`GemConv` aggregates ``B_k`` (sparse, cheap) and applies one small dense matrix per
:class:`~gaugemesh.nn.conv_terms.Term`, that is per input order, frequency and radial
weight. Each frequency serves exactly one output order (``m - n`` and ``-(m + n)`` never
coincide for different ``m``), so no structural zeros are multiplied. Every ``W`` is reachable, so this is the general solution of the gauge
constraint, not a subspace of it.

Layout of ``B_k`` (see :mod:`gaugemesh.nn.conv_operators`): ``[V, 2 C]``, ``(c, re/im)`` for input
order ``n >= 1`` and ``(re/im, c)`` for ``n = 0``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gaugemesh.nn.conv_terms import ConvTerms, Term
from gaugemesh.so2 import FieldType, complex_matrix

__all__ = ["NeighbourKernel"]


class NeighbourKernel(nn.Module):
    """Learnable ``W`` of the neighbour kernel, one set per radial basis function.

    :attr:`terms` (:class:`~gaugemesh.nn.conv_terms.ConvTerms`) lists the aggregates GemConv
    forms and where each one's block lies in the flat weight; :meth:`term_weight` is the dense
    matrix applied to each. The sparse operators are built from the same list.

    Args:
        in_type: Input feature type.
        out_type: Output feature type.
        num_radial: ``R``, number of radial weights per edge (``1``: no radial profile).
        gain: Variance of ``W x`` relative to ``x`` at initialisation, for inputs that are
            equal on neighbouring vertices.
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, num_radial: int = 1, gain: float = 1.0):
        super().__init__()
        self.in_type, self.out_type, self.num_radial = in_type, out_type, num_radial
        self.terms = ConvTerms.build(in_type, out_type, num_radial)
        self.weights = nn.ParameterDict()
        self._init_std: dict[str, float] = {}
        fan_in = max(in_type.dim * num_radial, 1)
        for n in in_type.orders:
            for m in out_type.orders:
                parts = 1 if n == m == 0 else 2 if n == 0 or m == 0 else 4
                shape = (num_radial, out_type.multiplicity(m), in_type.multiplicity(n), parts)
                # Entries of W get variance gain / fan_in: c and d add up in W when both present.
                std = math.sqrt(gain / fan_in / (2 if parts == 4 else 1))
                self._init_std[f"{n}_{m}"] = std
                self.weights[f"{n}_{m}"] = nn.Parameter(torch.randn(shape) * std)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw the weights again, as at construction."""
        for name, weight in self.weights.items():
            weight.normal_(0.0, self._init_std[name])

    def term_weight(self, term: Term, weights: dict[str, Tensor] | None = None) -> Tensor:
        """The dense ``[2 C_n, C_m d_m]`` that maps the aggregate of ``term`` to output order ``m``.

        ``weights`` replaces the parameters (same names and shapes); every entry of the
        result is one parameter, its negative, or zero.
        """
        n, m = term.in_order, term.out_order
        p = (self.weights if weights is None else weights)[f"{n}_{m}"][term.radial]  # [C_out, C_in, parts]
        if n == 0 and m == 0:  # real W on Re(B_0); Im(B_0) = 0 (real input), its rows stay zero
            return torch.cat([p[..., 0].t(), torch.zeros_like(p[..., 0].t())], 0)
        if m == 0:  # Re(a B_{-n}) with a free real row (a_re, -a_im), rows (c, re/im)
            return torch.stack([p[..., 0].t(), p[..., 1].t()], 1).flatten(0, 1)
        first = 2 if term.conjugate else 0
        block = complex_matrix(p[..., first], p[..., first + 1], term.conjugate)  # [C_in, 2, C_out, 2]
        if n == 0:  # rows (re/im, c)
            block = block.transpose(0, 1)
        return block.flatten(2).flatten(0, 1)

    def kernel(self, theta: Tensor, transport: Tensor | None = None) -> Tensor:
        """The effective kernel: ``message = sum_r w^r K_r(theta, g) f_j``.

        Built from :meth:`term_weight` and the rotation each aggregate applies to a single
        neighbour, independently of the sparse operators (the tests compare the two).

        Args:
            theta: ``[...]`` angles.
            transport: ``[...]`` transport angles ``g`` (default 0).

        Returns:
            ``[..., R, dim_out, dim_in]``; for ``g = 0`` equal to ``rho_out(theta) W_r rho_in(-theta)``.
        """
        transport = torch.zeros_like(theta) if transport is None else transport
        out = theta.new_zeros(*theta.shape, self.num_radial, self.out_type.dim, self.in_type.dim)
        for term in self.terms.terms:
            n, m = term.in_order, term.out_order
            phase = term.frequency * theta + n * transport
            c, s = torch.cos(phase), torch.sin(phase)
            eye = torch.eye(self.in_type.multiplicity(n), dtype=theta.dtype, device=theta.device)
            if n == 0:  # aggregate (re/im, c) of a real input c: [..., 2C, C]
                spread = (torch.stack([c, s], -1)[..., :, None, None] * eye).flatten(-3, -2)
            else:  # channel-wise rotation by the phase, (c, re/im) on both sides: [..., 2C, 2C]
                rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # [..., 2, 2]
                spread = (eye[:, None, :, None] * rot[..., None, :, None, :]).flatten(-4, -3).flatten(-2)
            contribution = self.term_weight(term).to(theta.dtype).t() @ spread  # [..., C_m d_m, C_n d_n]
            rows = self.out_type.indices(m, theta.device)[:, None]
            cols = self.in_type.indices(n, theta.device)[None, :]
            out[..., term.radial, rows, cols] += contribution
        return out

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
linear function of ``B_k = sum_j w_ij exp(i k theta_ij) u_j`` for the few relative frequencies
``k`` in :func:`neighbour_frequencies`. So :class:`GemConv` aggregates ``B_k`` (sparse, cheap)
and then applies small dense matrices once per vertex. Each frequency serves exactly one
output order (``m - n`` and ``-(m + n)`` never coincide for different ``m``), so the
frequencies are listed grouped by output order and each ``(n, m)`` pair is one dense block
(:meth:`NeighbourKernel.block`) on a contiguous slice of the aggregates, with no structural
zeros multiplied. Every ``W`` is reachable, so this is the general solution of the gauge
constraint, not a subspace of it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gaugemesh.so2 import FieldType

__all__ = ["NeighbourKernel", "neighbour_frequencies"]


def neighbour_frequencies(in_order: int, out_orders) -> dict[int, tuple[int, ...]]:
    """The relative frequencies ``k`` that ``B_k`` of one input order is needed at, per output order."""
    out = {}
    for m in sorted(set(out_orders)):
        if in_order == 0:
            out[m] = (m,)  # u is real: B_{-m} = conj(B_m)
        elif m == 0:
            out[m] = (-in_order,)
        else:
            out[m] = (m - in_order, -(m + in_order))
    return out


def _complex_block(re: Tensor, im: Tensor) -> Tensor:
    """``z -> (re + i im) z`` as ``[R, 2 (in re/im), C_in, C_out, 2 (out re/im)]`` from ``[R, C_out, C_in]``."""
    re, im = re.transpose(1, 2), im.transpose(1, 2)
    return torch.stack([torch.stack([re, im], -1), torch.stack([-im, re], -1)], 1)


def _conj_block(re: Tensor, im: Tensor) -> Tensor:
    """``z -> (re + i im) conj(z)``, laid out as :func:`_complex_block`."""
    re, im = re.transpose(1, 2), im.transpose(1, 2)
    return torch.stack([torch.stack([re, im], -1), torch.stack([im, -re], -1)], 1)


class NeighbourKernel(nn.Module):
    """Learnable ``W`` of the neighbour kernel, one set per radial basis function.

    The aggregates of input order ``n`` are laid out ``[K, R, re/im, C_n]`` with the
    frequencies in the order of :attr:`frequency_list`; :meth:`slice` says which columns
    serve output order ``m`` and :meth:`block` gives the dense matrix applied to them.

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
        self.frequencies = {n: neighbour_frequencies(n, out_type.orders) for n in in_type.orders}
        self.frequency_list = {n: tuple(k for ks in f.values() for k in ks) for n, f in self.frequencies.items()}
        self.weights = nn.ParameterDict()
        fan_in = max(in_type.dim * num_radial, 1)
        for n in in_type.orders:
            for m in out_type.orders:
                parts = 1 if n == m == 0 else 2 if n == 0 or m == 0 else 4
                shape = (num_radial, out_type.multiplicity(m), in_type.multiplicity(n), parts)
                # Entries of W get variance gain / fan_in: c and d add up in W when both present.
                std = math.sqrt(gain / fan_in / (2 if parts == 4 else 1))
                self.weights[f"{n}_{m}"] = nn.Parameter(torch.randn(shape) * std)

    def num_aggregates(self, order: int) -> int:
        """Columns of the aggregates of input ``order``: ``K R 2 C``."""
        return len(self.frequency_list[order]) * self.num_radial * 2 * self.in_type.multiplicity(order)

    def slice(self, n: int, m: int) -> slice:
        """The columns of the aggregates of input order ``n`` that output order ``m`` reads."""
        per_frequency = self.num_radial * 2 * self.in_type.multiplicity(n)
        start = 0
        for mm, ks in self.frequencies[n].items():
            if mm == m:
                return slice(start * per_frequency, (start + len(ks)) * per_frequency)
            start += len(ks)
        raise KeyError(f"output order {m} not in {self.out_type}")

    def block(self, n: int, m: int) -> Tensor:
        """Dense ``[len(slice(n, m)), C_m d_m]`` from the aggregates of order ``n`` to output order ``m``."""
        p = self.weights[f"{n}_{m}"]
        if n == 0 and m == 0:  # real W on Re(B_0); the rows of Im(B_0) = 0 (real input) stay zero
            w = p[..., 0].transpose(1, 2)  # [R, C_in, C_out]
            return torch.stack([w, torch.zeros_like(w)], 1).flatten(0, 2)
        if m == 0:  # Re(a B_{-n}) with a free real row (a_re, -a_im)
            return p.permute(0, 3, 2, 1).flatten(0, 2)
        blocks = [_complex_block(p[..., 0], p[..., 1])]  # c B_{m-n} (n = 0: c B_m)
        if n > 0:
            blocks.append(_conj_block(p[..., 2], p[..., 3]))  # d conj(B_{-(m+n)})
        return torch.stack(blocks).flatten(-2).flatten(0, 3)  # [(K, R, re/im, C_in), C_out * 2]

    def matrix(self) -> Tensor:
        """The blocks assembled: ``[sum_n num_aggregates(n), dim_out]`` (for tests and inspection)."""
        ref = next(iter(self.weights.values()))
        rows = []
        for n in self.in_type.orders:
            rows_n = ref.new_zeros(self.num_aggregates(n), self.out_type.dim)
            for m in self.out_type.orders:
                rows_n[self.slice(n, m), self.out_type.indices(m, ref.device)] = self.block(n, m)
            rows.append(rows_n)
        return torch.cat(rows, 0)

    def kernel(self, theta: Tensor, transport: Tensor | None = None) -> Tensor:
        """The effective kernel: ``message = sum_r w^r K_r(theta, g) f_j``.

        Args:
            theta: ``[...]`` angles.
            transport: ``[...]`` transport angles ``g`` (default 0).

        Returns:
            ``[..., R, dim_out, dim_in]``; for ``g = 0`` equal to ``rho_out(theta) W_r rho_in(-theta)``.
        """
        transport = torch.zeros_like(theta) if transport is None else transport
        r, d_in = self.num_radial, self.in_type.dim
        columns = []  # aggregates of every input basis vector, in the order of matrix()
        eye = torch.eye(d_in, dtype=theta.dtype, device=theta.device)
        for n in self.in_type.orders:
            k = torch.tensor(self.frequency_list[n], dtype=theta.dtype, device=theta.device)
            phase = k * theta[..., None] + n * transport[..., None]  # [..., K]
            e = eye[:, self.in_type.indices(n, theta.device)]  # [d_in, C_n * d_n] unit inputs
            z = e if n == 0 else torch.complex(e[:, 0::2], e[:, 1::2])  # as complex, [d_in, C]
            b = torch.polar(torch.ones_like(phase), phase)[..., None, :, None] * z[:, None, :]  # B_k, [..., d_in, K, C]
            b = torch.stack([b.real, b.imag], -2)  # [..., d_in, K, re/im, C]
            radial = torch.eye(r, dtype=theta.dtype, device=theta.device)[:, None, None, :, None, None]
            # [..., R, d_in, K, R, re/im, C]: each radial weight r switched on alone.
            columns.append((radial * b.unsqueeze(-3).unsqueeze(-6)).flatten(-4))
        agg = torch.cat(columns, -1)  # [..., R, d_in, num_aggregates]
        return (agg @ self.matrix().to(theta.dtype)).transpose(-1, -2)

"""Equivariant linear map (self-interaction, 1x1 convolution) between feature types."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gaugemesh.so2 import FieldType, complex_matrix

__all__ = ["Linear"]


class Linear(nn.Module):
    """Per-vertex linear map that commutes with every ``rho(a)``: ``f'_i = K f_i + b``.

    ``K`` maps order-0 fields to order-0 fields by any real matrix and order-``n`` fields
    to order-``n`` fields by a complex matrix (``z -> c z``); orders never mix, because only
    such maps commute with the rotations. The bias ``b`` lives on order-0 outputs only: a
    constant on a higher order field would pick a direction, which depends on the gauge.

    Args:
        in_type: Input feature type.
        out_type: Output feature type.
        bias: Learn a bias on the order-0 outputs.
        gain: Output variance relative to input variance at initialisation.

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, out_type.dim]``
    """

    def __init__(self, in_type: FieldType | str, out_type: FieldType | str, bias: bool = True, gain: float = 1.0):
        super().__init__()
        self.in_type, self.out_type = FieldType(in_type), FieldType(out_type)
        self.orders = tuple(n for n in self.in_type.orders if n in self.out_type.orders)
        self.weights = nn.ParameterDict()
        self._init_std: dict[str, float] = {}
        for n in self.orders:
            c_in, c_out = self.in_type.multiplicity(n), self.out_type.multiplicity(n)
            std = math.sqrt(gain / (c_in * (1 if n == 0 else 2)))
            shape = (c_out, c_in) if n == 0 else (c_out, c_in, 2)
            self._init_std[str(n)] = std
            self.weights[str(n)] = nn.Parameter(torch.randn(shape) * std)
        has_bias = bias and 0 in self.out_type.orders
        self.bias = nn.Parameter(torch.zeros(self.out_type.multiplicity(0))) if has_bias else None
        self.register_buffer("_scalar_index", self.out_type.indices(0), persistent=False)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw the weights again and zero the bias, as at construction."""
        for name, weight in self.weights.items():
            weight.normal_(0.0, self._init_std[name])
        if self.bias is not None:
            self.bias.zero_()

    def order_block(self, n: int, weights: dict[str, Tensor] | None = None) -> Tensor:
        """``K`` restricted to order ``n``: ``[C_in d_n, C_out d_n]``. ``weights`` replaces the
        parameters (same names and shapes); every entry is one parameter or its negative."""
        w = (self.weights if weights is None else weights)[str(n)]
        if n == 0:
            return w.t()
        return complex_matrix(w[..., 0], w[..., 1]).flatten(2).flatten(0, 1)  # z -> (re + i im) z

    def matrix(self) -> Tensor:
        """``K`` as a real matrix ``[dim_in, dim_out]`` (so that ``f' = f @ K``)."""
        out = torch.zeros(self.in_type.dim, self.out_type.dim, device=self._scalar_index.device)
        blocks = {n: self.order_block(n) for n in self.orders}
        if blocks:
            out = out.to(next(iter(blocks.values())).dtype)
        for n, block in blocks.items():
            out[self.in_type.indices(n, out.device)[:, None], self.out_type.indices(n, out.device)[None, :]] = block
        return out

    def bias_vector(self) -> Tensor | None:
        """The bias as a full ``[dim_out]`` vector (zero on higher orders), or ``None``."""
        if self.bias is None:
            return None
        return self.bias.new_zeros(self.out_type.dim).index_copy(0, self._scalar_index, self.bias)

    def forward_orders(self, parts: dict[int, Tensor]) -> dict[int, Tensor | None]:
        """The output per order from the input per order (:meth:`FieldType.split`); ``None``
        for an output order that nothing reaches. Orders never mix, so no zeros are multiplied."""
        out: dict[int, Tensor | None] = {}
        ref = next(iter(parts.values()))
        for m in self.out_type.orders:
            if m in self.orders:
                weight = self.order_block(m).to(ref.dtype)
                if m == 0 and self.bias is not None:
                    out[m] = torch.addmm(self.bias.to(ref.dtype), parts[m], weight)
                else:
                    out[m] = parts[m] @ weight
            elif m == 0 and self.bias is not None:
                out[m] = self.bias.to(ref.dtype).expand(ref.size(0), -1)
            else:
                out[m] = None
        return out

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        out = self.forward_orders(self.in_type.split(x.reshape(-1, x.size(-1))))
        for m, value in out.items():
            if value is None:
                out[m] = x.new_zeros(x.shape[:-1].numel(), self.out_type.multiplicity(m) * (1 if m == 0 else 2))
        return self.out_type.join(out).view(*x.shape[:-1], -1)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, bias={self.bias is not None}"

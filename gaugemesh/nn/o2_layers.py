"""Per-vertex layers for O(2) feature types: a norm nonlinearity, batch norm, an invariant readout.

What changes from SO(2) is the sign irrep ``0-``: a pseudo-scalar changes sign under a
reflection of the frame, so it is treated like a vector field of dimension one, through its
absolute value: no pointwise ReLU (not odd), no mean subtracted, no bias added.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from gaugemesh.nn.precision import result_dtype, working_dtype
from gaugemesh.o2 import O2FieldType

__all__ = ["O2BatchNorm", "O2InvariantReadout", "O2NormNonlinearity"]


def _field_dims(field_type: O2FieldType) -> Tensor:
    return torch.tensor([float(r.dim) for r in field_type.irreps])


class O2NormNonlinearity(nn.Module):
    """``activation`` on the trivial scalars; every other field (``0-`` and orders ``n >= 1``) is
    scaled by ``activation(|f| - b) / |f|`` with a learned ``b`` per field. Exactly O(2)
    equivariant: the norm is invariant, and the scaling keeps a field's direction (an odd
    function of a pseudo-scalar).

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, in_type.dim]``
    """

    def __init__(self, in_type: O2FieldType | str, activation: Callable | None = None, bias: bool = True,
                 eps: float = 1e-6):
        super().__init__()
        self.in_type = self.out_type = O2FieldType(in_type)
        self.activation = nn.ReLU() if activation is None else activation
        self.eps = eps
        gated = self.in_type.field_mask(lambda r: r.order > 0 or r.odd)
        self.bias = nn.Parameter(torch.full((int(gated.sum()),), 0.1)) if bias and gated.any() else None
        self.register_buffer("_field", self.in_type.field_index(), persistent=False)
        self.register_buffer("_gate_of_field", (torch.cumsum(gated.long(), 0) - 1).clamp(min=0), persistent=False)
        self.register_buffer("_trivial", self.in_type.trivial_mask(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        norm = torch.sqrt(self.in_type.squared_norms(x.to(working_dtype(x))) + self.eps**2)
        shifted = norm if self.bias is None else norm - self.bias[self._gate_of_field]
        scale = (self.activation(shifted) / norm).to(x.dtype)[..., self._field]
        return torch.where(self._trivial, self.activation(x), x * scale)

    def extra_repr(self) -> str:
        return str(self.in_type)


class O2BatchNorm(nn.Module):
    """Batch norm over all vertices, per field, for O(2) types.

    Trivial scalars: mean, variance, affine weight and bias, as usual. Every other field
    (``0-`` and ``n >= 1``): divided by ``sqrt(E|f|^2 / d + eps)`` and scaled by a learned weight,
    with no mean and no bias (a mean of a pseudo-scalar or a vector depends on the gauge).

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, in_type.dim]``
    """

    def __init__(self, in_type: O2FieldType | str, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        self.in_type = self.out_type = O2FieldType(in_type)
        self.eps, self.momentum = eps, momentum
        num_fields = self.in_type.num_fields
        trivial_fields = self.in_type.field_mask(lambda r: r.order == 0 and not r.odd)
        self.weight = nn.Parameter(torch.ones(num_fields)) if affine else None
        self.bias = nn.Parameter(torch.zeros(int(trivial_fields.sum()))) if affine and trivial_fields.any() else None
        self.register_buffer("running_mean", torch.zeros(int(trivial_fields.sum())))
        self.register_buffer("running_var", torch.ones(num_fields))
        self.register_buffer("_field", self.in_type.field_index(), persistent=False)
        self.register_buffer("_dims", _field_dims(self.in_type), persistent=False)
        self.register_buffer("_trivial_field", torch.nonzero(trivial_fields).flatten(), persistent=False)
        self.register_buffer("_trivial_component", torch.nonzero(self.in_type.trivial_mask()).flatten(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        out_dtype, x = result_dtype(x), x.to(working_dtype(x))
        if self.training:
            if x.size(0) < 2:
                raise ValueError("O2BatchNorm in training mode needs more than one vertex.")
            mean = x[:, self._trivial_component].mean(0)
            centred = x.index_add(1, self._trivial_component, -mean.expand(x.size(0), -1))
            var = torch.zeros(self.in_type.num_fields, dtype=x.dtype, device=x.device).index_add(
                0, self._field, (centred * centred).mean(0)) / self._dims.to(x.dtype)
            with torch.no_grad():
                n = x.size(0)
                unbiased = var.detach().clone()
                unbiased[self._trivial_field] *= n / (n - 1)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), self.momentum)
        else:
            mean, var = self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
            centred = x.index_add(1, self._trivial_component, -mean.expand(x.size(0), -1))
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight.to(x.dtype)
        out = centred * scale[self._field]
        if self.bias is not None:
            out = out.index_add(1, self._trivial_component, self.bias.to(x.dtype).expand(x.size(0), -1))
        return out.to(out_dtype)

    def extra_repr(self) -> str:
        return f"{self.in_type}, eps={self.eps}, momentum={self.momentum}"


class O2InvariantReadout(nn.Module):
    """The O(2)-invariant part of a feature: the trivial scalars, then the norm of every other
    field (``sqrt(|f|^2 + eps^2)``; for a pseudo-scalar a smoothed ``|f|``).

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, out_type.dim]``, ``out_type`` trivial scalars only
    """

    def __init__(self, in_type: O2FieldType | str, eps: float = 1e-6):
        super().__init__()
        self.in_type, self.eps = O2FieldType(in_type), eps
        others = ~self.in_type.field_mask(lambda r: r.order == 0 and not r.odd)
        self.out_type = O2FieldType.scalars(self.in_type.num_fields)
        self.register_buffer("_trivial_component", torch.nonzero(self.in_type.trivial_mask()).flatten(), persistent=False)
        self.register_buffer("_other_field", torch.nonzero(others).flatten(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        wide = x.to(working_dtype(x))
        norms = (self.in_type.squared_norms(wide)[..., self._other_field] + self.eps**2).sqrt()
        return torch.cat([wide[..., self._trivial_component], norms], -1).to(result_dtype(x))

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}"

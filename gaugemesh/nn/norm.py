"""Gauge-equivariant batch normalisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaugemesh.so2 import FieldType

__all__ = ["BatchNorm"]


class BatchNorm(nn.Module):
    """Batch norm over all vertices of the batch, per field.

    Order-0 fields are normalised as usual (mean, variance, affine weight and bias). A field
    of order ``n >= 1`` is divided by the root of its mean squared norm per component,
    ``sqrt(E|f|^2 / 2 + eps)``, and scaled by a learned weight: no mean is subtracted and no
    bias added, because a mean or bias vector picks a direction, which depends on the gauge.
    All statistics are gauge invariant, so the layer is equivariant in train and eval mode.
    A PyG ``Batch`` is normalised over all its vertices, like ``torch_geometric.nn.BatchNorm``.

    Args:
        in_type: Feature type (the output type is the same).
        eps: Added to the variances.
        momentum: Weight of the batch in the running statistics.
        affine: Learn the scale (every field) and the shift (order-0 fields).

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, in_type.dim]``
    """

    def __init__(self, in_type: FieldType | str, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        self.in_type = self.out_type = FieldType(in_type)
        self.eps, self.momentum = eps, momentum
        num_fields, num_scalars = self.in_type.num_fields, self.in_type.multiplicity(0)
        self.weight = nn.Parameter(torch.ones(num_fields)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_scalars)) if affine and num_scalars else None
        self.register_buffer("running_mean", torch.zeros(num_scalars))
        self.register_buffer("running_var", torch.ones(num_fields))
        dims = torch.tensor([1.0 if n == 0 else 2.0 for n in self.in_type.irreps])
        self.register_buffer("_field_dim", dims, persistent=False)
        self.register_buffer("_field", self.in_type.field_index(), persistent=False)
        self.register_buffer("_scalar_index", self.in_type.indices(0), persistent=False)
        self.register_buffer("_scalar_field", torch.nonzero(dims == 1).flatten(), persistent=False)
        self.register_buffer("_scalar_component", self.in_type.scalar_mask().float(), persistent=False)

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean of the scalars ``[S]`` and variance per field ``[F]`` (higher orders: ``E|f|^2 / 2``)."""
        if not self.training:
            return self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
        if x.size(0) < 2 and self.in_type.multiplicity(0):
            raise ValueError("BatchNorm in training mode needs more than one vertex.")
        # Two reductions over the vertices (faster than var_mean here); the rest is per component.
        mean_c, square_c = x.mean(0), (x * x).mean(0)
        second = square_c - self._scalar_component.to(x.dtype) * mean_c * mean_c  # Var for scalars, E f^2 above
        var = second.new_zeros(self.in_type.num_fields).index_add(0, self._field, second)
        var = var / self._field_dim.to(x.dtype)
        mean = mean_c[self._scalar_index]
        with torch.no_grad():
            n = x.size(0)
            unbiased = var.detach().clone()
            unbiased[self._scalar_field] *= n / max(n - 1, 1)
            self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), self.momentum)
        return mean, var

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        mean, var = self._statistics(x)
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight.to(x.dtype)
        shift = -mean * scale[self._scalar_field]
        if self.bias is not None:
            shift = shift + self.bias.to(x.dtype)
        full_shift = x.new_zeros(self.in_type.dim).index_copy(0, self._scalar_index, shift)
        return torch.addcmul(full_shift, x, scale[self._field])

    def extra_repr(self) -> str:
        return f"{self.in_type}, eps={self.eps}, momentum={self.momentum}"

"""Gauge-invariant readout: scalars from a feature of any type."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaugemesh.nn.precision import result_dtype, working_dtype
from gaugemesh.so2 import FieldType

__all__ = ["InvariantReadout"]


class InvariantReadout(nn.Module):
    """Keep the gauge-invariant part of a feature.

    ``mode="scalars"`` keeps the order-0 fields; ``mode="norms"`` appends the norm of each
    field of order ``n >= 1`` (``sqrt(|f|^2 + eps^2)``, smooth at zero).

    Args:
        in_type: Input feature type.
        mode: ``"scalars"`` or ``"norms"``.
        eps: Smoothing of the norm.

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, out_type.dim]``, ``out_type`` all order 0
    """

    def __init__(self, in_type: FieldType | str, mode: str = "norms", eps: float = 1e-6):
        super().__init__()
        if mode not in ("scalars", "norms"):
            raise ValueError(f"mode must be 'scalars' or 'norms', got {mode!r}.")
        self.in_type, self.mode, self.eps = FieldType(in_type), mode, eps
        vector_fields = [k for k, n in enumerate(self.in_type.irreps) if n > 0]
        num_out = self.in_type.multiplicity(0) + (len(vector_fields) if mode == "norms" else 0)
        self.out_type = FieldType.scalars(num_out)
        scalar_index = self.in_type.indices(0)
        vector_index = torch.nonzero(self.in_type.component_orders() > 0).flatten()
        self.register_buffer("_scalar_index", scalar_index, persistent=False)
        self.register_buffer("_vector_index", vector_index, persistent=False)
        self._scalar_range, self._vector_range = _as_range(scalar_index), _as_range(vector_index)

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        scalars = x[..., self._scalar_range] if self._scalar_range else x[..., self._scalar_index]
        if self.mode == "scalars":
            return scalars
        vectors = x[..., self._vector_range] if self._vector_range else x[..., self._vector_index]
        pairs = vectors.unflatten(-1, (-1, 2))  # the fields of order >= 1, in layout order
        pairs = pairs.to(working_dtype(pairs))  # in float16, eps^2 underflows and |f|^2 overflows past 256
        norms = (pairs * pairs).sum(-1).add_(self.eps**2).sqrt_()
        return torch.cat([scalars.to(norms.dtype), norms], -1).to(result_dtype(x))

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, mode={self.mode!r}"


def _as_range(index: Tensor) -> slice | None:
    """The index as a slice when it is a contiguous range (a view instead of a gather)."""
    if index.numel() and int(index[-1] - index[0]) + 1 == index.numel():
        return slice(int(index[0]), int(index[-1]) + 1)
    return None

"""Field dropout: drops whole fields, so that it commutes with gauge changes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaugemesh.so2 import FieldType

__all__ = ["FieldDropout"]


class FieldDropout(nn.Module):
    """Zero each field (both components of an order ``n >= 1`` pair together) at each vertex
    with probability ``p`` in training mode, and scale the rest by ``1 / (1 - p)``.

    Dropping a single component of a pair would not commute with the rotation of the pair;
    dropping the whole field does. The identity in eval mode.

    Args:
        in_type: Feature type (the output type is the same).
        p: Drop probability.
        generator: Optional generator for the masks (default: torch's global RNG).

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, in_type.dim]``
    """

    def __init__(self, in_type: FieldType | str, p: float = 0.5, generator: torch.Generator | None = None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}.")
        self.in_type = self.out_type = FieldType(in_type)
        self.p, self.generator = p, generator
        self.register_buffer("_field", self.in_type.field_index(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        if not self.training or self.p == 0:
            return x
        shape = (*x.shape[:-1], self.in_type.num_fields)
        # generator=None spelled out breaks torch.compile's dynamic shapes (torch 2.13): pass it only when set.
        drawn = {} if self.generator is None else {"generator": self.generator}
        keep = torch.rand(shape, device=x.device, **drawn) >= self.p
        return x * (keep.to(x.dtype) / (1 - self.p))[..., self._field]

    def extra_repr(self) -> str:
        return f"{self.in_type}, p={self.p}"

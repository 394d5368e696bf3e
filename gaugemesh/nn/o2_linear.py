"""O2Linear: the per-vertex linear map between O(2) feature types (a residual shortcut, a 1x1
convolution).

It is the SO(2) :class:`~gaugemesh.nn.Linear` with its parameters masked to the maps that
also commute with the reflection, exactly as :class:`~gaugemesh.nn.o2_conv.O2GemConv` masks
its self-interaction (:func:`~gaugemesh.nn.o2_kernel.o2_parameter_masks`): ``0 -> 0`` and
``0- -> 0-`` any real matrix, ``0 <-> 0-`` nothing, order ``n -> n`` a real multiple (``z -> c z``
with ``c`` real), a bias on trivial outputs only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.func import functional_call

from gaugemesh.nn.linear import Linear
from gaugemesh.nn.o2_kernel import o2_parameter_masks
from gaugemesh.o2 import O2FieldType

__all__ = ["O2Linear"]


class O2Linear(nn.Module):
    """Per-vertex linear map that commutes with all of O(2): ``f'_i = K f_i + b``.

    Args:
        in_type, out_type: :class:`~gaugemesh.o2.O2FieldType` (or strings).
        bias: Learn a bias on the trivial (``0``) outputs.
        gain: Output variance relative to input variance at initialisation.

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, out_type.dim]``
    """

    def __init__(self, in_type: O2FieldType | str, out_type: O2FieldType | str, bias: bool = True, gain: float = 1.0):
        super().__init__()
        self.in_type, self.out_type = O2FieldType(in_type), O2FieldType(out_type)
        # named as GemConv's self term, whose masks o2_parameter_masks reads off by name
        self.self_interaction = Linear(self.in_type.so2, self.out_type.so2, bias=bias, gain=gain)
        self._mask_names = {}
        for k, (name, mask) in enumerate(o2_parameter_masks(self, self.in_type, self.out_type).items()):
            self.register_buffer(f"_mask{k}", mask, persistent=False)
            self._mask_names[name] = f"_mask{k}"
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The SO(2) initialisation, masked, the kept weights scaled to keep its variance."""
        self.self_interaction.reset_parameters()
        for name, p in self.self_interaction.named_parameters():
            mask = getattr(self, self._mask_names[f"self_interaction.{name}"])
            kept = float(mask.sum())
            p.mul_(mask * (math.sqrt(mask.numel() / kept) if kept and not name.endswith("bias") else 1.0))

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        masked = {name: p * getattr(self, self._mask_names[f"self_interaction.{name}"]).to(p.dtype)
                  for name, p in self.self_interaction.named_parameters()}
        return functional_call(self.self_interaction, masked, (x,))

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}"

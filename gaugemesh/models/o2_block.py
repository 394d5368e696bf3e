"""O(2) gauge-equivariant residual block: :class:`~gaugemesh.models.GemResBlock` built from the
O(2) layers."""

from __future__ import annotations

from torch import Tensor, nn

from gaugemesh.nn import FieldDropout
from gaugemesh.nn.o2_conv import O2ConvOperators, O2GemConv
from gaugemesh.nn.o2_layers import O2BatchNorm, O2NormNonlinearity
from gaugemesh.nn.o2_linear import O2Linear
from gaugemesh.o2 import O2FieldType

__all__ = ["O2GemResBlock"]


class O2GemResBlock(nn.Module):
    """``act(bn(conv(drop(act(bn(conv(x))))))) + shortcut(x)``, every step O(2) equivariant.

    The nonlinearity is :class:`~gaugemesh.nn.o2_layers.O2NormNonlinearity` (exactly
    equivariant: ReLU on trivial scalars, a gated norm on pseudo-scalars and vectors); the
    shortcut is the identity when the types agree, else an :class:`~gaugemesh.nn.o2_linear.O2Linear`.
    Field dropout drops whole fields, which commutes with rotations and reflections alike.

    Args:
        in_type: Input O(2) feature type.
        out_type: Output O(2) feature type.
        dropout: Field dropout probability between the two convolutions.
        batch_norm: Normalise after each convolution (:class:`~gaugemesh.nn.o2_layers.O2BatchNorm`).
        num_radial: Radial weights per edge (see :class:`~gaugemesh.nn.o2_conv.O2GemConv`).

    Shapes:
        - x: ``[V, in_type.dim]``
        - output: ``[V, out_type.dim]``
    """

    def __init__(self, in_type: O2FieldType | str, out_type: O2FieldType | str, dropout: float = 0.0,
                 batch_norm: bool = True, num_radial: int = 1):
        super().__init__()
        self.in_type, self.out_type = O2FieldType(in_type), O2FieldType(out_type)
        self.conv1 = O2GemConv(self.in_type, self.out_type, num_radial=num_radial)
        self.conv2 = O2GemConv(self.out_type, self.out_type, num_radial=num_radial)
        self.norm1 = O2BatchNorm(self.out_type) if batch_norm else nn.Identity()
        self.norm2 = O2BatchNorm(self.out_type) if batch_norm else nn.Identity()
        self.act1, self.act2 = O2NormNonlinearity(self.out_type), O2NormNonlinearity(self.out_type)
        # FieldDropout reads the SO(2) layout, whose fields are the O(2) ones
        self.dropout = FieldDropout(self.out_type.so2, dropout) if dropout > 0 else nn.Identity()
        same = self.in_type == self.out_type
        self.shortcut = nn.Identity() if same else O2Linear(self.in_type, self.out_type, bias=True)

    def forward(self, x: Tensor, operators: O2ConvOperators) -> Tensor:
        self.in_type.check(x)
        h = self.act1(self.norm1(self.conv1(x, operators=operators)))
        h = self.act2(self.norm2(self.conv2(self.dropout(h), operators=operators)))
        return h + self.shortcut(x)

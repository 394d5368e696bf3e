"""Gauge-equivariant residual block."""

from __future__ import annotations

from torch import Tensor, nn

from gaugemesh.nn import BatchNorm, ConvOperators, FieldDropout, GemConv, Linear, check_chain, make_nonlinearity
from gaugemesh.so2 import FieldType

__all__ = ["GemResBlock"]

class GemResBlock(nn.Module):
    """``act(bn(conv(drop(act(bn(conv(x))))))) + shortcut(x)``, every step equivariant.

    The shortcut is the identity when the types agree, else an equivariant
    :class:`~gaugemesh.nn.Linear` (bias on order-0 outputs only). A plain ``nn.Linear`` with a
    bias, as in the reference GEM-CNN block, adds a constant to the higher-order outputs and
    is not equivariant (see ``tests/models/test_block.py``).

    Args:
        in_type: Input feature type.
        out_type: Output feature type.
        nonlinearity: ``"regular"``, ``"norm"`` or ``"gated"``.
        dropout: Field dropout probability between the two convolutions.
        batch_norm: Normalise after each convolution.
        num_radial: Radial weights per edge (see :class:`~gaugemesh.nn.GemConv`).

    Shapes:
        - x: ``[V, in_type.dim]``
        - output: ``[V, out_type.dim]``
    """

    def __init__(
        self,
        in_type: FieldType | str,
        out_type: FieldType | str,
        nonlinearity: str = "regular",
        dropout: float = 0.0,
        batch_norm: bool = True,
        num_radial: int = 1,
    ):
        super().__init__()
        self.in_type, self.out_type = FieldType(in_type), FieldType(out_type)
        self.act1 = make_nonlinearity(nonlinearity, self.out_type)
        self.act2 = make_nonlinearity(nonlinearity, self.out_type)
        self.conv1 = GemConv(self.in_type, self.act1.in_type, num_radial=num_radial)
        self.conv2 = GemConv(self.out_type, self.act2.in_type, num_radial=num_radial)
        self.norm1 = BatchNorm(self.act1.in_type) if batch_norm else nn.Identity()
        self.norm2 = BatchNorm(self.act2.in_type) if batch_norm else nn.Identity()
        self.dropout = FieldDropout(self.out_type, dropout) if dropout > 0 else nn.Identity()
        same = self.in_type == self.out_type
        self.shortcut = nn.Identity() if same else Linear(self.in_type, self.out_type, bias=True)
        check_chain(self.conv1, self.norm1, self.act1, self.dropout, self.conv2, self.norm2, self.act2)

    def forward(self, x: Tensor, operators: ConvOperators, gauge: Tensor | None = None) -> Tensor:
        """``gauge`` ``[V]``: the frames the nonlinearities are evaluated in (see
        :class:`~gaugemesh.nn.RegularNonlinearity`); ``None`` for the mesh's own."""
        self.in_type.check(x)
        h = self.act1(self.norm1(self.conv1(x, operators=operators)), gauge)
        h = self.act2(self.norm2(self.conv2(self.dropout(h), operators=operators)), gauge)
        return h + self.shortcut(x)
